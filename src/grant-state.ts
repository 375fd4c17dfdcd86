/**
 * A grant's life, in one place: its states, how each maps to the API's enum, and which
 * moves between them are allowed. The control plane, the data plane's view and RBAC
 * reconciler, the store and the CLI all read it from here.
 *
 *   PENDING ─→ APPLIED ⇄ FAILED        (the member's RBAC bindings, as the data plane reports)
 *      └──────────┴────────┴─→ REVOKED | EXPIRED   (final)
 */
import { GrantState as GrantStateProto } from "../gen/kubegate/v1/grant_pb.ts";

export const GRANT_STATES = ["PENDING", "APPLIED", "FAILED", "REVOKED", "EXPIRED"] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/** States in which a grant gives (or is about to give) access; it can still be revoked or expire. */
export const LIVE_GRANT_STATES: readonly GrantState[] = ["PENDING", "APPLIED", "FAILED"];

/** What the data plane reports of a grant's bindings in the member. */
export const REPORTED_GRANT_STATES: readonly GrantState[] = ["APPLIED", "FAILED"];

const NEXT: Record<GrantState, readonly GrantState[]> = {
  PENDING: ["APPLIED", "FAILED", "REVOKED", "EXPIRED"],
  APPLIED: ["FAILED", "REVOKED", "EXPIRED"],
  FAILED: ["APPLIED", "REVOKED", "EXPIRED"],
  REVOKED: [],
  EXPIRED: [],
};

export function isLiveGrantState(state: GrantState): boolean {
  return LIVE_GRANT_STATES.includes(state);
}

/**
 * Whether a grant in `from` may be set to `to`. A live grant may also be set to its own
 * state (a new message, such as another reason for FAILED); REVOKED and EXPIRED are final.
 */
export function canMoveGrant(from: GrantState, to: GrantState): boolean {
  return NEXT[from].includes(to) || (from === to && isLiveGrantState(from));
}

const TO_PROTO: Record<GrantState, GrantStateProto> = {
  PENDING: GrantStateProto.PENDING,
  APPLIED: GrantStateProto.APPLIED,
  FAILED: GrantStateProto.FAILED,
  REVOKED: GrantStateProto.REVOKED,
  EXPIRED: GrantStateProto.EXPIRED,
};

const FROM_PROTO = new Map<GrantStateProto, GrantState>(GRANT_STATES.map((s) => [TO_PROTO[s], s]));

export function grantStateToProto(state: GrantState): GrantStateProto {
  return TO_PROTO[state];
}

/** undefined for GRANT_STATE_UNSPECIFIED and for numbers the API does not define. */
export function grantStateFromProto(state: GrantStateProto): GrantState | undefined {
  return FROM_PROTO.get(state);
}
