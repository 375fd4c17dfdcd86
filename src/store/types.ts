/**
 * The store's domain records and its interface. Services and the sync stream depend on
 * this contract only; SQLite (embedded default) and PostgreSQL implement it with Kysely.
 * Secrets (cluster credentials, signing private keys) cross this boundary in clear: the
 * implementation seals them at rest with AES-256-GCM.
 */

export type ClusterMode = "direct" | "agent";
export type ClusterPhase = "READY" | "OFFLINE" | "UNKNOWN";
/**
 * How the member learns who the user is: Impersonate-* headers on the gateway's own
 * credential, or the aggregation layer's X-Remote-* headers on a front-proxy certificate.
 */
export type IdentityMode = "impersonate" | "front-proxy";

/**
 * What the gateway presents to a direct-mode member: a bearer token or client certificate
 * (impersonate mode), or the front-proxy client certificate (front-proxy mode, nothing else).
 */
export type ClusterCredentialSecret =
  | { kind: "bearer"; token: string }
  | { kind: "client-certificate"; certPem: string; keyPem: string }
  | { kind: "front-proxy"; certPem: string; keyPem: string };

export interface ClusterStatusRecord {
  phase: ClusterPhase;
  kubernetesVersion: string;
  agentVersion: string;
  lastSeenAt: Date | null;
  message: string;
}

export interface ClusterRecord {
  name: string;
  displayName: string;
  labels: Record<string, string>;
  mode: ClusterMode;
  /** Direct mode only; "" for agent mode. */
  serverUrl: string;
  caPem: string;
  /** Direct mode; null for agent mode. */
  credential: ClusterCredentialSecret | null;
  manageRbac: boolean;
  /** Direct front-proxy clusters hold a "front-proxy" credential; agent ones rely on the agent's certificate. */
  identityMode: IdentityMode;
  status: ClusterStatusRecord;
  /** SHA-256 (hex) of the one-time agent bootstrap token; null once used or in direct mode. */
  agentBootstrapHash: string | null;
  /** SHA-256 (hex) of the agent's long-lived credential; null until the agent enrolled. */
  agentCredentialHash: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type SubjectKind = "user" | "group";
export type RoleName = "view" | "edit" | "admin" | "cluster-admin";
export type { GrantState } from "../grant-state.ts";
export type { AuditEvent } from "../audit-event.ts";
import type { AuditEvent } from "../audit-event.ts";
import type { GrantState } from "../grant-state.ts";

export interface GrantRecord {
  id: string;
  cluster: string;
  subjectKind: SubjectKind;
  subjectName: string;
  role: RoleName;
  /** Empty = cluster-wide. */
  namespaces: string[];
  state: GrantState;
  stateMessage: string;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  createdBy: string;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  subject: string;
  groups: string[];
  /** SHA-256 (hex) of the secret; the secret itself is never stored. */
  secretHash: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdBy: string;
}

export interface SigningKeyRecord {
  kid: string;
  /** Ed25519 private key as a JWK JSON string (sealed at rest). */
  privateJwk: string;
  /** Base64url public key (JWK "x"). */
  publicX: string;
  createdAt: Date;
  /** After this, the key signs nothing new. */
  activeUntil: Date;
  /** After this, no token the key signed can be valid, so it is no longer published. */
  retireAt: Date;
}

export interface TokenRevocationRecord {
  jti: string;
  expiresAt: Date;
  revokedAt: Date;
}

export interface SubjectRevocationRecord {
  subjectKind: SubjectKind;
  subjectName: string;
  /** Tokens issued to the subject before this instant are invalid. */
  revokedAt: Date;
}

export type ChangeKind = "cluster" | "grant" | "signing_key" | "token_revocation" | "subject_revocation" | "data_plane";

/**
 * One entry of the change log that feeds the data plane's sync stream. `key` is the
 * cluster name, grant id, kid, jti, "kind:name" of a subject, or data-plane id. The current state is read
 * from the store when the change is sent; `deleted` says it is gone.
 */
export interface ChangeEvent {
  revision: number;
  kind: ChangeKind;
  key: string;
  deleted: boolean;
  at: Date;
}

/** Keyset pagination: return items strictly after `after` in key order, at most `limit`. */
export interface Page {
  after?: string;
  limit: number;
}

export interface GrantFilter {
  cluster?: string;
  subjectKind?: SubjectKind;
  subjectName?: string;
  state?: GrantState;
}

export interface AuditEventFilter {
  /** "" is the events of no cluster; undefined, every cluster's. */
  cluster?: string;
  actor?: string;
}

/** A position in the newest-first order of audit events: (at, id), both descending. */
export interface AuditCursor {
  at: Date;
  id: string;
}

export type ClusterPatch = Partial<
  Pick<ClusterRecord, "displayName" | "labels" | "serverUrl" | "caPem" | "credential" | "manageRbac" | "agentBootstrapHash" | "agentCredentialHash">
>;

/**
 * Every mutating method appends its change event(s) in the same transaction, so the
 * sync stream never misses or reorders a change. Methods throw StoreConflictError on a
 * duplicate key and return null/false where the target does not exist.
 */
export interface Store {
  readonly dialect: "sqlite" | "postgres";

