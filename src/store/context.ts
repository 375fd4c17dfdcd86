/**
 * What every repository gets: the query layer, the sealer for secrets, and `mutate` for
 * writes that must land in the change log. Plus the row ↔ record conversions of instants.
 */
import type { Kysely } from "kysely";
import type { Mutate } from "./change-log.ts";
import type { Database } from "./schema.ts";
import type { Sealer } from "./seal.ts";

export interface StoreContext {
  db: Kysely<Database>;
  sealer: Sealer;
  mutate: Mutate;
}

/** Instants are stored as epoch milliseconds in both dialects. */
export function toMs(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new TypeError("the store cannot record an invalid Date");
  return ms;
}

export function toMsOrNull(date: Date | null): number | null {
  return date === null ? null : toMs(date);
}

/** Number() because a driver may hand back 64-bit integers as strings. */
export function toDate(ms: number | string): Date {
  return new Date(Number(ms));
}

export function toDateOrNull(ms: number | string | null): Date | null {
  return ms === null ? null : toDate(ms);
}
