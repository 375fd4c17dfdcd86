/**
 * `kubegate serve [control]`: runs the control plane (and, once built, the data plane
 * beside it), prints one line per listener, and drains on SIGTERM/SIGINT.
 */
import { parseArgs } from "node:util";
import { ConfigError, envName, resolveServeConfig, serveOptions } from "../config/serve-config.ts";
import { createLogger } from "../log.ts";
import { BOOTSTRAP_KEY_FILE, startControlPlane } from "../serve/control-plane.ts";
import { join } from "node:path";

export function serveHelp(): string {
  const lines = Object.values(serveOptions).map(
    (o) => `  --${o.flag.padEnd(28)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ""}\n  ${"".padEnd(30)} env ${envName(o.flag)}`,
  );
  return `Usage: kubegate serve [control] [flags]\n\nRuns kubegate with the embedded SQLite store by default.\n\nFlags:\n${lines.join("\n")}\n`;
}

export async function runServe(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [mode, ...rest] = argv[0] === "control" ? ["control", ...argv.slice(1)] : ["all", ...argv];
  const options = Object.fromEntries(Object.values(serveOptions).map((o) => [o.flag, { type: "string" as const }]));
  let flags: Record<string, string | undefined>;
  try {
    const parsed = parseArgs({ args: rest, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: false, strict: true });
    if (parsed.values.help) {
      out.write(serveHelp());
      return 0;
    }
    flags = parsed.values as Record<string, string | undefined>;
  } catch (err) {
    process.stderr.write(`kubegate serve: ${(err as Error).message}\n\n${serveHelp()}`);
    return 2;
  }
  let config;
  try {
    config = resolveServeConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kubegate serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });
  const started = Date.now();
  const control = await startControlPlane(config, log);
  if (control.bootstrapAdminKey !== undefined) {
    out.write(
      `bootstrap admin API key (shown once; also in ${join(config.dataDir, BOOTSTRAP_KEY_FILE)}, mode 0600):\n  ${control.bootstrapAdminKey}\n`,
    );
  }
  out.write(`control plane listening on ${control.url}\n`);
  out.write(`CA certificate: ${join(config.dataDir, "ca.crt")}\n`);
  log.info({ mode, controlUrl: control.url, startupMs: Date.now() - started }, "kubegate ready");

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down: draining in-flight calls");
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      resolve();
    };
    const onTerm = () => stop("SIGTERM");
    const onInt = () => stop("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  });
  await control.close();
  log.info("stopped");
  return 0;
}