  clusters: {
    /** With `remember`, its result is recorded in the same transaction. */
    create(rec: ClusterRecord, remember?: IdempotentResult): Promise<void>;
    get(name: string): Promise<ClusterRecord | null>;
    /** Ordered by name. */
    list(page: Page): Promise<ClusterRecord[]>;
    update(name: string, patch: ClusterPatch, at: Date): Promise<ClusterRecord | null>;
    setStatus(name: string, status: ClusterStatusRecord): Promise<boolean>;
    /** Deletes the cluster and its grants (each grant's deletion is a change event too). */
    delete(name: string): Promise<boolean>;
    findByAgentBootstrapHash(hash: string): Promise<ClusterRecord | null>;
    findByAgentCredentialHash(hash: string): Promise<ClusterRecord | null>;
    /**
     * Atomically swaps an agent secret for a new credential hash: the cluster whose bootstrap
     * hash (enrollment; the bootstrap is cleared) or credential hash (rotation) equals
     * `match` gets `credentialHash`. Null when no cluster matched, so a secret works once.
     */
    swapAgentCredential(match: { bootstrapHash: string } | { credentialHash: string }, credentialHash: string, at: Date): Promise<ClusterRecord | null>;
  };

  grants: {
    /** With `remember`, its result is recorded in the same transaction. */
    create(rec: GrantRecord, remember?: IdempotentResult): Promise<void>;
    get(id: string): Promise<GrantRecord | null>;
    /** Ordered by id. */
    list(filter: GrantFilter, page: Page): Promise<GrantRecord[]>;
    /** Grants on `cluster` whose subject is the user or one of the groups, in the given states. */
    listFor(cluster: string | null, user: string, groups: string[], states: GrantState[]): Promise<GrantRecord[]>;
    setState(id: string, state: GrantState, message: string, at: Date): Promise<GrantRecord | null>;
    /** Moves every PENDING/APPLIED/FAILED grant with expiresAt <= now to EXPIRED; returns them. */
    expireDue(now: Date): Promise<GrantRecord[]>;
  };

  apiKeys: {
    /** With `remember`, its result is recorded in the same transaction. */
    create(rec: ApiKeyRecord, remember?: IdempotentResult): Promise<void>;
    get(id: string): Promise<ApiKeyRecord | null>;
    findBySecretHash(hash: string): Promise<ApiKeyRecord | null>;
    /** Ordered by id. */
    list(page: Page, includeRevoked: boolean): Promise<ApiKeyRecord[]>;
    revoke(id: string, at: Date): Promise<boolean>;
    touch(id: string, at: Date): Promise<void>;
    /**
     * Deletes keys created by `createdByPrefix…` (token exchange: one per CI job) that
     * expired or were revoked before `before`; returns how many.
     */
    pruneEnded(createdByPrefix: string, before: Date): Promise<number>;
  };

  signingKeys: {
    /** Every key not yet past retireAt, oldest first. */
    list(now: Date): Promise<SigningKeyRecord[]>;
    insert(rec: SigningKeyRecord): Promise<void>;
    /** Ends the key's signing period; `retireAt` moves its retirement with it. */
    setActiveUntil(kid: string, activeUntil: Date, retireAt?: Date): Promise<void>;
    /** Deletes keys past retireAt (a change event each); returns their kids. */
    pruneRetired(now: Date): Promise<string[]>;
  };

