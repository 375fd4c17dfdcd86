/** Domain records for store tests, with overridable defaults. */
import type { ApiKeyRecord, AuditEvent, ClusterRecord, GrantRecord, SigningKeyRecord } from "../../../src/store/types.ts";

export const T0 = new Date("2030-01-01T00:00:00.000Z");

export function at(offsetMs: number): Date {
  return new Date(T0.getTime() + offsetMs);
}

export function cluster(name: string, overrides: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    name,
    displayName: `Cluster ${name}`,
    labels: { env: "test", team: "platform" },
    mode: "direct",
    serverUrl: `https://${name}.example.test:6443`,
    caPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    credential: { kind: "bearer", token: `super-secret-token-of-${name}` },
    manageRbac: true,
    identityMode: "impersonate",
    status: { phase: "UNKNOWN", kubernetesVersion: "", agentVersion: "", lastSeenAt: null, message: "" },
    agentBootstrapHash: null,
    agentCredentialHash: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

export function grant(id: string, clusterName: string, overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id,
    cluster: clusterName,
    subjectKind: "user",
    subjectName: "alice",
    role: "view",
    namespaces: [],
    state: "APPLIED",
    stateMessage: "",
    expiresAt: null,
    createdAt: T0,
    updatedAt: T0,
    createdBy: "admin",
    ...overrides,
  };
}

export function apiKey(id: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    name: `key ${id}`,
    subject: "ci-bot",
    groups: ["ci", "deployers"],
    secretHash: `hash-of-${id}`,
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    createdBy: "admin",
    ...overrides,
  };
}

export function signingKey(kid: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    privateJwk: JSON.stringify({ kty: "OKP", crv: "Ed25519", x: `public-${kid}`, d: `private-d-of-${kid}` }),
    publicX: `public-${kid}`,
    createdAt: T0,
    activeUntil: at(3_600_000),
    retireAt: at(7_200_000),
    ...overrides,
  };
}

export function auditEvent(id: string, offsetMs: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    at: at(offsetMs),
    firstAt: at(offsetMs),
    cluster: "prod",
    kind: "request",
    actor: "alice",
    verb: "create",
    apiGroup: "apps",
    resource: "deployments",
    namespace: "default",
    name: `app-${id}`,
    status: 201,
    message: "",
    grantId: "gr-1",
    targetSubject: "",
    count: 1,
    requestId: `req-${id}`,
    durationMs: 12,
    bytesIn: 300,
    bytesOut: 4_000_000_000,
    source: "dp-test",
    ...overrides,
  };
}
