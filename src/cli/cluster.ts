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
  IdentityMode,
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
  kubegate cluster register NAME --server URL --ca-file FILE --identity front-proxy --front-proxy-cert-file FILE --front-proxy-key-file FILE
  kubegate cluster register NAME --agent [--identity front-proxy]
      [--label k=v]... [--display-name TEXT] [--manage-rbac] [-o json|yaml]
  kubegate cluster list [-l SELECTOR] [-o json|yaml]
  kubegate cluster get NAME [-o json|yaml]
  kubegate cluster update NAME [--label k=v]... [--display-name TEXT] [--server URL] [--ca-file FILE]
      [--token-file FILE | --client-cert FILE --client-key FILE | --front-proxy-cert-file FILE --front-proxy-key-file FILE] [-o json|yaml]
  kubegate cluster remove NAME [-o json|yaml]

--identity impersonate (the default) sends Impersonate-* headers on the cluster's credential;
--identity front-proxy presents the front-proxy client certificate (its CN in the member's
--requestheader-allowed-names) and sends X-Remote-* headers, with no other credential. With
--from-kubeconfig it takes only the server and CA from the kubeconfig. In agent mode the
agent presents the certificate (kubegate agent --front-proxy-cert-file ...). docs/front-proxy.md.

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

type CredentialValues = { "token-file"?: string; "client-cert"?: string; "client-key"?: string; "front-proxy-cert-file"?: string; "front-proxy-key-file"?: string };

/** A certificate and key from two flags that go together; undefined when neither is given. */
async function certificateFlags(values: Record<string, string | undefined>, certFlag: string, keyFlag: string) {
  const [cert, key] = [values[certFlag], values[keyFlag]];
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw usageError(`--${certFlag} and --${keyFlag} go together`);
  return { $typeName: "kubegate.v1.ClientCertificate" as const, certPem: await readText(`--${certFlag}`, cert), keyPem: await readText(`--${keyFlag}`, key) };
}

async function credentialFlags(values: CredentialValues): Promise<ClusterCredential | undefined> {
  const frontProxy = await certificateFlags(values, "front-proxy-cert-file", "front-proxy-key-file");
  if (frontProxy !== undefined) {
    if (values["token-file"] !== undefined || values["client-cert"] !== undefined)
      throw usageError("--front-proxy-cert-file is the only credential of a front-proxy cluster: drop --token-file and --client-cert");
    return { $typeName: "kubegate.v1.ClusterCredential", kind: { case: "frontProxyCertificate", value: frontProxy } };
  }
  if (values["token-file"] !== undefined) {
    return { $typeName: "kubegate.v1.ClusterCredential", kind: { case: "bearerToken", value: (await readText("--token-file", values["token-file"])).trim() } };
  }
  const client = await certificateFlags(values, "client-cert", "client-key");
  return client === undefined ? undefined : { $typeName: "kubegate.v1.ClusterCredential", kind: { case: "clientCertificate", value: client } };
}

const IDENTITY: Record<string, IdentityMode> = { impersonate: IdentityMode.IMPERSONATE, "front-proxy": IdentityMode.FRONT_PROXY };

function identityFlag(value: string | undefined): IdentityMode {
  if (value === undefined) return IdentityMode.IMPERSONATE;
  const mode = IDENTITY[value];
  if (mode === undefined) throw usageError(`--identity must be impersonate or front-proxy, not ${JSON.stringify(value)}`);
  return mode;
}

const identityName = (m: IdentityMode) => (m === IdentityMode.FRONT_PROXY ? "front-proxy" : "impersonate");

const PHASE: Record<number, string> = { [ClusterPhase.READY]: "Ready", [ClusterPhase.OFFLINE]: "Offline", [ClusterPhase.UNKNOWN]: "Unknown" };

function rows(clusters: Cluster[]): string[][] {
  return clusters.map((c) => [
    c.name,
    c.mode === ClusterMode.AGENT ? "agent" : "direct",
    identityName(c.identityMode),
    PHASE[c.status?.phase ?? 0] ?? "Unknown",
    c.status?.kubernetesVersion || "-",
    Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(",") || "<none>",
    age(c.createTime === undefined ? undefined : timestampDate(c.createTime)),
  ]);
}
const HEADERS = ["NAME", "MODE", "IDENTITY", "STATUS", "VERSION", "LABELS", "AGE"];

