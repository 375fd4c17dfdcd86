/**
 * kubegate's web console: the browser calls the control plane's own Connect services with
 * the generated types (no REST layer). Logging in trades the credential for an HttpOnly
 * session cookie (StartSession); nothing secret is kept in script-visible storage.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ClusterMode, ClusterPhase, ClusterRegistry, IdentityMode, type Cluster } from "../../gen/kubegate/v1/cluster_pb.ts";
import { IdentityService } from "../../gen/kubegate/v1/identity_pb.ts";

const transport = createConnectTransport({ baseUrl: location.origin });
const identity = createClient(IdentityService, transport);
const clusters = createClient(ClusterRegistry, transport);

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
const who = document.getElementById("who")!;

/** An element with text and attributes; text is never parsed as HTML. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function show(title: string, ...content: Node[]): void {
  document.title = `${title} · kubegate`;
  main.replaceChildren(el("h1", {}, title), ...content);
  main.focus();
}

function message(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : String(err);
}

function loginPage(problem?: string): void {
  nav.replaceChildren();
  who.replaceChildren();
  const input = el("input", { id: "credential", name: "credential", type: "password", autocomplete: "off", required: "" });
  const error = el("p", { class: "error", role: "alert", id: "login-error" }, problem ?? "");
  const form = el(
    "form",
    { class: "login", "aria-describedby": "login-error" },
    el("label", { for: "credential" }, "API key"),
    input,
    el("button", { type: "submit" }, "Log in"),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    identity.startSession({ credential: input.value }).then(
      () => {
        input.value = "";
        void start();
      },
      (err: unknown) => {
        error.textContent = message(err);
        input.focus();
      },
    );
  });
  show("Log in", form);
  input.focus();
}

const PHASES: Record<ClusterPhase, string> = {
  [ClusterPhase.UNSPECIFIED]: "UNKNOWN",
  [ClusterPhase.READY]: "READY",
  [ClusterPhase.OFFLINE]: "OFFLINE",
  [ClusterPhase.UNKNOWN]: "UNKNOWN",
};

function clusterRow(c: Cluster): HTMLTableRowElement {
  const phase = PHASES[c.status?.phase ?? ClusterPhase.UNSPECIFIED];
  const seen = c.status?.lastSeenTime === undefined ? "—" : timestampDate(c.status.lastSeenTime).toLocaleString();
  const mode = c.mode === ClusterMode.AGENT ? "agent" : "direct";
  const identityMode = c.identityMode === IdentityMode.FRONT_PROXY ? "front-proxy" : "impersonate";
  return el(
    "tr",
    { "data-cluster": c.name },
    el("th", { scope: "row" }, c.name, c.labels["kubegate.dev/demo"] === "true" ? " (demo)" : ""),
    el("td", { class: `state state-${phase.toLowerCase()}` }, phase),
    el("td", {}, c.status?.kubernetesVersion || "—"),
    el("td", {}, mode === "agent" ? `agent, last seen ${seen}` : mode),
    el("td", {}, identityMode),
  );
}

async function clustersPage(): Promise<void> {
  const res = await clusters.listClusters({ pageSize: 500 });
  const head = el("tr", {}, ...["Cluster", "Status", "Kubernetes", "Mode", "Identity"].map((h) => el("th", { scope: "col" }, h)));
  const table = el("table", { "aria-label": "Clusters" }, el("thead", {}, head), el("tbody", {}, ...res.clusters.map(clusterRow)));
  show("Clusters", res.clusters.length === 0 ? el("p", {}, "No clusters are registered yet.") : table);
}

async function start(): Promise<void> {
  try {
    const me = await identity.whoAmI({});
    const logout = el("button", { type: "button" }, "Log out");
    logout.addEventListener("click", () => void identity.endSession({}).then(() => loginPage()));
    who.replaceChildren(el("span", { id: "subject" }, `${me.subject}${me.admin ? " (admin)" : ""}`), logout);
    nav.replaceChildren(el("a", { href: "#clusters", "aria-current": "page" }, "Clusters"));
    await clustersPage();
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unauthenticated) loginPage();
    else show("Something went wrong", el("p", { class: "error", role: "alert" }, message(err)));
  }
}

void start();
