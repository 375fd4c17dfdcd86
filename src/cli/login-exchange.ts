/**
 * `kubegate login --exchange`: a CI job trades its ID token for a short-lived kubegate API
 * key (ExchangeToken), and the login goes on as with any key. The token comes from stdin
 * or --token-file, never argv, which every user of the machine can read.
 */
import { readFile } from "node:fs/promises";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseDuration } from "../config/duration.ts";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import type { Session } from "./session.ts";

/** The flags `login` takes for the exchange. */
export const exchangeFlags = {
  exchange: { type: "boolean" },
  "token-file": { type: "string" },
  ttl: { type: "string" },
} as const;

export const exchangeHelp =
  "\nCI without stored secrets (docs/ci-token-exchange.md):\n" +
  "  kubegate login --server URL --exchange [--token-file FILE] [--ttl 30m]\n" +
  "  trades the CI job's OIDC ID token (stdin, or --token-file) for a short-lived API key.\n";

/** Refuses exchange-only flags on a plain login. */
export function checkExchangeFlags(values: { exchange?: boolean; "token-file"?: string; ttl?: string }): void {
  if (values.exchange !== true && (values["token-file"] !== undefined || values.ttl !== undefined))
    throw usageError("kubegate login: --token-file and --ttl go with --exchange");
}

async function subjectToken(tokenFile: string | undefined): Promise<string> {
  let text: string;
  if (tokenFile !== undefined) {
    try {
      text = await readFile(tokenFile, "utf8");
    } catch (err) {
      throw new CliError(`cannot read --token-file: ${(err as Error).message}`);
    }
  } else {
    if (process.stdin.isTTY) throw usageError("kubegate login --exchange: pipe the CI job's ID token into stdin, or name a file with --token-file");
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString("utf8");
  }
  const token = text.trim();
  if (token === "") throw usageError(`kubegate login --exchange: no ID token in ${tokenFile ?? "stdin"}`);
  return token;
}

/** Exchanges the CI token at `server` and returns the API key to log in with. */
export async function exchangeForApiKey(where: Pick<Session, "server" | "caPem">, opts: { tokenFile: string | undefined; ttl: string | undefined }): Promise<string> {
  let ttlMs: number | undefined;
  if (opts.ttl !== undefined) {
    try {
      ttlMs = parseDuration(opts.ttl);
    } catch (err) {
      throw usageError(`kubegate login: --ttl: ${(err as Error).message}`);
    }
  }
  const subject = await subjectToken(opts.tokenFile);
  try {
    const res = await clientsFor(where).identity.exchangeToken({ subjectToken: subject, ...(ttlMs === undefined ? {} : { ttl: durationFromMs(ttlMs) }) });
    const until = res.expireTime === undefined ? "" : `, valid until ${new Date(Number(res.expireTime.seconds) * 1000).toISOString()}`;
    process.stderr.write(`exchanged the CI token for API key ${res.apiKeyId} (${res.subject})${until}\n`);
    return res.accessToken;
  } catch (err) {
    // The control plane answered: its words say what is wrong with the token or the config.
    if (err instanceof ConnectError && !(err.code === Code.Unavailable && err.cause !== undefined)) throw new CliError(`token exchange failed: ${err.rawMessage}`);
    throw err;
  }
}
