/**
 * Dispatch for command groups (`cluster register|list|…`): one function per verb, and a
 * usage text naming them when the verb is missing or unknown.
 */
import { usageError } from "./cli-error.ts";

export type Verb = (argv: string[]) => Promise<number>;

export function dispatch(group: string, verbs: Record<string, Verb>, help: string): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const [verb, ...rest] = argv;
    if (verb === "--help" || verb === "-h" || verb === "help") {
      process.stdout.write(help);
      return 0;
    }
    const run = verb === undefined ? undefined : verbs[verb];
    if (run === undefined) throw usageError(`kubegate ${group}: ${verb === undefined ? "missing" : `unknown`} subcommand${verb ? ` ${JSON.stringify(verb)}` : ""}\n\n${help}`);
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(help);
      return 0;
    }
    return run(rest);
  };
}

/** `k=v` pairs from repeated --label flags. */
export function labelFlags(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) throw usageError(`--label must be key=value (got ${JSON.stringify(kv)})`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}
