/**
 * The `kubegate` command: dispatches to one module per command group, imported lazily so
 * that `kube-token` with a warm cache loads almost nothing (kubectl runs it on every call).
 */
import { KUBEGATE_VERSION } from "../version.ts";
import { CliError } from "./cli-error.ts";

const usage = `Usage: kubegate <command> [flags]

Serving:
  serve [control|data]        run kubegate (both planes, embedded SQLite by default)
  agent                       run the agent inside a private cluster
  demo                        kubegate with a built-in demo member cluster and a kubegate-demo context

Using clusters:
  login --server URL          store the control plane and your API key (read from stdin or a prompt);
                              --oidc (browser) or --device logs in at your identity provider,
                              --exchange trades a CI job's ID token for a short-lived key
  logout | whoami
  kubeconfig add|remove|list  kubegate's entries in your kubeconfig, for plain kubectl
  kube-token --cluster NAME   print an ExecCredential (kubectl runs this)
  proxy                       a local plain-HTTP proxy to every cluster you may use

Administration:
  cluster register|list|get|update|remove
  grant create|list|revoke
  apikey create|list|revoke
  audit [--cluster NAME] [--user SUBJECT]   recent requests and changes, newest first

Run "kubegate <command> --help" for a command's flags.
`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.ts")).runServe,
  agent: async () => (await import("./agent.ts")).runAgent,
  demo: async () => (await import("./demo.ts")).runDemo,
  login: async () => (await import("./login.ts")).runLogin,
  logout: async () => (await import("./login.ts")).runLogout,
  whoami: async () => (await import("./login.ts")).runWhoami,
  "kube-token": async () => (await import("./kube-token.ts")).runKubeToken,
  kubeconfig: async () => (await import("./kubeconfig.ts")).runKubeconfig,
  proxy: async () => (await import("./proxy.ts")).runProxy,
  cluster: async () => (await import("./cluster.ts")).runCluster,
  grant: async () => (await import("./grant.ts")).runGrant,
  apikey: async () => (await import("./apikey.ts")).runApikey,
  audit: async () => (await import("./audit.ts")).runAudit,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "version" || command === "--version") {
    process.stdout.write(`kubegate ${KUBEGATE_VERSION}\n`);
    return 0;
  }
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(usage);
    return command === undefined ? 2 : 0;
  }
  const load = commands[command];
  if (load === undefined) {
    process.stderr.write(`kubegate: unknown command ${JSON.stringify(command)}\n\n${usage}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (err) {
    const { explain } = await import("./explain.ts");
    const e = err instanceof CliError ? err : explain(err);
    process.stderr.write(`error: ${e.message}\n`);
    return e.exitCode;
  }
}
