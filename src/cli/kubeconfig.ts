/**
 * `kubegate kubeconfig add|remove|list`: kubegate's clusters in the user's own kubeconfig,
 * for plain kubectl. Only entries named `kubegate-<cluster>` are ever touched. By default
 * the user entry runs `kubegate kube-token` (exec plugin), so kubectl gets a fresh token
 * whenever the last one expires; `--embed-token` writes a short-lived token instead.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { parse } from "yaml";
import { KubeconfigMode } from "../../gen/kubegate/v1/token_pb.ts";
import { ENTRY_PREFIX, kubeconfigEntries, type KubeconfigAuth, type KubeconfigEntry } from "../kube/kubeconfig.ts";
import { contextNamespace, listEntries, parseKubeconfig, removeEntries, setCurrentContext, upsertEntries } from "../kube/kubeconfig-edit.ts";
import { readKubeconfigFile, resolveKubeconfigPath, updateKubeconfigFile } from "../kube/kubeconfig-file.ts";
import { CliError, usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { explain } from "./explain.ts";
import { parseFlags } from "./flags.ts";
import { outputFormat, render, result } from "./output.ts";
import { selfCommand } from "./self.ts";
import { loadSession } from "./session.ts";

const help = `Usage:
  kubegate kubeconfig add (--cluster NAME ... | --all) [--use] [--namespace NS] [--print]
                          [--embed-token] [--exec-command PATH] [--kubeconfig FILE] [-o json|yaml]
  kubegate kubeconfig remove (--cluster NAME ... | --all) [--kubeconfig FILE] [-o json|yaml]
  kubegate kubeconfig list [-o json|yaml] [--kubeconfig FILE]

Adds, removes or lists kubegate's entries (contexts named kubegate-<cluster>) in your
kubeconfig: --kubeconfig, else the first file in $KUBECONFIG, else ~/.kube/config.
Other entries are left exactly as they are.

  --cluster NAME      a cluster (repeatable)
  --all               every cluster you hold a grant on (add), or every kubegate entry (remove)
  --use               make the (first) added context the current one
  --namespace NS      the contexts' default namespace
  --print             print a kubeconfig for just these clusters; write no file
  --embed-token       write a short-lived token instead of running kubegate kube-token
  --exec-command PATH the kubegate executable kubectl runs (default: this kubegate)
  -o json|yaml        print what was done for scripts: {kubeconfig, contexts, currentContext,
                      expireTime} (add) or {kubeconfig, removed, missing} (remove)
`;

export async function runKubeconfig(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === "--help" || verb === "-h" || verb === "help") {
    process.stdout.write(help);
    return 0;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(help);
    return 0;
  }
  switch (verb) {
    case "add":
      return add(rest);
    case "remove":
      return remove(rest);
    case "list":
      return list(rest);
    default:
      throw usageError(`kubegate kubeconfig: ${verb === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(verb)}`}\n\n${help}`);
  }
}

/** --cluster NAME... or --all, exactly one of them. */
function selection(verb: string, clusters: string[] | undefined, all: boolean | undefined): string[] | "all" {
  const named = clusters ?? [];
  if (all && named.length > 0) throw usageError(`kubegate kubeconfig ${verb}: give --cluster or --all, not both`);
  if (!all && named.length === 0) throw usageError(`kubegate kubeconfig ${verb}: --cluster NAME or --all is required`);
  return all ? "all" : [...new Set(named)];
}

async function add(argv: string[]): Promise<number> {
  const { values } = parseFlags("kubeconfig add", argv, {
    cluster: { type: "string", multiple: true },
    all: { type: "boolean" },
    use: { type: "boolean" },
    namespace: { type: "string", short: "n" },
    print: { type: "boolean" },
    "embed-token": { type: "boolean" },
    "exec-command": { type: "string" },
    kubeconfig: { type: "string" },
    output: { type: "string", short: "o" },
  });
  const format = outputFormat(values.output);
  if (values.print && format !== "table") throw usageError("kubegate kubeconfig add: --print prints a kubeconfig; it takes no -o");
  const selected = selection("add", values.cluster, values.all);
  const embed = values["embed-token"] === true;
  if (embed && values["exec-command"] !== undefined) throw usageError("kubegate kubeconfig add: --exec-command is for exec mode, not --embed-token");
  const path = resolveKubeconfigPath(values.kubeconfig);
  // Check the file before asking for tokens: a broken kubeconfig is found without minting.
  if (!values.print) parseKubeconfig(await readKubeconfigFile(path), path);

  const minted = await mint(selected, values.namespace ?? "", embed);
  const self = embed ? undefined : selfCommand(values["exec-command"]);
  const auth = (cluster: string): KubeconfigAuth =>
    self === undefined ? { mode: "token", token: minted.tokens.get(cluster)! } : { mode: "exec", command: self.command, args: [...self.args, "kube-token", "--cluster", cluster] };
  const entries = (namespaceOf: (cluster: string) => string | undefined): KubeconfigEntry[] =>
    minted.clusters.map(({ name, server, caPem }) => {
      const namespace = namespaceOf(name);
      return { cluster: name, server, caPem, auth: auth(name), ...(namespace === undefined ? {} : { namespace }) };
    });
  const expiry = minted.expiresAt === undefined ? "" : `token expires at ${minted.expiresAt.toISOString()} (in ${roughly(minted.expiresAt.getTime() - Date.now())})`;

  if (values.print) {
    // A whole kubeconfig of its own, as kubectl writes one; its current context is the first cluster's.
    const named = entries(() => values.namespace).map(kubeconfigEntries);
    process.stdout.write(setCurrentContext(upsertEntries("", named), named[0]!.context.name));
    if (expiry !== "") process.stderr.write(`${expiry}\n`);
    return 0;
  }

  const first = ENTRY_PREFIX + minted.clusters[0]!.name;
  await updateKubeconfigFile(path, (text) => {
    // Re-adding without --namespace keeps the namespace the context has now.
    const named = entries((cluster) => values.namespace ?? contextNamespace(text, ENTRY_PREFIX + cluster, path)).map(kubeconfigEntries);
    const merged = upsertEntries(text, named, path);
    return values.use ? setCurrentContext(merged, first, path) : merged;
  });
  const how = embed ? expiry : "exec: kubegate kube-token";
  const done = {
    kubeconfig: path,
    contexts: minted.clusters.map((c) => ENTRY_PREFIX + c.name),
    ...(values.use ? { currentContext: first } : {}),
    ...(minted.expiresAt === undefined ? {} : { expireTime: minted.expiresAt.toISOString() }),
  };
  process.stdout.write(
    result(format, done, () => done.contexts.map((c) => `added ${c} to ${path} (${how})\n`).join("") + (values.use ? `current context is now ${first}\n` : "")),
  );
  return 0;
}

