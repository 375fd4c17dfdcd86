/**
 * `kubegate cluster register|list|get|update|remove`: admins manage member clusters.
 * A cluster registers from an existing kubeconfig, from explicit files, or in agent mode.
 */
import { readFile } from "node:fs/promises";
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ClusterMode,
  ClusterPhase,
  ClusterSchema,
  DeregisterClusterResponseSchema,
  RegisterClusterResponseSchema,
  UpdateClusterResponseSchema,
  type Cluster,
  type ClusterCredential,
} from "../../gen/kubegate/v1/cluster_pb.ts";
import { KubeconfigError, readKubeconfigTarget } from "../kube/kubeconfig-target.ts";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { age, outputFormat, render, result } from "./output.ts";
import { loadSession } from "./session.ts";
import { dispatch, labelFlags } from "./subcommands.ts";

const help = `Usage:
  kubegate cluster register NAME --from-kubeconfig FILE [--context CTX]
  kubegate cluster register NAME --server URL --ca-file FILE (--token-file FILE | --client-cert FILE --client-key FILE)
  kubegate cluster register NAME --agent
      [--label k=v]... [--display-name TEXT] [--manage-rbac] [-o json|yaml]
  kubegate cluster list [-l SELECTOR] [-o json|yaml]
  kubegate cluster get NAME [-o json|yaml]
  kubegate cluster update NAME [--label k=v]... [--display-name TEXT] [--server URL] [--ca-file FILE]
      [--token-file FILE | --client-cert FILE --client-key FILE] [-o json|yaml]
  kubegate cluster remove NAME [-o json|yaml]

-o json|yaml prints the API's response (RegisterClusterResponse, with the agent's one-time
bootstrap token in agentBootstrapToken; the Cluster; UpdateClusterResponse; ...).
`;

