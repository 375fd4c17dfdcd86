/**
 * Opaque page tokens for keyset pagination. They carry the last key seen and a hash of
 * the filter, so a token cannot be replayed against a different query.
 */
import { createHash } from "node:crypto";
import { errors } from "../errors.ts";

function filterHash(filter: unknown): string {
  return createHash("sha256").update(JSON.stringify(filter)).digest("base64url").slice(0, 10);
}

export function encodePageToken(after: string, filter: unknown): string {
  return Buffer.from(JSON.stringify({ a: after, f: filterHash(filter) })).toString("base64url");
}

/** The key to continue after, or undefined for the first page. */
export function decodePageToken(token: string, filter: unknown): string | undefined {
  if (token === "") return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString()) as { a?: unknown; f?: unknown };
    if (typeof parsed.a === "string" && parsed.f === filterHash(filter)) return parsed.a;
  } catch {
    // fall through to the error below
  }
  throw errors.invalid("page_token", "is not a page token from this query; start again without it");
}
