/**
 * Translation between store records and protobuf messages, in one place so every RPC
 * shows the same thing the same way (and never a secret).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ClusterMode,
  ClusterPhase,
  ClusterSchema,
  CredentialKind,
  IdentityMode,
  type Cluster,
  type ClusterCredential,
} from "../../gen/kubegate/v1/cluster_pb.ts";
import { GrantSchema, GrantState, Role, SubjectKind, type Grant, type Subject } from "../../gen/kubegate/v1/grant_pb.ts";
import { ApiKeySchema, type ApiKey } from "../../gen/kubegate/v1/identity_pb.ts";
import { ClusterRouteSchema, type ClusterRoute } from "../../gen/kubegate/v1/sync_pb.ts";
import { SigningKeySchema, type SigningKey } from "../../gen/kubegate/v1/token_pb.ts";
import { errors } from "../errors.ts";
import type {
  ApiKeyRecord,
  ClusterCredentialSecret,
  ClusterPhase as PhaseName,
  ClusterRecord,
  GrantRecord,
  GrantState as StateName,
  RoleName,
  SubjectKind as KindName,
} from "../store/types.ts";
import type { PublicSigningKey } from "../token/signer.ts";
import { grantStateFromProto, grantStateToProto } from "../grant-state.ts";

const ts = (d: Date | null): Timestamp | undefined => (d === null ? undefined : timestampFromDate(d));

export const phaseToProto: Record<PhaseName, ClusterPhase> = {
  READY: ClusterPhase.READY,
  OFFLINE: ClusterPhase.OFFLINE,
  UNKNOWN: ClusterPhase.UNKNOWN,
};

export const phaseFromProto = (p: ClusterPhase): PhaseName | undefined =>
  (Object.entries(phaseToProto) as [PhaseName, ClusterPhase][]).find(([, v]) => v === p)?.[0];

function credentialKind(rec: ClusterRecord): CredentialKind {
  if (rec.mode === "agent") return CredentialKind.AGENT;
  if (rec.credential?.kind === "bearer") return CredentialKind.BEARER_TOKEN;
  if (rec.credential?.kind === "client-certificate") return CredentialKind.CLIENT_CERTIFICATE;
  if (rec.credential?.kind === "front-proxy") return CredentialKind.FRONT_PROXY_CERTIFICATE;
  return CredentialKind.UNSPECIFIED;
}

const identityModeToProto = (rec: ClusterRecord): IdentityMode =>
  rec.identityMode === "front-proxy" ? IdentityMode.FRONT_PROXY : IdentityMode.IMPERSONATE;

/** The public view of a cluster: no credential, only its kind. */
export function clusterToProto(rec: ClusterRecord): Cluster {
  return create(ClusterSchema, {
    name: rec.name,
    displayName: rec.displayName,
    labels: rec.labels,
    mode: rec.mode === "direct" ? ClusterMode.DIRECT : ClusterMode.AGENT,
    serverUrl: rec.serverUrl,
    caPem: rec.caPem,
    credentialKind: credentialKind(rec),
    manageRbac: rec.manageRbac,
    identityMode: identityModeToProto(rec),
    status: {
      phase: phaseToProto[rec.status.phase],
      kubernetesVersion: rec.status.kubernetesVersion,
      agentVersion: rec.status.agentVersion,
      lastSeenTime: ts(rec.status.lastSeenAt),
      message: rec.status.message,
    },
    createTime: ts(rec.createdAt),
    updateTime: ts(rec.updatedAt),
  });
}

export function credentialToProto(c: ClusterCredentialSecret | null): ClusterCredential | undefined {
  if (c === null) return undefined;
  if (c.kind === "bearer") return { $typeName: "kubegate.v1.ClusterCredential", kind: { case: "bearerToken", value: c.token } };
  const value = { $typeName: "kubegate.v1.ClientCertificate" as const, certPem: c.certPem, keyPem: c.keyPem };
  return { $typeName: "kubegate.v1.ClusterCredential", kind: { case: c.kind === "front-proxy" ? "frontProxyCertificate" : "clientCertificate", value } };
}

/** What a data plane needs to reach the cluster, secret included (sync stream only). */
export function clusterToRoute(rec: ClusterRecord): ClusterRoute {
  return create(ClusterRouteSchema, {
    name: rec.name,
    mode: rec.mode === "direct" ? ClusterMode.DIRECT : ClusterMode.AGENT,
    serverUrl: rec.serverUrl,
    caPem: rec.caPem,
    credential: credentialToProto(rec.credential),
    phase: phaseToProto[rec.status.phase],
    agentCredentialHash: rec.agentCredentialHash ?? "",
    manageRbac: rec.manageRbac,
    identityMode: identityModeToProto(rec),
  });
}

export const roleToProto: Record<RoleName, Role> = {
  view: Role.VIEW,
  edit: Role.EDIT,
  admin: Role.ADMIN,
  "cluster-admin": Role.CLUSTER_ADMIN,
};

export function roleFromProto(r: Role): RoleName {
  const name = (Object.entries(roleToProto) as [RoleName, Role][]).find(([, v]) => v === r)?.[0];
  if (name === undefined) throw errors.invalid("role", "must be one of view, edit, admin, cluster-admin");
  return name;
}

/** undefined for UNSPECIFIED (no filter); an unknown number is the caller's error. */
export function stateFromProto(s: GrantState): StateName | undefined {
  if (s === GrantState.UNSPECIFIED) return undefined;
  const name = grantStateFromProto(s);
  if (name === undefined) throw errors.invalid("state", "unknown grant state");
  return name;
}

export function subjectKindFromProto(k: SubjectKind, field = "subject.kind"): KindName {
  if (k === SubjectKind.USER) return "user";
  if (k === SubjectKind.GROUP) return "group";
  throw errors.invalid(field, "must be USER or GROUP");
}

export function subjectToProto(kind: KindName, name: string): Subject {
  return { $typeName: "kubegate.v1.Subject", kind: kind === "user" ? SubjectKind.USER : SubjectKind.GROUP, name };
}

export function grantToProto(rec: GrantRecord): Grant {
  return create(GrantSchema, {
    id: rec.id,
    cluster: rec.cluster,
    subject: subjectToProto(rec.subjectKind, rec.subjectName),
    role: roleToProto[rec.role],
    namespaces: rec.namespaces,
    state: grantStateToProto(rec.state),
    stateMessage: rec.stateMessage,
    expireTime: ts(rec.expiresAt),
    createTime: ts(rec.createdAt),
    updateTime: ts(rec.updatedAt),
    createdBy: rec.createdBy,
  });
}

export function apiKeyToProto(rec: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    id: rec.id,
    name: rec.name,
    subject: rec.subject,
    groups: rec.groups,
    createTime: ts(rec.createdAt),
    expireTime: ts(rec.expiresAt),
    revokeTime: ts(rec.revokedAt),
    lastUsedTime: ts(rec.lastUsedAt),
    createdBy: rec.createdBy,
  });
}

export function signingKeyToProto(k: PublicSigningKey): SigningKey {
  return create(SigningKeySchema, {
    kid: k.kid,
    alg: "EdDSA",
    crv: "Ed25519",
    x: k.publicX,
    createTime: ts(k.createdAt),
    retireTime: ts(k.retireAt),
  });
}
