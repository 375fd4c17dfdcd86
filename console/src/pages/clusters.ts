/** Clusters: status, version, mode; admins register (direct, or agent with its one-time bootstrap) and deregister. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ClusterPhase, IdentityMode, type Cluster, type RegisterClusterRequestSchema } from "../../../gen/kubegate/v1/cluster_pb.ts";
import { clusters, type Me } from "../api.ts";
import { button, confirmAction, copyable, el, field, form, input, select, show, table, when } from "../dom.ts";
import { allClusters, identityText, isDemo, modeText, PHASES, stateCell } from "./shared.ts";

function row(c: Cluster, me: Me, reload: () => void): HTMLTableRowElement {
  const phase = PHASES[c.status?.phase ?? ClusterPhase.UNSPECIFIED];
  const seen = c.status?.lastSeenTime === undefined ? "never" : when(c.status.lastSeenTime);
  const name: Array<Node | string> = [me.admin ? el("a", { href: `#/audit/${c.name}`, title: `Recent activity on ${c.name}` }, c.name) : c.name];
  if (isDemo(c)) name.push(" ", el("span", { class: "badge" }, "demo"));
  if (c.displayName !== "") name.push(el("br"), el("small", {}, c.displayName));
  const cells: Node[] = [
    el("th", { scope: "row" }, ...name),
    stateCell(phase, phase === "READY" ? "" : (c.status?.message ?? "")),
    el("td", {}, c.status?.kubernetesVersion || "—"),
    el("td", {}, `${modeText(c)}, last seen ${seen}`),
    el("td", {}, identityText(c)),
  ];
  if (me.admin)
    cells.push(
      el(
        "td",
        {},
        button(
          "Deregister",
          () =>
            void confirmAction(`Deregister ${c.name}?`, `This removes the cluster, its grants and its agent credential. Live sessions to it are cut.`, "Deregister").then(async (ok) => {
              if (ok === undefined) return;
              await clusters.deregisterCluster({ name: c.name });
              reload();
            }),
          { "aria-label": `Deregister ${c.name}` },
        ),
      ),
    );
  return el("tr", { "data-cluster": c.name }, ...cells);
}

export async function clustersPage(me: Me): Promise<void> {
  const list = await allClusters();
  const columns = ["Cluster", "Status", "Kubernetes", "Mode", "Identity", ...(me.admin ? [""] : [])];
  const reload = () => void clustersPage(me);
  const body =
    list.length === 0
      ? el("p", {}, me.admin ? "No clusters are registered yet." : "You hold no grant on any cluster yet: ask an admin for one.")
      : table("Clusters", columns, list.map((c) => row(c, me, reload)));
  show("Clusters", ...(me.admin ? [el("p", {}, el("a", { href: "#/register", class: "button" }, "Register a cluster"))] : []), body);
}

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`label ${JSON.stringify(pair)} is not key=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** What to run once an agent cluster is registered: the token is shown here once. */
function bootstrapHelp(name: string, token: string, gatewayUrl: string, frontProxy: boolean): HTMLElement {
  const gateway = gatewayUrl || "<data-plane URL>";
  const inCluster =
    `kubectl create namespace kubegate-system\n` +
    `kubectl -n kubegate-system create secret generic kubegate-agent-bootstrap --from-literal=token='${token}'\n` +
    `# then apply deploy/kubegate-agent.yaml with KUBEGATE_AGENT_GATEWAY=${gateway} and KUBEGATE_AGENT_CLUSTER=${name}`;
  const beside =
    `printf '%s' '${token}' > bootstrap.token\n` +
    `kubegate agent --gateway ${gateway} --cluster ${name} --gateway-ca-file ca.crt --bootstrap-token-file bootstrap.token` +
    (frontProxy ? ` --front-proxy-cert-file front-proxy.crt --front-proxy-key-file front-proxy.key` : "");
  return el(
    "section",
    { class: "secret", "aria-labelledby": "bootstrap-title" },
    el("h2", { id: "bootstrap-title" }, `Cluster ${name} registered: start its agent`),
    el("p", {}, el("strong", {}, "The one-time bootstrap token is shown only now."), " The agent trades it for its own credential on first connect; after that it no longer works."),
    copyable("bootstrap token", token, { id: "bootstrap-token" }),
    el("h3", {}, "Inside the cluster"),
    copyable("in-cluster commands", inCluster),
    el("h3", {}, "Or beside it, with a kubeconfig"),
    copyable("agent command", beside),
    el("p", {}, "ca.crt is the CA of the gateway's data-plane certificate."),
  );
}

