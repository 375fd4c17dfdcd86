/** My access: the caller's grants with their state and expiry, and kubeconfigs for plain kubectl. */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { SubjectKind, type Grant } from "../../../gen/kubegate/v1/grant_pb.ts";
import { KubeconfigMode } from "../../../gen/kubegate/v1/token_pb.ts";
import { grants, tokens, type Me } from "../api.ts";
import { button, copyable, download, el, field, message, select, show, table, when } from "../dom.ts";
import { everyPage, GRANT_STATES, isActive, roleName, stateCell, subjectText } from "./shared.ts";

/** The caller's own grants: an admin lists everyone's, so theirs are asked for by subject. */
async function myGrants(me: Me): Promise<Grant[]> {
  const subjects = me.admin ? [{ kind: SubjectKind.USER, name: me.subject }, ...me.groups.map((name) => ({ kind: SubjectKind.GROUP, name }))] : [undefined];
  const seen = new Map<string, Grant>();
  for (const subject of subjects) {
    const list = await everyPage(async (pageToken) => {
      const page = await grants.listGrants({ ...(subject === undefined ? {} : { subject }), pageSize: 500, pageToken });
      return { items: page.grants, next: page.nextPageToken };
    });
    for (const g of list) seen.set(g.id, g);
  }
  return [...seen.values()].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.id.localeCompare(b.id));
}

function grantRow(g: Grant): HTMLTableRowElement {
  return el(
    "tr",
    { "data-grant": g.id },
    el("th", { scope: "row" }, g.cluster),
    el("td", {}, roleName(g.role)),
    el("td", {}, g.namespaces.length === 0 ? "all (cluster-wide)" : g.namespaces.join(", ")),
    el("td", {}, subjectText(g)),
    stateCell(GRANT_STATES[g.state], g.stateMessage),
    el("td", {}, when(g.expireTime, "never")),
  );
}

export async function accessPage(me: Me): Promise<void> {
  const mine = await myGrants(me);
  const active = [...new Set(mine.filter(isActive).map((g) => g.cluster))];
  const grantTable = mine.length === 0 ? el("p", {}, "You hold no grants: ask an admin for access to a cluster.") : table("My grants", ["Cluster", "Role", "Namespaces", "Granted to", "State", "Expires"], mine.map(grantRow));
  if (active.length === 0) {
    show("My access", grantTable);
    return;
  }

  const kind = select("credential", [
    ["token-900", "A token in the file, valid 15 minutes (plain kubectl, nothing to install)"],
    ["token-3600", "A token in the file, valid 1 hour"],
    ["token-28800", "A token in the file, valid 8 hours"],
    ["exec", "The kubegate exec plugin (refreshes tokens; needs the kubegate CLI and `kubegate login`)"],
  ]);
  const problem = el("p", { class: "error", role: "alert" });
  const status = el("p", { role: "status", id: "download-status" });
  async function fetchKubeconfig(clusterNames: string[], filename: string): Promise<void> {
    problem.textContent = "";
    const exec = kind.value === "exec";
    try {
      const res = await tokens.mintKubeconfig({
        ...(clusterNames.length === 0 ? { allClusters: true } : { clusters: clusterNames }),
        mode: exec ? KubeconfigMode.EXEC : KubeconfigMode.EMBEDDED_TOKEN,
        ...(exec ? {} : { ttl: durationFromMs(Number(kind.value.slice("token-".length)) * 1000) }),
      });
      download(filename, res.kubeconfig);
      status.textContent = `Downloaded ${filename} for ${res.clusters.join(", ")}${res.expireTime === undefined ? "" : `; its token expires ${when(res.expireTime)}`}. Use it with: kubectl --kubeconfig ${filename} get pods`;
    } catch (err) {
      problem.textContent = message(err);
    }
  }
  const login = `kubegate login --server ${location.origin}${me.viaOidc ? " --oidc" : ""}`;
  const downloads = el(
    "ul",
    { class: "downloads" },
    ...active.map((c) =>
      el(
        "li",
        { "data-cluster": c },
        button(`Download kubeconfig for ${c}`, () => void fetchKubeconfig([c], `kubeconfig-${c}.yaml`)),
        copyable(`command for ${c}`, `kubegate kubeconfig add --cluster ${c} --use`),
      ),
    ),
  );
  show(
    "My access",
    grantTable,
    el(
      "section",
      { "aria-labelledby": "kubeconfig-title" },
      el("h2", { id: "kubeconfig-title" }, "Kubeconfig for kubectl"),
      field("What the kubeconfig holds", kind),
      el("p", {}, button("Download kubeconfig for all my clusters", () => void fetchKubeconfig([], "kubeconfig-kubegate.yaml"))),
      downloads,
      problem,
      status,
      el("h3", {}, "Or with the kubegate CLI"),
      el("p", {}, "Log in once, then add contexts to your own kubeconfig; the exec plugin keeps the tokens fresh."),
      copyable("login command", login),
    ),
  );
}
