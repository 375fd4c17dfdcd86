/**
 * The `kubegate` command: dispatches to one module per command group.
 */
import { runServe } from "./serve.ts";

const usage = `Usage: kubegate <command> [flags]

Commands:
  serve            run the control plane and data plane (embedded SQLite by default)
  serve control    run the control plane alone
  version          print the version

Run "kubegate <command> --help" for a command's flags.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return runServe(rest);
    case "version":
    case "--version":
      process.stdout.write("kubegate 0.1.0\n");
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(usage);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`kubegate: unknown command ${JSON.stringify(command)}\n\n${usage}`);
      return 2;
  }
}
