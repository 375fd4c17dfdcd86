/**
 * `kubegate agent`: the agent of a private cluster. Flags (each also from the environment,
 * KUBEGATE_AGENT_<FLAG>, so a pod spec can set them from a ConfigMap or Secret).
 */
import { readFile } from "node:fs/promises";
import { parseDuration } from "../config/duration.ts";
import { createLogger } from "../log.ts";
import { startAgent } from "../tunnel/agent.ts";
import { KUBEGATE_VERSION } from "../version.ts";
import { CliError, usageError } from "./cli-error.ts";
import { parseFlags } from "./flags.ts";

const help = `Usage: kubegate agent --gateway URL --gateway-ca-file FILE [flags]

  --gateway URL                the data plane's https URL (the agent dials out to it)
  --gateway-ca-file FILE       the CA the gateway's certificate must chain to
  --cluster NAME               the cluster this agent serves (checked by the gateway)
  --bootstrap-token-file FILE  the one-time token from \`kubegate cluster register --agent\`
  --state-dir DIR              where the agent keeps its own credential (default ./kubegate-agent)
  --kubeconfig FILE            reach the API server as this kubeconfig says (default: the pod's service account)
  --context NAME               context of --kubeconfig (default: its current-context)
  --front-proxy-cert-file FILE front-proxy identity mode: the client certificate to present (signed by the
                               API server's --requestheader-client-ca-file, its CN in --requestheader-allowed-names)
  --front-proxy-key-file FILE  its private key (both files are re-read every minute; the key never leaves the agent)
  --credential-max-age DUR     rotate the agent credential when older (default 720h)
  --log-level LEVEL            debug, info, warn, error (default info)

Every flag may also come from the environment: KUBEGATE_AGENT_GATEWAY, KUBEGATE_AGENT_STATE_DIR, …
`;

const FLAGS = ["gateway", "gateway-ca-file", "cluster", "bootstrap-token-file", "state-dir", "kubeconfig", "context", "front-proxy-cert-file", "front-proxy-key-file", "credential-max-age", "log-level"] as const;

const envName = (flag: string) => `KUBEGATE_AGENT_${flag.toUpperCase().replaceAll("-", "_")}`;

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw usageError(`kubegate agent: --${flag}: ${(err as Error).message}`);
  }
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(`cannot read --${flag} ${path}: ${(err as Error).message}`);
  }
}

export async function runAgent(argv: string[]): Promise<number> {
  const { values } = parseFlags("agent", argv, { ...Object.fromEntries(FLAGS.map((f) => [f, { type: "string" as const }])), help: { type: "boolean", short: "h" } });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const flag = (name: (typeof FLAGS)[number]) => (values as Record<string, string | undefined>)[name] ?? (process.env[envName(name)] || undefined);
  const gateway = flag("gateway");
  const caFile = flag("gateway-ca-file");
  if (gateway === undefined || caFile === undefined) throw usageError(`kubegate agent: --gateway and --gateway-ca-file are required\n\n${help}`);
  const tokenFile = flag("bootstrap-token-file");
  const frontProxyCert = flag("front-proxy-cert-file");
  const frontProxyKey = flag("front-proxy-key-file");
  if ((frontProxyCert === undefined) !== (frontProxyKey === undefined))
    throw usageError("kubegate agent: --front-proxy-cert-file and --front-proxy-key-file go together");
  const log = createLogger({ level: flag("log-level") ?? "info" });
  const agent = await startAgent({
    gatewayUrl: gateway,
    gatewayCaPem: await readFlagFile("gateway-ca-file", caFile),
    cluster: flag("cluster"),
    stateDir: flag("state-dir") ?? "kubegate-agent",
    bootstrapToken: async () => (tokenFile === undefined ? undefined : (await readFlagFile("bootstrap-token-file", tokenFile)).trim()),
    apiserver: {
      kubeconfig: flag("kubeconfig"),
      context: flag("context"),
      ...(frontProxyCert === undefined || frontProxyKey === undefined ? {} : { frontProxy: { certFile: frontProxyCert, keyFile: frontProxyKey } }),
    },
    version: KUBEGATE_VERSION,
    credentialMaxAgeMs: duration("credential-max-age", flag("credential-max-age") ?? "720h"),
    log,
  }).catch((err: Error) => {
    throw new CliError(err.message);
  });
  const outcome = await new Promise<{ signal: string } | { failure: Error }>((resolve) => {
    const stop = (signal: string) => resolve({ signal });
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    void agent.failed.then((failure) => resolve({ failure }));
  });
  await agent.stop();
  if ("failure" in outcome) throw new CliError(outcome.failure.message);
  log.info({ signal: outcome.signal }, "agent stopped");
  return 0;
}
