// Table tests of the pure parts of authentication: where a token is read from, when a
// verified token still counts, which grants decide, and when the view is too old to use.
import { describe, expect, it } from "vitest";
import { checkFresh, liveGrants, revocation, type AccessOptions } from "../../src/data/authenticate.ts";
import { DataPathError } from "../../src/forward/kube-status.ts";
import { bearerToken, webSocketBearer } from "../../src/net/bearer.ts";
import { createView, grantHolderKey, subjectKey, type GrantView, type View } from "../../src/sync/view.ts";
import type { GatewayClaims } from "../../src/token/claims.ts";
import type { TokenVerifier } from "../../src/token/verifier.ts";

const wsBearer = (token: string) => `base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString("base64url")}`;

describe("bearerToken", () => {
  const cases: [string, string | string[] | undefined, string | undefined][] = [
    ["absent", undefined, undefined],
    ["Bearer", "Bearer abc.def", "abc.def"],
    ["scheme in any case", "bEaReR abc", "abc"],
    ["trailing space", "Bearer abc  ", "abc"],
    ["Basic is not a bearer token", "Basic dXNlcjpwYXNz", undefined],
    ["no token", "Bearer ", undefined],
    ["two words", "Bearer abc def", undefined],
    ["first of repeated headers", ["Bearer one", "Bearer two"], "one"],
    ["token without scheme", "abc", undefined],
  ];
  it.each(cases)("%s", (_, header, want) => expect(bearerToken(header)).toBe(want));
});

describe("webSocketBearer", () => {
  const cases: [string, string | string[] | undefined, string | undefined][] = [
    ["absent", undefined, undefined],
    ["only the stream protocol", "v5.channel.k8s.io", undefined],
    ["beside the stream protocol", `v5.channel.k8s.io, ${wsBearer("tok-1")}`, "tok-1"],
    ["first of the list", `${wsBearer("tok-2")},v4.channel.k8s.io`, "tok-2"],
    ["in a repeated header", ["v4.channel.k8s.io", wsBearer("tok-3")], "tok-3"],
    ["prefix without a dot is not the bearer protocol", "base64url.bearer.authorization.k8s.io", undefined],
  ];
  it.each(cases)("%s", (_, header, want) => expect(webSocketBearer(header)).toBe(want));
});

const T0 = 1_800_000_000;
const claims = (over: Partial<GatewayClaims> = {}): GatewayClaims => ({
  iss: "https://kubegate.test",
  sub: "alice",
  aud: "prod",
  exp: T0 + 600,
  iat: T0,
  jti: "jti-1",
  groups: ["dev", "ops"],
  grants: [],
  ...over,
});

function viewWith(setup: (v: View) => void): View {
  const v = createView();
  setup(v);
  return v;
}

describe("revocation", () => {
  const cases: [string, (v: View) => void, GatewayClaims, string | undefined][] = [
    ["nothing revoked", () => {}, claims(), undefined],
    ["this token revoked", (v) => v.revokedTokens.set("jti-1", (T0 + 600) * 1000), claims(), "token revoked"],
    ["another token revoked", (v) => v.revokedTokens.set("jti-2", (T0 + 600) * 1000), claims(), undefined],
    ["user revoked after issue", (v) => v.revokedSubjects.set("user:alice", T0 * 1000 + 5000), claims(), "subject user:alice revoked"],
    // iat has second precision: a token from the revocation's own second counts as revoked.
    ["user revoked in the issuing second", (v) => v.revokedSubjects.set("user:alice", T0 * 1000 + 999), claims(), "subject user:alice revoked"],
    ["user revoked before issue", (v) => v.revokedSubjects.set("user:alice", T0 * 1000 - 1), claims(), undefined],
    ["a group of the token revoked", (v) => v.revokedSubjects.set("group:ops", T0 * 1000), claims(), "subject group:ops revoked"],
    ["a group the token lacks revoked", (v) => v.revokedSubjects.set("group:admins", T0 * 1000), claims(), undefined],
    ["a group named like the user", (v) => v.revokedSubjects.set("group:alice", T0 * 1000), claims(), undefined],
  ];
  it.each(cases)("%s", (_, setup, c, want) => expect(revocation(viewWith(setup), c)).toBe(want));
});

describe("liveGrants", () => {
  const grant = (id: string, cluster: string, kind: "user" | "group", name: string): GrantView => ({
    id,
    cluster,
    role: "view",
    namespaces: [],
    state: "APPLIED",
    stateMessage: "",
    expiresAt: null,
    subject: { kind, name },
  });
  const grants = [
    grant("g-user", "prod", "user", "alice"),
    grant("g-dev", "prod", "group", "dev"),
    grant("g-other-cluster", "stage", "user", "alice"),
    grant("g-bob", "prod", "user", "bob"),
    grant("g-group-alice", "prod", "group", "alice"),
  ];
  const view = viewWith((v) => {
    for (const g of grants) {
      v.grants.set(g.id, g);
      const key = grantHolderKey(g.cluster, subjectKey(g.subject!.kind, g.subject!.name));
      v.grantsByHolder.set(key, new Set([...(v.grantsByHolder.get(key) ?? []), g.id]));
    }
  });
  const cases: [string, GatewayClaims, string[]][] = [
    ["the user's and the groups' grants on the token's cluster", claims(), ["g-dev", "g-user"]],
    ["whatever grant ids the token carries", claims({ grants: ["g-bob", "g-other-cluster"] }), ["g-dev", "g-user"]],
    ["another cluster's", claims({ aud: "stage" }), ["g-other-cluster"]],
    ["no groups", claims({ groups: [] }), ["g-user"]],
    ["a subject with none", claims({ sub: "carol", groups: [] }), []],
    ["a cluster with none", claims({ aud: "qa" }), []],
  ];
  it.each(cases)("%s", (_, c, want) => expect(liveGrants(view, c).map((g) => g.id).sort()).toEqual(want));
});

describe("checkFresh", () => {
  const opts = (lastHeardAt: number, now: number): AccessOptions => ({
    view: viewWith((v) => (v.lastHeardAt = lastHeardAt)),
    verifier: {} as TokenVerifier,
    clock: () => now,
    stalenessMs: 30_000,
  });
  const cases: [string, number, number, RegExp | undefined][] = [
    ["never heard from the control plane", 0, 1_000, /has not yet received its configuration/],
    ["heard just now", 1_000_000, 1_000_000, undefined],
    ["at the bound", 1_000_000, 1_030_000, undefined],
    ["past the bound", 1_000_000, 1_030_001, /lost contact with its control plane for 30s/],
  ];
  it.each(cases)("%s", (_, heard, now, want) => {
    const run = () => checkFresh(opts(heard, now));
    if (want === undefined) return expect(run).not.toThrow();
    expect(run).toThrow(want);
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(DataPathError);
      expect((err as DataPathError).status).toBe(503);
    }
  });
});
