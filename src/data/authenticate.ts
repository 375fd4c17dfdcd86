/**
 * Who is calling and may they reach this cluster: token verification, revocation and
 * grant lookup, all from memory. Used when a request starts and again, for live streams,
 * whenever the view changes.
 */
import type { GatewayClaims } from "../token/claims.ts";
import { TokenError, type TokenVerifier } from "../token/verifier.ts";
import { DataPathError } from "../forward/kube-status.ts";
import { grantHolderKey, subjectKey, type ClusterRouteView, type GrantView, type View } from "../sync/view.ts";

export interface AccessOptions {
  view: View;
  verifier: TokenVerifier;
  clock: () => number;
  /** Serve on the last view at most this long after the control plane was last heard. */
  stalenessMs: number;
}

export interface Caller {
  claims: GatewayClaims;
  cluster: ClusterRouteView;
  token: string;
}

/** Fails closed when the view is missing or too old. */
export function checkFresh(opts: AccessOptions): void {
  const { view } = opts;
  if (view.lastHeardAt === 0) throw new DataPathError("unavailable", "kubegate is starting: it has not yet received its configuration from the control plane", { retryAfterSeconds: 1 });
  const age = opts.clock() - view.lastHeardAt;
  if (age > opts.stalenessMs)
    throw new DataPathError(
      "unavailable",
      `kubegate has lost contact with its control plane for ${Math.round(age / 1000)}s and refuses requests until it is back`,
      { retryAfterSeconds: 5, detail: `view is ${age} ms old, bound ${opts.stalenessMs} ms` },
    );
}

/** The reason a verified token no longer counts, or undefined. */
export function revocation(view: View, claims: GatewayClaims): string | undefined {
  if (view.revokedTokens.has(claims.jti)) return "token revoked";
  const issuedMs = claims.iat * 1000;
  // iat has second precision: a token from the revocation's own second counts as revoked.
  const revokedAt = (key: string) => view.revokedSubjects.get(key);
  const user = revokedAt(subjectKey("user", claims.sub));
  if (user !== undefined && issuedMs <= user) return `subject user:${claims.sub} revoked`;
  for (const g of claims.groups) {
    const at = revokedAt(subjectKey("group", g));
    if (at !== undefined && issuedMs <= at) return `subject group:${g} revoked`;
  }
  return undefined;
}

/**
 * The grants that decide a request: the live grants of the token's subject (its user and
 * its groups) on the token's cluster, as the sync stream delivers them. The token proves
 * who and which cluster, not which grants: a grant created after it was minted counts at
 * once, and a revoked one stops at once, whatever grant ids the token carries.
 */
export function liveGrants(view: View, claims: GatewayClaims): GrantView[] {
  const out: GrantView[] = [];
  const collect = (subject: string) => {
    const ids = view.grantsByHolder.get(grantHolderKey(claims.aud, subject));
    if (ids !== undefined) for (const id of ids) out.push(view.grants.get(id)!);
  };
  collect(subjectKey("user", claims.sub));
  for (const g of claims.groups) collect(subjectKey("group", g));
  return out;
}

const unauthorized = (detail: string) => new DataPathError("unauthenticated", "Unauthorized", { detail });

/** Authenticates a bearer token for `clusterName`; throws a DataPathError (401/404/503). */
export async function authenticate(opts: AccessOptions, token: string | undefined, clusterName: string): Promise<Caller> {
  checkFresh(opts);
  if (token === undefined || token === "") throw unauthorized("no bearer token");
  let claims: GatewayClaims;
  try {
    claims = await opts.verifier.verify(token, clusterName);
  } catch (err) {
    if (err instanceof TokenError) {
      if (err.rejection === "wrong-audience" && !opts.view.clusters.has(clusterName))
        throw new DataPathError("notFound", `cluster ${JSON.stringify(clusterName)} not found`);
      throw unauthorized(`${err.rejection}: ${err.message}`);
    }
    throw err;
  }
  const cluster = opts.view.clusters.get(clusterName);
  if (cluster === undefined) throw new DataPathError("notFound", `cluster ${JSON.stringify(clusterName)} not found`);
  const revoked = revocation(opts.view, claims);
  if (revoked !== undefined) throw unauthorized(revoked);
  return { claims, cluster, token };
}

