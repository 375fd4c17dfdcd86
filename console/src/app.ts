/**
 * kubegate's web console: the browser calls the control plane's own Connect services with
 * the generated types (no REST layer). Logging in (API key, or the OIDC issuer) trades the
 * credential for an HttpOnly session cookie (StartSession); nothing secret is kept in
 * script-visible storage. Pages are addressed by the URL's fragment (#/clusters, #/access…).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { OidcLogin } from "../../gen/kubegate/v1/identity_pb.ts";
import { identity, type Me } from "./api.ts";
import { button, el, message, show } from "./dom.ts";
import { finishOidcLogin, startOidcLogin } from "./oidc.ts";
import { accessPage } from "./pages/access.ts";
import { auditPage } from "./pages/audit.ts";
import { clustersPage, registerPage } from "./pages/clusters.ts";
import { grantsPage } from "./pages/grants.ts";
import { keysPage } from "./pages/keys.ts";

const nav = document.getElementById("nav")!;
const who = document.getElementById("who")!;

interface Route {
  path: string;
  title: string;
  admin: boolean;
  /** Shown in the navigation (else reached by a link). */
  listed: boolean;
  render(me: Me, arg: string): Promise<void> | void;
}

const ROUTES: Route[] = [
  { path: "clusters", title: "Clusters", admin: false, listed: true, render: (me) => clustersPage(me) },
  { path: "access", title: "My access", admin: false, listed: true, render: (me) => accessPage(me) },
  { path: "grants", title: "Grants", admin: true, listed: true, render: () => grantsPage() },
  { path: "keys", title: "API keys", admin: true, listed: true, render: () => keysPage() },
  { path: "register", title: "Register a cluster", admin: true, listed: false, render: () => registerPage() },
  { path: "audit", title: "Recent activity", admin: true, listed: false, render: (_me, cluster) => auditPage(cluster) },
];

async function loginPage(problem?: string): Promise<void> {
  nav.replaceChildren();
  who.replaceChildren();
  const config = await identity.getLoginConfig({}).catch(() => undefined);
  const oidc: OidcLogin | undefined = config?.oidc;
  const input = el("input", { id: "credential", name: "credential", type: "password", autocomplete: "off", required: "" });
  const error = el("p", { class: "error", role: "alert", id: "login-error" }, problem ?? "");
  const form = el("form", { class: "login", "aria-describedby": "login-error" }, el("label", { for: "credential" }, "API key"), input, el("button", { type: "submit" }, "Log in"));
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
  const sso: Node[] = [];
  if (oidc !== undefined) {
    const host = URL.canParse(oidc.issuerUrl) ? new URL(oidc.issuerUrl).host : oidc.issuerUrl;
    sso.push(
      oidc.authorizationEndpoint === ""
        ? el("p", { class: "error" }, `The identity provider ${host} cannot be reached just now; an API key still works.`)
        : el("p", {}, button(`Log in with ${host}`, () => void startOidcLogin(oidc).catch((err: unknown) => (error.textContent = message(err))), { id: "oidc-login" })),
      el("p", { class: "or" }, "or"),
    );
  }
  show("Log in", el("div", { class: "login" }, ...sso, form, error));
  (sso.length > 0 ? (document.getElementById("oidc-login") ?? input) : input).focus();
}

function routeOf(): { route: Route; arg: string } {
  const [path = "", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { route: ROUTES.find((r) => r.path === path) ?? ROUTES[0]!, arg: decodeURIComponent(rest.join("/")) };
}

async function render(me: Me): Promise<void> {
  const { route, arg } = routeOf();
  nav.replaceChildren(
    ...ROUTES.filter((r) => r.listed && (me.admin || !r.admin)).map((r) => el("a", { href: `#/${r.path}`, ...(r === route ? { "aria-current": "page" } : {}) }, r.title)),
  );
  try {
    if (route.admin && !me.admin) show(route.title, el("p", { class: "error", role: "alert" }, "This page is for kubegate admins."));
    else await route.render(me, arg);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unauthenticated) await loginPage("Your session has ended: log in again.");
    else show(route.title, el("p", { class: "error", role: "alert" }, message(err)));
  }
}

let current: Me | undefined;
window.addEventListener("hashchange", () => {
  if (current !== undefined) void render(current);
});

async function start(): Promise<void> {
  try {
    await finishOidcLogin();
  } catch (err) {
    await loginPage(message(err));
    return;
  }
  try {
    const res = await identity.whoAmI({});
    const me: Me = { subject: res.subject, groups: res.groups, admin: res.admin, viaOidc: res.authenticatedBy === "oidc" };
    current = me;
    const logout = button("Log out", () =>
      void identity.endSession({}).then(() => {
        current = undefined;
        void loginPage();
      }),
    );
    who.replaceChildren(el("span", { id: "subject" }, `${me.subject}${me.admin ? " (admin)" : ""}`), logout);
    await render(me);
  } catch (err) {
    current = undefined;
    if (err instanceof ConnectError && err.code === Code.Unauthenticated) await loginPage();
    else show("Something went wrong", el("p", { class: "error", role: "alert" }, message(err)));
  }
}

void start();
