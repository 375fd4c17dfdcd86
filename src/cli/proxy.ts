/**
 * `kubegate proxy`: the counterpart of `kubectl proxy` for tools that speak plain HTTP.
 * http://127.0.0.1:8001/clusters/<name>/api/... reaches that cluster through the data
 * plane with a fresh token minted for it; the token stays inside this process.
 */
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { KubeconfigMode } from "../../gen/kubegate/v1/token_pb.ts";
import { createClusterAccess } from "../local-proxy/cluster-tokens.ts";
import { DEFAULT_ACCEPT_HOSTS, parseAcceptHosts } from "../local-proxy/hosts.ts";
import { createLocalProxy } from "../local-proxy/server.ts";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { loadSession } from "./session.ts";

const help = `Usage: kubegate proxy [--port 8001] [--address 127.0.0.1] [--accept-hosts REGEX,...]

Serves plain HTTP on a local address and forwards http://<address>:<port>/clusters/<name>/...
to that cluster through kubegate's data plane, with a token minted for you (never shown to
the local client). Watches, logs -f, exec, attach and port-forward pass through.

Flags:
  -p, --port PORT          port to listen on; 0 picks a free one (default 8001)
      --address ADDRESS    address to listen on (default 127.0.0.1)
      --accept-hosts LIST  comma-separated regular expressions the Host and Origin must match
                           (default ${DEFAULT_ACCEPT_HOSTS})
`;

function portFlag(value: string | undefined): number {
  if (value === undefined) return 8001;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw usageError(`kubegate proxy: --port must be a number from 0 to 65535 (got ${JSON.stringify(value)})`);
  return port;
}

function isLoopback(address: string): boolean {
  return address === "localhost" || address === "::1" || (isIP(address) === 4 && address.startsWith("127."));
}

export async function runProxy(argv: string[]): Promise<number> {
  const { values } = parseFlags("proxy", argv, {
    port: { type: "string", short: "p" },
    address: { type: "string" },
    "accept-hosts": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const port = portFlag(values.port);
  const address = values.address ?? "127.0.0.1";
  let acceptHosts: RegExp[];
  try {
    acceptHosts = parseAcceptHosts(values["accept-hosts"] ?? DEFAULT_ACCEPT_HOSTS);
  } catch (err) {
    throw usageError(`kubegate proxy: ${(err as Error).message}`);
  }

  const clients = clientsFor(await loadSession());
  const access = createClusterAccess({
    kubeconfig: async (cluster) => (await clients.tokens.mintKubeconfig({ clusters: [cluster], mode: KubeconfigMode.EXEC })).kubeconfig,
    mintToken: async (cluster) => {
      const res = await clients.tokens.mintToken({ cluster });
      if (res.expireTime === undefined) throw new Error(`the control plane minted a token for cluster ${JSON.stringify(cluster)} without an expiry`);
      return { token: res.token, expiresAt: timestampDate(res.expireTime) };
    },
  });
  const proxy = createLocalProxy({ access, acceptHosts, log: (line) => process.stderr.write(`${line}\n`) });

  await new Promise<void>((resolve, reject) => {
    proxy.server.once("error", reject);
    proxy.server.listen(port, address, () => {
      proxy.server.off("error", reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EADDRINUSE") throw new CliError(`cannot listen on ${address}:${port}: the address is in use (try --port 0)`);
    throw new CliError(`cannot listen on ${address}:${port}: ${err.message}`);
  });
  const bound = proxy.server.address() as AddressInfo;
  if (!isLoopback(address))
    process.stderr.write(`warning: ${address} is not a loopback address: anyone who can reach it uses your clusters as you\n`);
  process.stdout.write(`Starting to serve on ${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}\n`);

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await stopped;
  process.off("SIGTERM", stop);
  process.off("SIGINT", stop);
  await proxy.close();
  return 0;
}
