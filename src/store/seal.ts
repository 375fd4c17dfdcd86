/**
 * Sealing of secrets at rest (cluster credentials, signing private keys) with AES-256-GCM,
 * and loading of the 32-byte key that does it. A stolen database file or dump alone then
 * reveals no credential; the key lives apart from it (file with mode 0600, or env var).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Sealed values start with this, so a later format (or key rotation) can coexist. */
const FORMAT_V1 = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value could not be opened: wrong key, or the value was altered or truncated. */
export class SealError extends Error {
  override readonly name = "SealError";
}

/** The encryption key is missing, malformed or ambiguous. */
export class EncryptionKeyError extends Error {
  override readonly name = "EncryptionKeyError";
}

export interface Sealer {
  /**
   * Encrypts `plain`. `context` (e.g. "cluster:prod") is authenticated but not stored: a
   * sealed value copied into another row then fails to open instead of being used there.
   */
  seal(plain: string, context?: string): string;
  /** Decrypts what `seal` produced with the same key and context; throws SealError otherwise. */
  open(sealed: string, context?: string): string;
}

/** Format: `v1:<iv b64url>:<tag b64url>:<ciphertext b64url>`, a fresh random IV per value. */
export function createSealer(key: Buffer): Sealer {
  if (key.length !== KEY_BYTES) {
    throw new EncryptionKeyError(`the encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
  }
  const secret = Buffer.from(key);

  return {
    seal(plain, context = "") {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", secret, iv);
      cipher.setAAD(Buffer.from(context, "utf8"));
      const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [FORMAT_V1, iv.toString("base64url"), tag.toString("base64url"), ciphertext.toString("base64url")].join(":");
    },

    open(sealed, context = "") {
      const parts = sealed.split(":");
      if (parts.length !== 4 || parts[0] !== FORMAT_V1) {
        throw new SealError(`cannot decrypt a sealed secret: unknown format (expected "${FORMAT_V1}:…")`);
      }
      const iv = Buffer.from(parts[1] ?? "", "base64url");
      const tag = Buffer.from(parts[2] ?? "", "base64url");
      const ciphertext = Buffer.from(parts[3] ?? "", "base64url");
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new SealError("cannot decrypt a sealed secret: the value is truncated or corrupt");
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", secret, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, "utf8"));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
      } catch (cause) {
        throw new SealError(
          "cannot decrypt a sealed secret: wrong encryption key? (the data was sealed with another key, or altered)",
          { cause },
        );
      }
    },
  };
}

export interface EncryptionKeyOptions {
  /** Where the generated key goes: `<dataDir>/encryption.key`. */
  dataDir: string;
  /** A file holding the base64 key (e.g. a mounted Kubernetes Secret). */
  keyFile?: string;
  /** The base64 key from an environment variable. */
  envValue?: string;
}

/** File name of the key generated on first start. */
export const GENERATED_KEY_FILE = "encryption.key";

/**
 * Returns the key from `envValue` or `keyFile`, else from `<dataDir>/encryption.key`,
 * generating that file (mode 0600) on first start. Setting both sources is an error:
 * sealing with a key the operator did not mean would lock the secrets away.
 */
export async function loadOrCreateEncryptionKey(options: EncryptionKeyOptions): Promise<Buffer> {
  const envValue = options.envValue?.trim() || undefined;
  if (envValue && options.keyFile) {
    throw new EncryptionKeyError("the encryption key is set both by a file and by an environment variable; set only one");
  }
  if (envValue) return decodeKey(envValue, "the encryption key from the environment");
  if (options.keyFile) return decodeKey(await readKeyFile(options.keyFile), `the encryption key file ${options.keyFile}`);

  const path = join(options.dataDir, GENERATED_KEY_FILE);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const fresh = randomBytes(KEY_BYTES);
  try {
    // "wx" fails if the file exists, so two processes starting at once keep one key.
    await writeFile(path, `${fresh.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return fresh;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return decodeKey(await readKeyFile(path), `the encryption key file ${path}`);
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new EncryptionKeyError(`cannot read the encryption key file ${path}: ${(cause as Error).message}`, { cause });
  }
}

function decodeKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  const hint = `it must be the base64 of exactly ${KEY_BYTES} random bytes (e.g. \`openssl rand -base64 32\`)`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    throw new EncryptionKeyError(`${source} is not valid base64; ${hint}`);
  }
  const key = Buffer.from(trimmed, "base64");
  if (key.length !== KEY_BYTES) {
    throw new EncryptionKeyError(`${source} decodes to ${key.length} bytes; ${hint}`);
  }
  return key;
}
