/**
 * Creating API keys: a kgk_ secret returned once, only its SHA-256 stored. Shared by
 * CreateApiKey, the token exchange and the bootstrap admin key.
 */
import { randomBytes } from "node:crypto";
import type { ApiKeyRecord, IdempotentResult } from "../store/types.ts";
import { hashSecret, newApiKeySecret } from "./authenticator.ts";
import type { ControlDeps } from "./deps.ts";

/** Creates and stores an API key; returns the record and its one-time secret. */
export async function createApiKey(
  deps: Pick<ControlDeps, "store" | "clock">,
  fields: { name: string; subject: string; groups: string[]; expiresAt: Date | null; createdBy: string },
  remember?: (record: ApiKeyRecord, secret: string) => IdempotentResult | undefined,
): Promise<{ record: ApiKeyRecord; secret: string }> {
  const secret = newApiKeySecret();
  const record: ApiKeyRecord = {
    id: `ak-${randomBytes(6).toString("hex")}`,
    ...fields,
    secretHash: hashSecret(secret),
    createdAt: deps.clock(),
    revokedAt: null,
    lastUsedAt: null,
  };
  await deps.store.apiKeys.create(record, remember?.(record, secret));
  return { record, secret };
}