const common = {
  label: { type: "string", multiple: true },
  "display-name": { type: "string" },
  server: { type: "string" },
  "ca-file": { type: "string" },
  "token-file": { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  "front-proxy-cert-file": { type: "string" },
  "front-proxy-key-file": { type: "string" },
} as const;

export const runCluster = dispatch(
  "cluster",
  {
    async register(argv) {
      const { values, positionals } = parseFlags(
        "cluster register",
        argv,
        {
          ...common,
          output: { type: "string", short: "o" },
          "from-kubeconfig": { type: "string" },
          context: { type: "string" },
          agent: { type: "boolean" },
          "manage-rbac": { type: "boolean" },
          identity: { type: "string" },
        },
        { positionals: 1 },
      );
      const name = positionals[0];
      if (name === undefined) throw usageError("kubegate cluster register: NAME is required");
      const format = outputFormat(values.output);
      const sources = [values["from-kubeconfig"] !== undefined, values.server !== undefined, values.agent === true].filter(Boolean).length;
      if (sources !== 1) throw usageError("kubegate cluster register: give exactly one of --from-kubeconfig, --server, --agent");
      const identityMode = identityFlag(values.identity);
      const frontProxy = identityMode === IdentityMode.FRONT_PROXY;
      const credential = await credentialFlags(values);
      if (frontProxy !== (credential?.kind.case === "frontProxyCertificate") && !values.agent)
        throw usageError(
          frontProxy
            ? "kubegate cluster register: --identity front-proxy needs --front-proxy-cert-file and --front-proxy-key-file (the agent's own files in agent mode)"
            : "kubegate cluster register: --front-proxy-cert-file needs --identity front-proxy",
        );
      let mode;
      if (values.agent) {
        if (credential !== undefined) throw usageError("kubegate cluster register: an agent cluster takes no credential here; the agent holds it (kubegate agent --front-proxy-cert-file …)");
        mode = { case: "agent" as const, value: { $typeName: "kubegate.v1.AgentMode" as const } };
      } else if (values["from-kubeconfig"] !== undefined) {
        const target = await fromKubeconfig(values["from-kubeconfig"], values.context);
        // Front-proxy mode: the kubeconfig says where the member is; the certificate is the credential.
        mode = { case: "direct" as const, value: { $typeName: "kubegate.v1.DirectMode" as const, ...target, ...(frontProxy ? { credential } : {}) } };
      } else {
        if (values["ca-file"] === undefined) throw usageError("kubegate cluster register: --server needs --ca-file");
        if (credential === undefined) throw usageError("kubegate cluster register: --server needs --token-file or --client-cert/--client-key");
        mode = { case: "direct" as const, value: { $typeName: "kubegate.v1.DirectMode" as const, serverUrl: values.server!, caPem: await readText("--ca-file", values["ca-file"]), credential } };
      }
      const session = await loadSession();
      const res = await clientsFor(session).clusters.registerCluster({
        name,
        displayName: values["display-name"] ?? "",
        labels: labelFlags(values.label),
        manageRbac: values["manage-rbac"] ?? false,
        identityMode,
        mode,
      });
      process.stdout.write(
        result(format, toJson(RegisterClusterResponseSchema, res), () => {
          const registered = `cluster ${name} registered (${values.agent ? "agent" : "direct"} mode${frontProxy ? ", front-proxy identity" : ""})\n`;
          if (res.agentBootstrapToken === "") return registered;
          return (
            registered +
            `\nOne-time agent bootstrap token (shown once):\n  ${res.agentBootstrapToken}\n\n` +
            `Run the agent inside the cluster (or beside it) with:\n` +
            `  kubegate agent --gateway ${res.agentGatewayUrl || "<data-plane URL>"} --cluster ${name} --gateway-ca-file ca.crt --bootstrap-token-file bootstrap.token` +
            (frontProxy ? ` \\\n      --front-proxy-cert-file front-proxy.crt --front-proxy-key-file front-proxy.key\n` : "\n") +
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