async function readText(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

/** Server, CA and credential of one context of an existing kubeconfig, as the API takes them. */
async function fromKubeconfig(file: string, contextName: string | undefined) {
  let target;
  try {
    target = await readKubeconfigTarget(file, contextName, "--from-kubeconfig");
  } catch (err) {
    if (err instanceof KubeconfigError) throw new CliError(err.message);
    throw err;
  }
  const c = target.credential;
  const credential: ClusterCredential["kind"] =
    c.kind === "bearer"
      ? { case: "bearerToken", value: c.token }
      : { case: "clientCertificate", value: { $typeName: "kubegate.v1.ClientCertificate", certPem: c.certPem, keyPem: c.keyPem } };
  return { serverUrl: target.serverUrl, caPem: target.caPem, credential: { $typeName: "kubegate.v1.ClusterCredential" as const, kind: credential } };
}

async function credentialFlags(values: { "token-file"?: string; "client-cert"?: string; "client-key"?: string }): Promise<ClusterCredential | undefined> {
  if (values["token-file"] !== undefined) {
    return { $typeName: "kubegate.v1.ClusterCredential", kind: { case: "bearerToken", value: (await readText("--token-file", values["token-file"])).trim() } };
  }
  if (values["client-cert"] !== undefined || values["client-key"] !== undefined) {
    if (values["client-cert"] === undefined || values["client-key"] === undefined) throw usageError("--client-cert and --client-key go together");
    return {
      $typeName: "kubegate.v1.ClusterCredential",
      kind: {
        case: "clientCertificate",
        value: { $typeName: "kubegate.v1.ClientCertificate", certPem: await readText("--client-cert", values["client-cert"]), keyPem: await readText("--client-key", values["client-key"]) },
      },
    };
  }
  return undefined;
}

const PHASE: Record<number, string> = { [ClusterPhase.READY]: "Ready", [ClusterPhase.OFFLINE]: "Offline", [ClusterPhase.UNKNOWN]: "Unknown" };

function rows(clusters: Cluster[]): string[][] {
  return clusters.map((c) => [
    c.name,
    c.mode === ClusterMode.AGENT ? "agent" : "direct",
    PHASE[c.status?.phase ?? 0] ?? "Unknown",
    c.status?.kubernetesVersion || "-",
    Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(",") || "<none>",
    age(c.createTime === undefined ? undefined : timestampDate(c.createTime)),
  ]);
}
const HEADERS = ["NAME", "MODE", "STATUS", "VERSION", "LABELS", "AGE"];

const common = {
  label: { type: "string", multiple: true },
  "display-name": { type: "string" },
  server: { type: "string" },
  "ca-file": { type: "string" },
  "token-file": { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
} as const;

export const runCluster = dispatch(
  "cluster",
  {
    async register(argv) {
      const { values, positionals } = parseFlags(
        "cluster register",
        argv,
        { ...common, output: { type: "string", short: "o" }, "from-kubeconfig": { type: "string" }, context: { type: "string" }, agent: { type: "boolean" }, "manage-rbac": { type: "boolean" } },
        { positionals: 1 },
      );
      const name = positionals[0];
      if (name === undefined) throw usageError("kubegate cluster register: NAME is required");
      const format = outputFormat(values.output);
      const sources = [values["from-kubeconfig"] !== undefined, values.server !== undefined, values.agent === true].filter(Boolean).length;
      if (sources !== 1) throw usageError("kubegate cluster register: give exactly one of --from-kubeconfig, --server, --agent");
      let mode;
      if (values.agent) mode = { case: "agent" as const, value: { $typeName: "kubegate.v1.AgentMode" as const } };
      else if (values["from-kubeconfig"] !== undefined) mode = { case: "direct" as const, value: { $typeName: "kubegate.v1.DirectMode" as const, ...(await fromKubeconfig(values["from-kubeconfig"], values.context)) } };
      else {
        if (values["ca-file"] === undefined) throw usageError("kubegate cluster register: --server needs --ca-file");
        const credential = await credentialFlags(values);
        if (credential === undefined) throw usageError("kubegate cluster register: --server needs --token-file or --client-cert/--client-key");
        mode = { case: "direct" as const, value: { $typeName: "kubegate.v1.DirectMode" as const, serverUrl: values.server!, caPem: await readText("--ca-file", values["ca-file"]), credential } };
      }
      const session = await loadSession();
      const res = await clientsFor(session).clusters.registerCluster({
        name,
        displayName: values["display-name"] ?? "",
        labels: labelFlags(values.label),
        manageRbac: values["manage-rbac"] ?? false,
        mode,
      });
      process.stdout.write(
        result(format, toJson(RegisterClusterResponseSchema, res), () => {
          const registered = `cluster ${name} registered (${values.agent ? "agent" : "direct"} mode)\n`;
          if (res.agentBootstrapToken === "") return registered;
          return (
            registered +
            `\nOne-time agent bootstrap token (shown once):\n  ${res.agentBootstrapToken}\n\n` +
            `Run the agent inside the cluster (or beside it) with:\n` +
            `  kubegate agent --gateway ${res.agentGatewayUrl || "<data-plane URL>"} --cluster ${name} --gateway-ca-file ca.crt --bootstrap-token-file bootstrap.token\n` +
            `where bootstrap.token holds the token above and ca.crt the CA of the gateway's data-plane certificate.\n` +
            `deploy/kubegate-agent.yaml runs it in the cluster with the service account and ClusterRole it needs.\n`
          );
        }),
      );
      return 0;
    },

    async list(argv) {
      const { values } = parseFlags("cluster list", argv, { selector: { type: "string", short: "l" }, output: { type: "string", short: "o" } });
      const format = outputFormat(values.output);
      const clients = clientsFor(await loadSession());
      const all: Cluster[] = [];
      let pageToken = "";
      do {
        const page = await clients.clusters.listClusters({ labelSelector: values.selector ?? "", pageSize: 500, pageToken });
        all.push(...page.clusters);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      process.stdout.write(render(format, all.map((c) => toJson(ClusterSchema, c)), HEADERS, () => rows(all)));
      return 0;
    },

    async get(argv) {
      const { values, positionals } = parseFlags("cluster get", argv, { output: { type: "string", short: "o" } }, { positionals: 1 });
      if (positionals[0] === undefined) throw usageError("kubegate cluster get: NAME is required");
      const format = outputFormat(values.output);
      const { cluster } = await clientsFor(await loadSession()).clusters.getCluster({ name: positionals[0] });
      process.stdout.write(render(format, toJson(ClusterSchema, cluster!), HEADERS, () => rows([cluster!])));
      return 0;
    },

    async update(argv) {
      const { values, positionals } = parseFlags("cluster update", argv, { ...common, output: { type: "string", short: "o" } }, { positionals: 1 });
      const format = outputFormat(values.output);
      const name = positionals[0];
      if (name === undefined) throw usageError("kubegate cluster update: NAME is required");
      const paths: string[] = [];
      const credential = await credentialFlags(values);
      if (values.label !== undefined) paths.push("labels");
      if (values["display-name"] !== undefined) paths.push("display_name");
      if (values.server !== undefined) paths.push("server_url");
      if (values["ca-file"] !== undefined) paths.push("ca_pem");
      if (credential !== undefined) paths.push("credential");
      if (paths.length === 0) throw usageError("kubegate cluster update: nothing to change");
      const res = await clientsFor(await loadSession()).clusters.updateCluster({
        name,
        updateMask: { $typeName: "google.protobuf.FieldMask", paths },
        labels: labelFlags(values.label),
        displayName: values["display-name"] ?? "",
        serverUrl: values.server ?? "",
        caPem: values["ca-file"] === undefined ? "" : await readText("--ca-file", values["ca-file"]),
        credential,
      });
      process.stdout.write(result(format, toJson(UpdateClusterResponseSchema, res), () => `cluster ${res.cluster?.name} updated (${paths.join(", ")})\n`));
      return 0;
    },

    async remove(argv) {
      const { values, positionals } = parseFlags("cluster remove", argv, { output: { type: "string", short: "o" } }, { positionals: 1 });
      if (positionals[0] === undefined) throw usageError("kubegate cluster remove: NAME is required");
      const format = outputFormat(values.output);
      const res = await clientsFor(await loadSession()).clusters.deregisterCluster({ name: positionals[0] });
      process.stdout.write(result(format, toJson(DeregisterClusterResponseSchema, res), () => `cluster ${positionals[0]} removed\n`));
      return 0;
    },
  },
  help,
);
