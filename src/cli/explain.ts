/**
 * Translates failures (control-plane calls, network) into what a person should do.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { CliError } from "./cli-error.ts";

/** Words for a failed call to the control plane, with the hint a person needs. */
export function explain(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConnectError) {
    switch (err.code) {
      case Code.Unauthenticated:
        return new CliError(`${err.rawMessage}: run \`kubegate login\` with a valid API key`);
      case Code.Unavailable:
        return new CliError(`cannot reach the kubegate control plane: ${err.rawMessage}`);
      default:
        return new CliError(err.rawMessage);
    }
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ECONNREFUSED") return new CliError(`cannot reach the kubegate control plane (${e.message})`);
  return new CliError(e instanceof Error ? e.message : String(err));
}
