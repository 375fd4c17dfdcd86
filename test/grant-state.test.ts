import { describe, expect, it } from "vitest";
import { GrantState as Proto } from "../gen/kubegate/v1/grant_pb.ts";
import { GRANT_STATES, canMoveGrant, grantStateFromProto, grantStateToProto, isLiveGrantState, type GrantState } from "../src/grant-state.ts";

describe("grant states", () => {
  it("maps every state to the API's enum and back, and nothing else", () => {
    for (const s of GRANT_STATES) expect(grantStateFromProto(grantStateToProto(s))).toBe(s);
    expect(new Set(GRANT_STATES.map(grantStateToProto)).size).toBe(GRANT_STATES.length);
    // Every value the proto defines, except UNSPECIFIED, is one of ours.
    const defined = Object.values(Proto).filter((v): v is Proto => typeof v === "number" && v !== Proto.UNSPECIFIED);
    expect(defined.map(grantStateFromProto).sort()).toEqual([...GRANT_STATES].sort());
    expect(grantStateFromProto(Proto.UNSPECIFIED)).toBeUndefined();
    expect(grantStateFromProto(99 as Proto)).toBeUndefined();
  });

  // from → to: allowed?
  const moves: [GrantState, GrantState, boolean][] = [
    ["PENDING", "APPLIED", true],
    ["PENDING", "FAILED", true],
    ["PENDING", "REVOKED", true],
    ["PENDING", "EXPIRED", true],
    ["APPLIED", "FAILED", true],
    ["FAILED", "APPLIED", true],
    ["FAILED", "FAILED", true],
    ["APPLIED", "APPLIED", true],
    ["APPLIED", "REVOKED", true],
    ["FAILED", "EXPIRED", true],
    ["APPLIED", "PENDING", false],
    ["FAILED", "PENDING", false],
    ["REVOKED", "APPLIED", false],
    ["REVOKED", "REVOKED", false],
    ["REVOKED", "EXPIRED", false],
    ["EXPIRED", "APPLIED", false],
    ["EXPIRED", "REVOKED", false],
    ["EXPIRED", "EXPIRED", false],
  ];
  it.each(moves)("%s → %s allowed: %s", (from, to, allowed) => {
    expect(canMoveGrant(from, to)).toBe(allowed);
  });

  it("calls live exactly the states a grant can still leave", () => {
    for (const s of GRANT_STATES) expect(isLiveGrantState(s)).toBe(GRANT_STATES.some((to) => canMoveGrant(s, to)));
  });
});
