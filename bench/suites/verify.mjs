/**
 * What checking a data-plane token costs per request: the verifier from dist/ with a
 * cold cache (the Ed25519 signature is checked) and a warm one (claims from the cache),
 * in this process, with tokens from the real signer over a real (SQLite) store.
 */
import { randomBytes, verify as cryptoVerify, createPublicKey } from "node:crypto";
import { join } from "node:path";
import { importDist } from "../lib/paths.mjs";
import { summarize } from "../lib/stats.mjs";

const ISSUER = "kubegate";
const CLUSTER = "bench";

/** Times `fn(i)` for i in [0, n) one at a time; returns per-call µs samples and the total. */
async function timeEach(n, fn) {
  const samples = new Float64Array(n);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    samples[i] = (performance.now() - t0) * 1000;
  }
  return { samples, totalUs: (performance.now() - started) * 1000 };
}

function row(what, n, { samples, totalUs }) {
  const s = summarize(samples);
  return { verify: what, tokens: n, "µs/verify (mean)": totalUs / n, p50_us: s.p50, p99_us: s.p99, max_us: s.max, "verifies/s": n / (totalUs / 1e6) };
}

export default {
  name: "verify",
  description: "token verification cost per request, cache cold (signature) and warm (cache hit), in-process",
  async run(ctx) {
    const n = ctx.quick ? 2_000 : 20_000;
    const { createTokenVerifier } = await importDist("src/token/verifier.js");
    const { createTokenSigner } = await importDist("src/token/signer.js");
    const { openStore } = await importDist("src/store/open.js");
    const dir = await ctx.tempDir("kubegate-bench-verify-");
    const store = await openStore({ dataDir: join(dir, "data"), encryptionKey: randomBytes(32) });
    ctx.defer(() => store.close());
    const signer = createTokenSigner({ keys: store.signingKeys, issuer: ISSUER, maxTtlMs: 60 * 60 * 1000 });

    ctx.log(`verify: minting ${n} tokens`);
    const tokens = [];
    for (let i = 0; i < n; i++) {
      const { token } = await signer.sign({ subject: `user-${i % 500}`, cluster: CLUSTER, groups: ["dev", "bench"], grants: [`grant-${i % 500}`], ttlMs: 15 * 60 * 1000 });
      tokens.push(token);
    }
    const keys = (await signer.publicKeys()).map((k) => ({ kid: k.kid, x: k.publicX }));
    const verifier = createTokenVerifier({ issuer: ISSUER, cacheSize: n * 2 });
    verifier.setKeys(keys);

    // A few hundred throw-away verifications so JIT warm-up is not billed to the first tokens.
    const warmVerifier = createTokenVerifier({ issuer: ISSUER });
    warmVerifier.setKeys(keys);
    for (let i = 0; i < Math.min(500, n); i++) await warmVerifier.verify(tokens[n - 1 - i], CLUSTER);

    ctx.log("verify: cold (each token's first verify: signature check)");
    const cold = await timeEach(n, (i) => verifier.verify(tokens[i], CLUSTER));
    ctx.log("verify: warm (second verify of each: cache hit)");
    const warm = await timeEach(n, (i) => verifier.verify(tokens[i], CLUSTER));

    // For scale: the bare Ed25519 check with node:crypto, no JOSE parsing or claim checks.
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: keys[0].x }, format: "jwk" });
    const parsed = tokens.map((t) => {
      const dot = t.lastIndexOf(".");
      return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), "base64url") };
    });
    const bare = await timeEach(n, (i) => {
      if (!cryptoVerify(null, parsed[i].data, publicKey, parsed[i].sig)) throw new Error("bad signature");
    });

    await store.close();
    const rows = [row("cold (signature check)", n, cold), row("warm (cache hit)", n, warm), row("node:crypto Ed25519 verify alone", n, bare)];
    return {
      rows,
      notes: [
        `${n} distinct tokens from createTokenSigner (SQLite store, one Ed25519 key), verified one at a time (await each) by createTokenVerifier from dist/, cache size ${n * 2}.`,
        "cold: first verify of each token (jose jwtVerify: signature, issuer, expiry, claims); warm: the same tokens again (cache hit, expiry and audience checks).",
        "The last row is the bare signature check with node:crypto for scale: what the cold path costs beyond it is JOSE parsing and WebCrypto.",
        "p50/p99 per call include performance.now() (≈0.1 µs) and an await.",
      ],
    };
  },
};
