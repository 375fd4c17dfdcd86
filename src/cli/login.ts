/**
 * `kubegate login | logout | whoami`. The API key is read from stdin or a prompt, never
 * from argv (argv is visible to every user of the machine); or, with --oidc / --device,
 * the person logs in at the identity provider the control plane names. Either is checked
 * with WhoAmI, and stored with the server and its CA in a 0600 file.
 */
import { readFile, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { checkExchangeFlags, exchangeFlags, exchangeForApiKey, exchangeHelp } from "./login-exchange.ts";
import { outputFormat, render, result } from "./output.ts";
import type { WhoAmIResponse } from "../../gen/kubegate/v1/identity_pb.ts";
import { explain } from "./explain.ts";
import { loginWithBrowser, loginWithDevice, revokeRefreshToken } from "./oidc.ts";
import { cacheDir, loadSession, removeSession, saveSession, type OidcLogin, type Session } from "./session.ts";

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
  const { values } = parseFlags("login", argv, {
    server: { type: "string" },
    "ca-file": { type: "string" },
    oidc: { type: "boolean" },
    device: { type: "boolean" },
    "no-browser": { type: "boolean" },
    help: { type: "boolean", short: "h" },
    output: { type: "string", short: "o" },
    ...exchangeFlags,
  });
  if (values.help) {
    process.stdout.write(
      "Usage: kubegate login --server <control-plane URL> [--ca-file FILE] [--oidc [--no-browser] | --device | --exchange] [-o json|yaml]\n\n" +
        "Reads your API key from stdin, or prompts for it.\n" +
        "--oidc logs in at the identity provider the control plane names: a browser opens\n" +
        "  (authorization code with PKCE, answered on 127.0.0.1); --no-browser only prints the URL.\n" +
        "--device is for machines without a browser: it prints a URL and a code to enter on\n" +
        "  another device. The refresh token is kept in the 0600 session file.\n" +
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
  const where = { server: server.origin, ...(caPem === undefined ? {} : { caPem }) };
  if ([values.oidc, values.device, values.exchange].filter(Boolean).length > 1) throw usageError("kubegate login: --oidc, --device and --exchange are ways to log in: pick one");
  let session: Session;
  if (values.oidc || values.device) session = { ...where, oidc: await oidcLogin(where, { device: values.device === true, noBrowser: values["no-browser"] === true }) };
  else {
    const apiKey = values.exchange ? await exchangeForApiKey(where, { tokenFile: values["token-file"], ttl: values.ttl }) : await readSecret("API key: ");
    if (apiKey === "") throw usageError("kubegate login: no API key given on stdin");
    session = { ...where, apiKey };
  }
  const me = await clientsFor(session).identity.whoAmI({}).catch((err: unknown) => {
    throw explain(err);
  });
  const file = await saveSession(session);
  process.stdout.write(
    result(format, { ...identity(session.server, me), sessionFile: file }, () => `logged in to ${session.server} as ${me.subject}${me.admin ? " (admin)" : ""}; saved to ${file}\n`),
  );
  return 0;
}

/** Logs in at the identity provider that the control plane's GetLoginConfig names. */
async function oidcLogin(where: Pick<Session, "server" | "caPem">, opts: { device: boolean; noBrowser: boolean }): Promise<OidcLogin> {
  const config = await clientsFor(where).identity.getLoginConfig({}).catch((err: unknown) => {
    throw explain(err);
  });
  if (config.oidc === undefined)
    throw new CliError(`${where.server} accepts API keys only: it has no identity provider configured (kubegate serve --oidc-issuer-url, --oidc-client-id)`);
  const client = { issuerUrl: config.oidc.issuerUrl, clientId: config.oidc.clientId, scopes: config.oidc.scopes };
  const print = (line: string) => process.stderr.write(line);
  const tokens = opts.device ? await loginWithDevice(client, { print }) : await loginWithBrowser(client, { noBrowser: opts.noBrowser, timeoutMs: 300_000, print });
  return { ...client, ...tokens };
}

/** Who the caller is, for scripts: the same shape from login and whoami. */
function identity(server: string, me: WhoAmIResponse) {
  return { server, subject: me.subject, groups: me.groups, admin: me.admin, authenticatedBy: me.authenticatedBy };
}

export async function runLogout(argv: string[]): Promise<number> {
  const { values } = parseFlags("logout", argv, { output: { type: "string", short: "o" } });
  const format = outputFormat(values.output);
  // The provider forgets the refresh token too, when it can (best effort: offline is fine).
  const session = await loadSession().catch(() => undefined);
  if (session?.oidc?.refreshToken !== undefined) await revokeRefreshToken(session.oidc, session.oidc.refreshToken);
  const removed = await removeSession();
  await rm(cacheDir(), { recursive: true, force: true });
  process.stdout.write(result(format, { loggedOut: removed }, () => (removed ? "logged out\n" : "not logged in\n")));
  return 0;
}

export async function runWhoami(argv: string[]): Promise<number> {
  const { values } = parseFlags("whoami", argv, { output: { type: "string", short: "o" } });
  const session = await loadSession();
  const me = await clientsFor(session, { interactive: process.stdin.isTTY === true }).identity.whoAmI({});
  const data = identity(session.server, me);
  process.stdout.write(
    render(outputFormat(values.output), data, ["SUBJECT", "GROUPS", "ADMIN", "SERVER"], () => [
      [me.subject, me.groups.join(",") || "<none>", String(me.admin), session.server],
    ]),
  );
  return 0;
}
