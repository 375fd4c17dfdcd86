/**
 * Row shapes of the tables as Kysely sees them. Instants are epoch milliseconds (integer /
 * bigint columns) and booleans are 0/1 integers in both dialects, so one query layer
 * serves SQLite and PostgreSQL; the repositories convert rows to domain records.
 */
import type { Generated } from "kysely";

export interface ClustersTable {
  name: string;
  display_name: string;
  /** JSON object of label key → value. */
  labels: string;
  mode: string;
  server_url: string;
  ca_pem: string;
  /** Sealed JSON of ClusterCredentialSecret; null in agent mode. */
  credential_sealed: string | null;
  manage_rbac: number;
  /** "impersonate" | "front-proxy" (migration 0004; older rows read "impersonate"). */
  identity_mode: Generated<string>;
  status_phase: string;
  status_kubernetes_version: string;
  status_agent_version: string;
  status_last_seen_at: number | null;
  status_message: string;
  agent_bootstrap_hash: string | null;
  agent_credential_hash: string | null;
  created_at: number;
  updated_at: number;
}

export interface GrantsTable {
  id: string;
  cluster: string;
  subject_kind: string;
  subject_name: string;
  role: string;
  /** JSON array of namespaces; [] = cluster-wide. */
  namespaces: string;
  state: string;
  state_message: string;
  expires_at: number | null;
  created_at: number;
  updated_at: number;
  created_by: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  subject: string;
  /** JSON array of group names. */
  groups: string;
  secret_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  created_by: string;
}

export interface SigningKeysTable {
  kid: string;
  private_jwk_sealed: string;
  public_x: string;
  created_at: number;
  active_until: number;
  retire_at: number;
}

export interface TokenRevocationsTable {
  jti: string;
  expires_at: number;
  revoked_at: number;
}

export interface SubjectRevocationsTable {
  subject_kind: string;
  subject_name: string;
  revoked_at: number;
}

export interface ChangesTable {
  revision: Generated<number>;
  kind: string;
  key: string;
  deleted: number;
  at: number;
}

export interface IdempotentResultsTable {
  key: string;
  fingerprint: string;
  response_sealed: string;
  created_at: number;
}

/** A data-plane process with a live sync stream (the agent mesh's members). */
export interface DataPlanesTable {
  id: string;
  replica: string;
  /** Which sync stream holds the membership: a stale stream's end must not remove a newer one. */
  stream: string;
  seen_at: number;
}

/**
 * Which data plane reaches which cluster: it holds a tunnel of the agent cluster, or its
 * latest health probe of the direct cluster was answered. (Named when only agents had a
 * status; a rename would buy a migration and nothing else.)
 */
export interface AgentTunnelsTable {
  cluster: string;
  data_plane: string;
}

/** Recent audit events (AuditLog); pruned by age and capped per cluster. */
export interface AuditEventsTable {
  id: string;
  at: number;
  first_at: number;
  /** "" when the event concerns no known cluster. */
  cluster: string;
  kind: string;
  actor: string;
  verb: string;
  api_group: string;
  resource: string;
  namespace: string;
  name: string;
  status: number;
  message: string;
  grant_id: string;
  target_subject: string;
  count: number;
  request_id: string;
  duration_ms: number;
  bytes_in: number;
  bytes_out: number;
  source: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  clusters: ClustersTable;
  grants: GrantsTable;
  api_keys: ApiKeysTable;
  signing_keys: SigningKeysTable;
  token_revocations: TokenRevocationsTable;
  subject_revocations: SubjectRevocationsTable;
  changes: ChangesTable;
  meta: MetaTable;
  idempotent_results: IdempotentResultsTable;
  data_planes: DataPlanesTable;
  agent_tunnels: AgentTunnelsTable;
  audit_events: AuditEventsTable;
}
