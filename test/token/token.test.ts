/**
 * Signing and verification of data-plane tokens: what verifies, what is refused and why,
 * and that rotation never breaks a live token.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, decodeProtectedHeader, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/types.ts";
import { createTokenSigner, type TokenSigner } from "../../src/token/signer.ts";
import { createTokenVerifier, TokenError, type TokenVerifier } from "../../src/token/verifier.ts";

let dir: string;
let store: Store;
let now = Date.parse("2026-11-22T10:00:00Z");
const clock = () => new Date(now);
let signer: TokenSigner;
let verifier: TokenVerifier;

async function refreshKeys() {
  verifier.setKeys((await signer.publicKeys()).map((k) => ({ kid: k.kid, x: k.publicX })));
}

async function rejection(token: string, cluster = "prod"): Promise<string> {
  try {
    await verifier.verify(token, cluster);
  } catch (err) {
    if (err instanceof TokenError) return err.rejection;
    throw err;
  }
  return "accepted";
}

const request = { subject: "alice", cluster: "prod", groups: ["dev"], grants: ["gr-1"], ttlMs: 15 * 60_000 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubegate-token-"));
  store = await openStore({ dataDir: dir, encryptionKey: randomBytes(32) });
  signer = createTokenSigner({ keys: store.signingKeys, issuer: "kubegate", maxTtlMs: 3_600_000, rotationPeriodMs: 24 * 3_600_000, clock });
  verifier = createTokenVerifier({ issuer: "kubegate", clock: () => now, leewaySeconds: 0 });
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("tokens", () => {
  it("verifies a fresh token and returns its claims", async () => {
    const t = await signer.sign(request);
    await refreshKeys();
    const claims = await verifier.verify(t.token, "prod");
    expect(claims).toMatchObject({ iss: "kubegate", sub: "alice", aud: "prod", groups: ["dev"], grants: ["gr-1"], jti: t.jti });
    expect(decodeProtectedHeader(t.token)).toEqual({ alg: "EdDSA", kid: t.kid, typ: "JWT" });
    expect(claims.exp - claims.iat).toBe(900);
  });

  it("refuses the wrong cluster, expiry, tampering, alg=none, unknown kid and foreign keys", async () => {
    const t = await signer.sign(request);
    await refreshKeys();
    expect(await rejection(t.token, "staging")).toBe("wrong-audience");

    const [h, p, s] = t.token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const forged = base64url.encode(JSON.stringify({ ...claims, aud: "staging" }));
    expect(await rejection(`${h}.${forged}.${s}`, "staging")).toBe("bad-signature");
    const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
    expect(await rejection(`${h}.${p}.${flipped}`)).toBe("bad-signature");

    const none = new UnsecuredJWT({ groups: [], grants: [] }).setIssuer("kubegate").setSubject("alice").setAudience("prod").setIssuedAt().setExpirationTime("5m").setJti("x").encode();
    expect(await rejection(none)).toBe("malformed");

    const wrongKid = base64url.encode(JSON.stringify({ alg: "EdDSA", kid: "nope", typ: "JWT" }));
    expect(await rejection(`${wrongKid}.${p}.${s}`)).toBe("unknown-key");

    const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const foreign = await new SignJWT({ groups: [], grants: [] })
      .setProtectedHeader({ alg: "EdDSA", kid: t.kid })
      .setIssuer("kubegate").setSubject("alice").setAudience("prod").setIssuedAt(Math.floor(now / 1000)).setExpirationTime(Math.floor(now / 1000) + 60).setJti("f")
      .sign(privateKey);
    expect(await rejection(foreign)).toBe("bad-signature");

    const hs = await new SignJWT({ groups: [], grants: [] }).setProtectedHeader({ alg: "HS256", kid: t.kid }).setIssuer("kubegate").setSubject("a").setAudience("prod").setIssuedAt().setExpirationTime("5m").setJti("h").sign(randomBytes(32));
    expect(await rejection(hs)).toBe("malformed");
    expect(await rejection("not.a.jwt")).toBe("malformed");

    // Verified once and cached: expiry is still enforced on every use.
    expect(await rejection(t.token)).toBe("accepted");
    now += 16 * 60_000;
    expect(await rejection(t.token)).toBe("expired");
  });

  it("rotates keys without breaking live tokens, and retires old keys after their tokens expire", async () => {
    const before = await signer.sign(request);
    await signer.rotate();
    const after = await signer.sign(request);
    expect(after.kid).not.toBe(before.kid);
    await refreshKeys();
    expect(await rejection(before.token)).toBe("accepted");
    expect(await rejection(after.token)).toBe("accepted");
    expect((await signer.publicKeys()).map((k) => k.kid)).toContain(before.kid);
    // A day later, the rotated key's tokens have all expired: it is no longer published.
    now += 2 * 3_600_000;
    expect((await signer.publicKeys()).map((k) => k.kid)).not.toContain(before.kid);
    // A key past its signing period hands over to a new one on the next sign.
    now += 25 * 3_600_000;
    const later = await signer.sign(request);
    expect(later.kid).not.toBe(after.kid);
  });
});
