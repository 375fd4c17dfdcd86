// The per-user and per-cluster caps on requests and streams open at once: a 429 Status
// naming who is at the cap, and room again as soon as one ends.
import { describe, expect, it } from "vitest";
import { createSessions, type LiveSession } from "../../src/data/sessions.ts";
import { DataPathError } from "../../src/forward/kube-status.ts";

let n = 0;
const session = (user: string, cluster: string): LiveSession => ({
  id: `s${n++}`,
  kind: "watch",
  cluster,
  claims: { iss: "kubegate", sub: user, aud: cluster, exp: 0, iat: 0, jti: `j${n}`, groups: [], grants: [] },
  info: { isResourceRequest: true, verb: "watch", apiGroup: "", apiVersion: "v1", namespace: "default", resource: "configmaps", subresource: "", name: "", path: "/api/v1/namespaces/default/configmaps", parts: [] } as never,
  cut: () => undefined,
});

describe("session caps", () => {
  const cases: [string, { perUser: number; perCluster: number }, [string, string][], [string, string], RegExp | undefined][] = [
    ["under both caps", { perUser: 2, perCluster: 3 }, [["alice", "prod"]], ["alice", "prod"], undefined],
    ["user at cap", { perUser: 2, perCluster: 9 }, [["alice", "prod"], ["alice", "stage"]], ["alice", "qa"], /^alice already has 2 requests and streams open/],
    ["another user is not held back", { perUser: 2, perCluster: 9 }, [["alice", "prod"], ["alice", "prod"]], ["bob", "prod"], undefined],
    ["cluster at cap", { perUser: 9, perCluster: 2 }, [["alice", "prod"], ["bob", "prod"]], ["carol", "prod"], /^cluster "prod" already has 2 requests and streams open/],
    ["another cluster is not held back", { perUser: 9, perCluster: 2 }, [["alice", "prod"], ["bob", "prod"]], ["carol", "stage"], undefined],
  ];
  it.each(cases)("%s", (_, caps, open, next, refusal) => {
    const sessions = createSessions(caps);
    for (const [u, c] of open) sessions.add(session(u, c));
    const add = () => sessions.add(session(...next));
    if (refusal === undefined) return expect(add).not.toThrow();
    try {
      add();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DataPathError);
      expect((err as DataPathError).status).toBe(429);
      expect((err as DataPathError).message).toMatch(refusal);
    }
  });

  it("frees the slot when a session ends, once however often its remover is called", () => {
    const sessions = createSessions({ perUser: 1, perCluster: 1 });
    const remove = sessions.add(session("alice", "prod"));
    expect(() => sessions.add(session("alice", "prod"))).toThrow(DataPathError);
    remove();
    remove();
    const again = sessions.add(session("alice", "prod"));
    expect(() => sessions.add(session("bob", "prod"))).toThrow(/cluster "prod"/);
    again();
    expect(sessions.count()).toBe(0);
  });
});
