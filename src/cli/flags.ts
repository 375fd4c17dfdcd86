/**
 * Flag parsing for every command: node:util parseArgs, strict, with mistakes turned into
 * usage errors (exit 2) that name the command.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { usageError } from "./cli-error.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseFlags<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  opts: { positionals?: number } = {},
): { values: { [K in keyof O]?: O[K]["type"] extends "boolean" ? boolean : O[K] extends { multiple: true } ? string[] : string }; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: (opts.positionals ?? 0) > 0, strict: true });
    if (parsed.positionals.length > (opts.positionals ?? 0)) throw new Error(`unexpected argument ${JSON.stringify(parsed.positionals.at(-1))}`);
    return parsed as never;
  } catch (err) {
    throw usageError(`kubegate ${command}: ${(err as Error).message}`);
  }
}
