/**
 * `kubegate login | logout | whoami`. The API key is read from stdin or a prompt, never
 * from argv (argv is visible to every user of the machine), checked with WhoAmI, and
 * stored with the server and its CA in a 0600 file.
 */
import { readFile, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { checkExchangeFlags, exchangeFlags, exchangeForApiKey, exchangeHelp } from "./login-exchange.ts";
import { outputFormat, render, result } from "./output.ts";
import type { WhoAmIResponse } from "../../gen/kubegate/v1/identity_pb.ts";
import { cacheDir, loadSession, removeSession, saveSession, type Session } from "./session.ts";

async function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8").trim();
  }
  // Interactive: do not echo the key.
  process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin, terminal: true });
  (rl as unknown as { _writeToOutput: () => void })._writeToOutput = () => undefined;
  const line = await new Promise<string>((resolve) => rl.once("line", resolve));
  rl.close();
  process.stderr.write("\n");
  return line.trim();
}

export async function runLogin(argv: string[]): Promise<number> {
  const { values } = parseFlags("login", argv, { server: { type: "string" }, "ca-file": { type: "string" }, help: { type: "boolean", short: "h" }, output: { type: "string", short: "o" }, ...exchangeFlags });
  if (values.help) {
    process.stdout.write(
      "Usage: kubegate login --server <control-plane URL> [--ca-file FILE] [-o json|yaml]\n\nReads your API key from stdin, or prompts for it.\n" +
        "-o json|yaml prints who you are (as kubegate whoami -o does) and where the session was saved.\n" +
        exchangeHelp,
    );
    return 0;
  }
  const format = outputFormat(values.output);
  checkExchangeFlags(values);
  if (values.server === undefined) throw usageError("kubegate login: --server <control-plane URL> is required");
  let server: URL;
  try {
    server = new URL(values.server);
  } catch {
    throw usageError(`kubegate login: --server ${JSON.stringify(values.server)} is not a URL`);
  }
  if (server.protocol !== "https:") throw usageError("kubegate login: --server must be an https:// URL");
  let caPem: string | undefined;
  if (values["ca-file"] !== undefined) {
    try {
      caPem = await readFile(values["ca-file"], "utf8");
    } catch (err) {
      throw new CliError(`cannot read --ca-file: ${(err as Error).message}`);
    }
  }
  const apiKey = values.exchange ? await exchangeForApiKey({ server: server.origin, caPem, tokenFile: values["token-file"], ttl: values.ttl }) : await readSecret("API key: ");
  if (apiKey === "") throw usageError("kubegate login: no API key given on stdin");
  const session: Session = { server: server.origin, apiKey, ...(caPem === undefined ? {} : { caPem }) };
  const me = await clientsFor(session).identity.whoAmI({});
  const file = await saveSession(session);
  process.stdout.write(
    result(format, { ...identity(session.server, me), sessionFile: file }, () => `logged in to ${session.server} as ${me.subject}${me.admin ? " (admin)" : ""}; saved to ${file}\n`),
  );
  return 0;
}

/** Who the caller is, for scripts: the same shape from login and whoami. */
function identity(server: string, me: WhoAmIResponse) {
  return { server, subject: me.subject, groups: me.groups, admin: me.admin, authenticatedBy: me.authenticatedBy };
}

export async function runLogout(argv: string[]): Promise<number> {
  const { values } = parseFlags("logout", argv, { output: { type: "string", short: "o" } });
  const format = outputFormat(values.output);
  const removed = await removeSession();
  await rm(cacheDir(), { recursive: true, force: true });
  process.stdout.write(result(format, { loggedOut: removed }, () => (removed ? "logged out\n" : "not logged in\n")));
  return 0;
}

export async function runWhoami(argv: string[]): Promise<number> {
  const { values } = parseFlags("whoami", argv, { output: { type: "string", short: "o" } });
  const session = await loadSession();
  const me = await clientsFor(session).identity.whoAmI({});
  const data = identity(session.server, me);
  process.stdout.write(
    render(outputFormat(values.output), data, ["SUBJECT", "GROUPS", "ADMIN", "SERVER"], () => [
      [me.subject, me.groups.join(",") || "<none>", String(me.admin), session.server],
    ]),
  );
  return 0;
}
