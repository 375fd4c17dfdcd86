/**
 * `kubegate serve [control|data]`: runs both planes (the embedded default), the control
 * plane alone, or a data-plane replica; prints one line per listener; drains on SIGTERM.
 */
import { parseArgs } from "node:util";
import { ConfigError, envName, resolveServeConfig, serveOptions } from "../config/serve-config.ts";
import { createLogger } from "../log.ts";
import { startKubegate, type ServeMode } from "../serve/kubegate.ts";
import { isDataWorker, runDataWorker } from "../serve/workers.ts";

export function serveHelp(): string {
  const lines = Object.values(serveOptions).map(
    (o) => `  --${o.flag.padEnd(28)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ""}\n  ${"".padEnd(30)} env ${envName(o.flag)}`,
  );
  return (
    "Usage: kubegate serve [control | data] [flags]\n\n" +
    "  kubegate serve           control plane and data plane in one process, embedded SQLite by default\n" +
    "  kubegate serve control   the control plane alone\n" +
    "  kubegate serve data      a data-plane replica: --control <url> --control-token-file <file>\n\n" +
    `Flags:\n${lines.join("\n")}\n`
  );
}

export async function runServe(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (isDataWorker()) return runDataWorker();
  const mode: ServeMode = argv[0] === "control" ? "control" : argv[0] === "data" ? "data" : "all";
  const rest = mode === "all" ? argv : argv.slice(1);
  const options = Object.fromEntries(Object.values(serveOptions).map((o) => [o.flag, { type: "string" as const }]));
  let config;
  try {
    const parsed = parseArgs({ args: rest, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: false, strict: true });
    if (parsed.values.help) {
      out.write(serveHelp());
      return 0;
    }
    config = resolveServeConfig(parsed.values as Record<string, string | undefined>);
  } catch (err) {
    process.stderr.write(`kubegate serve: ${(err as Error).message}\n${err instanceof ConfigError ? "" : `\n${serveHelp()}`}`);
    return 2;
  }
  const log = createLogger({ level: config.logLevel });
  const started = Date.now();
  let kubegate;
  try {
    kubegate = await startKubegate(mode, config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kubegate serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // Handlers go in before the banner: a supervisor may signal as soon as it reads it.
  const stopped = new Promise<void>((resolve) => {
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
  out.write(kubegate.banner.join("\n") + "\n");
  log.info({ mode, startupMs: Date.now() - started }, "kubegate ready");
  await stopped;
  await kubegate.close();
  log.info("stopped");
  return 0;
}
