/** Words and lookups the pages share. */
import { ClusterMode, ClusterPhase, IdentityMode, type Cluster } from "../../../gen/kubegate/v1/cluster_pb.ts";
import { GrantState, Role, SubjectKind, type Grant } from "../../../gen/kubegate/v1/grant_pb.ts";
import { clusters } from "../api.ts";

export const PHASES: Record<ClusterPhase, string> = {
  [ClusterPhase.UNSPECIFIED]: "UNKNOWN",
  [ClusterPhase.READY]: "READY",
  [ClusterPhase.OFFLINE]: "OFFLINE",
  [ClusterPhase.UNKNOWN]: "UNKNOWN",
};

export const GRANT_STATES: Record<GrantState, string> = {
  [GrantState.UNSPECIFIED]: "UNKNOWN",
  [GrantState.PENDING]: "PENDING",
  [GrantState.APPLIED]: "APPLIED",
  [GrantState.FAILED]: "FAILED",
  [GrantState.REVOKED]: "REVOKED",
  [GrantState.EXPIRED]: "EXPIRED",
};

export const ROLES: Array<[Role, string]> = [
  [Role.VIEW, "view"],
  [Role.EDIT, "edit"],
  [Role.ADMIN, "admin"],
  [Role.CLUSTER_ADMIN, "cluster-admin"],
];

export const roleName = (r: Role): string => ROLES.find(([role]) => role === r)?.[1] ?? "unknown";

/** A grant still gives access (or will, once its RBAC is live). */
export const isActive = (g: Grant): boolean => g.state === GrantState.PENDING || g.state === GrantState.APPLIED || g.state === GrantState.FAILED;

export const subjectText = (g: Grant): string => `${g.subject?.kind === SubjectKind.GROUP ? "group" : "user"}:${g.subject?.name ?? ""}`;

export const modeText = (c: Cluster): string => (c.mode === ClusterMode.AGENT ? "agent" : "direct");

export const identityText = (c: Cluster): string => (c.identityMode === IdentityMode.FRONT_PROXY ? "front-proxy" : "impersonate");

export const isDemo = (c: Cluster): boolean => c.labels["kubegate.dev/demo"] === "true";

/** Every item of a paged list call, following next_page_token to the end. */
export async function everyPage<T>(list: (pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const out: T[] = [];
  let pageToken = "";
  do {
    const page = await list(pageToken);
    out.push(...page.items);
    pageToken = page.next;
  } while (pageToken !== "");
  return out;
}

/** Every cluster the caller may see. */
export const allClusters = (): Promise<Cluster[]> =>
  everyPage(async (pageToken) => {
    const page = await clusters.listClusters({ pageSize: 500, pageToken });
    return { items: page.clusters, next: page.nextPageToken };
  });

/** A state word in a cell styled by its meaning, with the reason as its description. */
export function stateCell(word: string, why: string): HTMLTableCellElement {
  const cell = document.createElement("td");
  cell.className = `state state-${word.toLowerCase()}`;
  cell.textContent = word;
  if (why !== "") {
    const small = document.createElement("small");
    small.textContent = why;
    cell.append(document.createElement("br"), small);
  }
  return cell;
}

/** Lifetimes offered for expiring things: [label, milliseconds], 0 meaning never. */
export const LIFETIMES: Array<[string, number]> = [
  ["never", 0],
  ["1 hour", 3_600_000],
  ["8 hours", 8 * 3_600_000],
  ["1 day", 86_400_000],
  ["7 days", 7 * 86_400_000],
  ["30 days", 30 * 86_400_000],
];
