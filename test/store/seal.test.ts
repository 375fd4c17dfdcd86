/** Sealing secrets at rest, and where the key comes from. */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSealer, EncryptionKeyError, GENERATED_KEY_FILE, loadOrCreateEncryptionKey, SealError } from "../../src/store/seal.ts";

describe("createSealer", () => {
  const key = randomBytes(32);

  it("round-trips text, with a fresh IV each time and no plaintext in the output", () => {
    const sealer = createSealer(key);
    const secret = "bearer token ✓ with unicode";
    const a = sealer.seal(secret);
    const b = sealer.seal(secret);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1:[\w-]{16}:[\w-]{22}:[\w-]+$/);
    expect(a).not.toContain("bearer");
    expect(sealer.open(a)).toBe(secret);
    expect(sealer.open(b)).toBe(secret);
    expect(sealer.open(sealer.seal(""))).toBe("");
  });

  it("says 'wrong encryption key?' when opened with another key", () => {
    const sealed = createSealer(key).seal("secret");
    const open = () => createSealer(randomBytes(32)).open(sealed);
    expect(open).toThrow(SealError);
    expect(open).toThrow(/cannot decrypt .*wrong encryption key\?/);
  });

  it("refuses a value moved to another context, altered, truncated or of an unknown format", () => {
    const sealer = createSealer(key);
    const sealed = sealer.seal("secret", "cluster:prod");
    expect(sealer.open(sealed, "cluster:prod")).toBe("secret");
    expect(() => sealer.open(sealed, "cluster:dev")).toThrow(SealError);
    expect(() => sealer.open(sealed)).toThrow(SealError);

    const parts = sealed.split(":");
    const body = Buffer.from(parts[3] ?? "", "base64url");
    body[0] = (body[0] ?? 0) ^ 1;
    expect(() => sealer.open([parts[0], parts[1], parts[2], body.toString("base64url")].join(":"), "cluster:prod")).toThrow(SealError);
    expect(() => sealer.open([parts[0], "AAAA", parts[2], parts[3]].join(":"), "cluster:prod")).toThrow(/truncated or corrupt/);
    expect(() => sealer.open("plaintext")).toThrow(/unknown format/);
    expect(() => sealer.open(`v2:${sealed.slice(3)}`)).toThrow(/unknown format/);
  });

  it("needs a 32-byte key", () => {
    expect(() => createSealer(randomBytes(16))).toThrow(EncryptionKeyError);
  });
});

describe("loadOrCreateEncryptionKey", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "kubegate-key-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("generates <dataDir>/encryption.key (0600) on first start and reuses it", async () => {
    const dataDir = join(await tempDir(), "nested", "data");
    const first = await loadOrCreateEncryptionKey({ dataDir });
    expect(first).toHaveLength(32);
    const file = join(dataDir, GENERATED_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    expect(Buffer.from((await readFile(file, "utf8")).trim(), "base64")).toEqual(first);
    expect(await loadOrCreateEncryptionKey({ dataDir })).toEqual(first);
  });

  it("agrees on one key when two processes start at once", async () => {
    const dataDir = await tempDir();
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateEncryptionKey({ dataDir })));
    for (const k of keys) expect(k).toEqual(keys[0]);
  });

  it("takes the key from the environment value or a key file", async () => {
    const dataDir = await tempDir();
    const key = randomBytes(32);
    expect(await loadOrCreateEncryptionKey({ dataDir, envValue: ` ${key.toString("base64")}\n` })).toEqual(key);
    const keyFile = join(dataDir, "mounted.key");
    await writeFile(keyFile, `${key.toString("base64")}\n`);
    expect(await loadOrCreateEncryptionKey({ dataDir, keyFile })).toEqual(key);
    // Neither source writes a generated key.
    await expect(stat(join(dataDir, GENERATED_KEY_FILE))).rejects.toThrow();
  });

  it("rejects malformed keys, a missing key file and two sources at once, saying what to do", async () => {
    const dataDir = await tempDir();
    await expect(loadOrCreateEncryptionKey({ dataDir, envValue: randomBytes(16).toString("base64") })).rejects.toThrow(
      /decodes to 16 bytes; it must be the base64 of exactly 32 random bytes/,
    );
    await expect(loadOrCreateEncryptionKey({ dataDir, envValue: "not base64!" })).rejects.toThrow(/not valid base64/);
    await expect(loadOrCreateEncryptionKey({ dataDir, keyFile: join(dataDir, "missing.key") })).rejects.toThrow(
      /cannot read the encryption key file/,
    );
    const keyFile = join(dataDir, "short.key");
    await writeFile(keyFile, "c2hvcnQ=");
    await expect(loadOrCreateEncryptionKey({ dataDir, keyFile })).rejects.toThrow(EncryptionKeyError);
    await expect(
      loadOrCreateEncryptionKey({ dataDir, keyFile, envValue: randomBytes(32).toString("base64") }),
    ).rejects.toThrow(/set only one/);
  });
});
