/**
 * Secrets (API keys, agent bootstrap tokens and credentials) are kept only as their
 * SHA-256: the control plane stores it, the data plane compares against the synced copy,
 * so both must hash the same way.
 */
import { createHash } from "node:crypto";

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