  revocations: {
    revokeToken(rec: TokenRevocationRecord): Promise<void>;
    isTokenRevoked(jti: string): Promise<boolean>;
    /** Token revocations whose token has not expired yet. */
    listTokens(now: Date): Promise<TokenRevocationRecord[]>;
    /** Records a subject revocation (upsert: the latest instant wins). */
    revokeSubject(rec: SubjectRevocationRecord): Promise<void>;
    listSubjects(): Promise<SubjectRevocationRecord[]>;
    /** Drops token revocations whose tokens have expired. */
    pruneExpired(now: Date): Promise<number>;
  };

  changes: {
    latestRevision(): Promise<number>;
    /** The oldest revision still in the log (0 when empty); older resumes need a snapshot. */
    oldestRevision(): Promise<number>;
    /** Events with revision > after, in order, at most limit. */
    since(after: number, limit: number): Promise<ChangeEvent[]>;
    /**
     * Calls `listener` (no arguments, may coalesce) soon after any change committed by this
     * process or, on PostgreSQL, by any process sharing the database (LISTEN/NOTIFY).
     */
    subscribe(listener: () => void): () => void;
    /** Keeps the log bounded: drops events older than `before` but always keeps the latest. */
    prune(before: Date): Promise<number>;
  };

  /** Results of creates that carried a request id. */
  idempotentResults: {
    get(key: string): Promise<IdempotentResult | null>;
    /** Forgets results recorded before `before`; returns how many. */
    prune(before: Date): Promise<number>;
  };

  /**
   * The agent mesh: data-plane processes with a live sync stream, and the clusters each
   * reaches (an agent's tunnel held there, or a direct member's latest health probe answered
   * from there). A change of the set is logged (kind "data_plane"), so every data plane learns it.
   */
  dataPlanes: {
    /** Records the process as live on `stream` (a new one is logged; a known one takes the new stream). */
    join(id: string, replica: string, stream: string, at: Date): Promise<void>;
    /** Marks it seen; false when it is not (or no longer) on this stream. */
    touch(id: string, stream: string, at: Date): Promise<boolean>;
    /**
     * Removes it if `stream` still holds it, with what it reached; returns the clusters no
     * live data plane reaches any more.
     */
    leave(id: string, stream: string): Promise<string[]>;
    /** Removes every process not seen since `before`, as `leave` does; returns their ids and the orphaned clusters. */
    expire(before: Date): Promise<{ ids: string[]; orphaned: string[] }>;
    /** The live ids, in order. */
    list(): Promise<string[]>;
    /** Records whether the data plane reaches the cluster; returns how many live data planes do. */
    setReachable(cluster: string, dataPlane: string, reachable: boolean): Promise<number>;
  };

  /** Recent audit events (not logged as changes: no data plane needs them). */
  auditEvents: {
    /** Stores the events in one statement; an id already stored keeps its first event. Returns how many were new. */
    append(events: AuditEvent[]): Promise<number>;
    /** Newest first by (at, id), strictly after `before` in that order, at most `limit`. */
    list(filter: AuditEventFilter, page: { before?: AuditCursor; limit: number }): Promise<AuditEvent[]>;
    /** Deletes events that happened before `before`; returns how many. */
    prune(before: Date): Promise<number>;
    /** Keeps each cluster's newest `perCluster` events ("" counts as a cluster); returns how many it deleted. */
    cap(perCluster: number): Promise<number>;
  };

  /** Small key/value settings (e.g. whether the bootstrap admin key was created). */
  meta: {
    get(key: string): Promise<string | null>;
    set(key: string, value: string): Promise<void>;
    /** Sets `key` only if it has no value yet; true for the one caller (of all replicas) that set it. */
    claim(key: string, value: string): Promise<boolean>;
  };

  close(): Promise<void>;
}

/**
 * The first answer to a create that carried a request id, kept so that a retry gets it
 * again. `key` names caller, method and request id; `fingerprint` the request itself.
 */
export interface IdempotentResult {
  key: string;
  fingerprint: string;
  /** The response message, serialized; sealed at rest (it may hold a secret shown once). */
  response: Uint8Array;
  createdAt: Date;
}

/** A unique key already exists (cluster name, grant id, API key id). */
export class StoreConflictError extends Error {
  override readonly name = "StoreConflictError";
}

/**
 * A record refers to something that does not exist (a grant's cluster), e.g. because the
 * cluster was deleted while the grant was being created.
 */
export class StoreReferenceError extends Error {
  override readonly name = "StoreReferenceError";
}
