/**
 * What a verified CI token may become: its bound claims must match the issuer's
 * configuration, and its claims name the subject and groups of the API key it trades
 * for. Pure decisions on claims already verified; refusals say which claim, never what
 * value was expected (that is policy, and stays in the log and the config file).
 */
import { claimText, renderClaimTemplate } from "../config/claim-template.ts";
import type { ExchangeIssuer } from "../config/token-exchange-config.ts";
import { errors, type KubegateError } from "../errors.ts";
import * as v from "./validate.ts";

const q = (s: string) => JSON.stringify(s);

/** Throws PermissionDenied naming the first bound claim the token lacks or does not match. */
export function checkBoundClaims(issuer: ExchangeIssuer, claims: Record<string, unknown>): void {
  for (const [name, allowed] of Object.entries(issuer.claims)) {
    const value = claimText(claims[name]);
    if (value === undefined) throw errors.forbidden(`the subject token has no claim ${q(name)}, which this kubegate requires of tokens from ${issuer.issuer}`);
    if (!allowed.includes(value)) throw errors.forbidden(`the subject token's claim ${q(name)} is not one this kubegate accepts from ${issuer.issuer}`);
  }
}

/**
 * The subject and groups the claims map to. A missing subject claim refuses the token; a
 * group whose claim is missing is left out. Names built from claim values are checked as
 * API-key subjects are, and may not become kubegate's own admin or data-plane group: a
 * value a CI user controls (an environment name, say) must never grant kubegate itself.
 */
export function mapIdentity(issuer: ExchangeIssuer, claims: Record<string, unknown>, reserved: { adminGroup: string; dataPlaneGroup: string }): { subject: string; groups: string[] } {
  const named = (field: string, value: string) => {
    try {
      return v.subjectName(field, value);
    } catch (err) {
      throw errors.forbidden(`the subject token's claims map to an unusable ${(err as KubegateError).rawMessage}`);
    }
  };
  const subject = renderClaimTemplate(issuer.subject, claims);
  if ("missing" in subject) throw errors.forbidden(`the subject token has no claim ${q(subject.missing)}, which names the caller (${issuer.subject.text})`);
  const groups: string[] = [];
  issuer.groups.forEach((t, i) => {
    const g = renderClaimTemplate(t, claims);
    if ("missing" in g) return;
    const name = named(`groups[${i}]`, g.value);
    if (t.claims.length > 0 && (name === reserved.adminGroup || name === reserved.dataPlaneGroup))
      throw errors.forbidden(`the subject token's claims map to ${q(name)}, a group exchanged credentials may not hold`);
    if (!groups.includes(name)) groups.push(name);
  });
  return { subject: named("subject", subject.value), groups };
}