interface Minted {
  clusters: { name: string; server: string; caPem: string }[];
  /** Embedded-token mode: each cluster's token. */
  tokens: Map<string, string>;
  expiresAt?: Date;
}

/**
 * Asks the control plane for a kubeconfig: this checks access to each cluster and
 * tells the data-plane URL and CA (and, embedded, the tokens) to write.
 */
async function mint(selected: string[] | "all", namespace: string, embed: boolean): Promise<Minted> {
  const session = await loadSession();
  let res;
  try {
    res = await clientsFor(session).tokens.mintKubeconfig({
      clusters: selected === "all" ? [] : selected,
      allClusters: selected === "all",
      namespace,
      mode: embed ? KubeconfigMode.EMBEDDED_TOKEN : KubeconfigMode.EXEC,
    });
  } catch (err) {
    throw explain(err);
  }
  const config = parse(res.kubeconfig) as {
    clusters?: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
    users?: { name: string; user: { token?: string } }[];
  };
  const clusters = (config.clusters ?? []).map((c) => ({
    name: c.name.slice(ENTRY_PREFIX.length),
    server: c.cluster.server,
    caPem: Buffer.from(c.cluster["certificate-authority-data"], "base64").toString("utf8"),
  }));
  if (clusters.length === 0) throw new CliError("the control plane returned no clusters");
  const tokens = new Map((config.users ?? []).filter((u) => u.user.token !== undefined).map((u) => [u.name.slice(ENTRY_PREFIX.length), u.user.token!] as const));
  return { clusters, tokens, ...(res.expireTime === undefined ? {} : { expiresAt: timestampDate(res.expireTime) }) };
}

async function remove(argv: string[]): Promise<number> {
  const { values } = parseFlags("kubeconfig remove", argv, {
    cluster: { type: "string", multiple: true },
    all: { type: "boolean" },
    kubeconfig: { type: "string" },
    output: { type: "string", short: "o" },
  });
  const format = outputFormat(values.output);
  const selected = selection("remove", values.cluster, values.all);
  const path = resolveKubeconfigPath(values.kubeconfig);
  let removed: string[] = [];
  // Nothing of ours there (or no file at all): leave the disk alone, not even a lock file.
  const nothing = removeEntries(await readKubeconfigFile(path), selected, path).removed.length === 0;
  if (!nothing)
    await updateKubeconfigFile(path, (text) => {
      const result = removeEntries(text, selected, path);
      removed = result.removed;
      return result.text;
    });
  const missing = selected === "all" ? [] : selected.filter((c) => !removed.includes(c));
  const done = { kubeconfig: path, removed: removed.map((c) => ENTRY_PREFIX + c), missing: missing.map((c) => ENTRY_PREFIX + c) };
  process.stdout.write(
    result(format, done, () => done.removed.map((c) => `removed ${c} from ${path}\n`).join("") + (selected === "all" && removed.length === 0 ? `no kubegate entries in ${path}\n` : "")),
  );
  if (format === "table") for (const c of done.missing) process.stderr.write(`${c} was not in ${path}\n`);
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseFlags("kubeconfig list", argv, { output: { type: "string", short: "o" }, kubeconfig: { type: "string" } });
  const format = outputFormat(values.output);
  const path = resolveKubeconfigPath(values.kubeconfig);
  const entries = listEntries(await readKubeconfigFile(path), path);
  process.stdout.write(
    render(format, entries, ["CONTEXT", "CLUSTER", "SERVER", "NAMESPACE", "AUTH", "CURRENT"], () =>
      entries.map((e) => [e.context, e.cluster, e.server, e.namespace || "<none>", e.auth, e.current ? "*" : ""]),
    ),
  );
  return 0;
}

/** A remaining time as a person reads it: 45s, 15m, 2h. */
function roughly(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