export function registerPage(): void {
  const name = input({ name: "name", required: "", pattern: "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?", maxlength: "63" });
  const displayName = input({ name: "display-name" });
  const labels = input({ name: "labels", placeholder: "env=prod, team=payments" });
  const mode = select("mode", [["direct", "Direct: kubegate dials the API server"], ["agent", "Agent: an agent in the cluster dials out"]]);
  const server = input({ name: "server", type: "url", placeholder: "https://10.0.0.1:6443" });
  const ca = el("textarea", { name: "ca", rows: "4", placeholder: "-----BEGIN CERTIFICATE-----" });
  const credential = select("credential", [
    ["token", "Bearer token (kubegate impersonates users)"],
    ["cert", "Client certificate (kubegate impersonates users)"],
    ["front-proxy", "Front-proxy certificate (request-header identity)"],
  ]);
  const token = input({ name: "token", type: "password" });
  const certPem = el("textarea", { name: "cert", rows: "4" });
  const keyPem = el("textarea", { name: "key", rows: "4", autocomplete: "off" });
  const agentFrontProxy = el("input", { type: "checkbox", name: "agent-front-proxy" });
  const manageRbac = el("input", { type: "checkbox", name: "manage-rbac" });
  const tokenField = field("Bearer token", token);
  const certFields = el("div", {}, field("Client certificate (PEM)", certPem), field("Private key (PEM)", keyPem));
  const direct = el("fieldset", {}, el("legend", {}, "Direct mode"), field("API server URL", server), field("CA bundle (PEM)", ca, "Verifies the API server's certificate."), field("Credential", credential), tokenField, certFields);
  const agent = el("fieldset", {}, el("legend", {}, "Agent mode"), el("div", { class: "check" }, agentFrontProxy, el("label", { for: (agentFrontProxy.id = "agent-front-proxy") }, "The agent presents a front-proxy certificate (request-header identity)")));
  const sync = () => {
    direct.hidden = mode.value !== "direct";
    agent.hidden = mode.value !== "agent";
    tokenField.hidden = credential.value !== "token";
    certFields.hidden = credential.value === "token";
  };
  mode.addEventListener("change", sync);
  credential.addEventListener("change", sync);
  sync();
  const result = el("div", { "aria-live": "polite" });

  const f = form(
    "Register a cluster",
    [
      field("Name", name, "A DNS label: lower-case letters, digits and '-'; it becomes the path /clusters/<name>/."),
      field("Display name", displayName),
      field("Labels", labels, "key=value pairs, comma-separated."),
      field("Mode", mode),
      direct,
      agent,
      el("div", { class: "check" }, manageRbac, el("label", { for: (manageRbac.id = "manage-rbac") }, "kubegate keeps RBAC bindings in the member in step with grants")),
    ],
    "Register",
    async () => {
      result.replaceChildren();
      const request: MessageInitShape<typeof RegisterClusterRequestSchema> = {
        name: name.value.trim(),
        displayName: displayName.value.trim(),
        labels: labelsOf(labels.value),
        manageRbac: manageRbac.checked,
        requestId: crypto.randomUUID(),
      };
      if (mode.value === "agent") {
        request.mode = { case: "agent", value: {} };
        if (agentFrontProxy.checked) request.identityMode = IdentityMode.FRONT_PROXY;
      } else {
        const pair = { certPem: certPem.value, keyPem: keyPem.value };
        const cred =
          credential.value === "token"
            ? { kind: { case: "bearerToken" as const, value: token.value.trim() } }
            : credential.value === "cert"
              ? { kind: { case: "clientCertificate" as const, value: pair } }
              : { kind: { case: "frontProxyCertificate" as const, value: pair } };
        request.mode = { case: "direct", value: { serverUrl: server.value.trim(), caPem: ca.value, credential: cred } };
        if (credential.value === "front-proxy") request.identityMode = IdentityMode.FRONT_PROXY;
      }
      const res = await clusters.registerCluster(request);
      // Secrets typed into the form go with it.
      for (const secret of [token, keyPem]) secret.value = "";
      const c = res.cluster!;
      if (res.agentBootstrapToken !== "") {
        f.replaceWith(bootstrapHelp(c.name, res.agentBootstrapToken, res.agentGatewayUrl, agentFrontProxy.checked));
        return;
      }
      result.replaceChildren(el("p", { role: "status" }, `Cluster ${c.name} registered (direct mode, ${identityText(c)}). `, el("a", { href: "#/clusters" }, "See it among the clusters"), "."));
      f.reset();
      sync();
    },
  );
  show("Register a cluster", f, result);
  name.focus();
}
