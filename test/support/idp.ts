/**
 * A real OpenID provider for a test file: the certified `oidc-provider` package, started
 * in-process on a free loopback port with its own signing key, one public native client
 * (`kubegate-cli`: code + PKCE with loopback redirects, device flow, refresh tokens), and
 * accounts the test names with their claims. Login is scripted as a browser does it: the
 * test (or the CLI's $BROWSER) follows redirects, keeps cookies and submits the forms the
 * provider renders. Stopped by its handle.
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { type Configuration } from "oidc-provider";

export const IDP_CLIENT_ID = "kubegate-cli";

export interface IdpOptions {
  /** Account id → claims (sub is the id). */
  accounts: Record<string, Record<string, unknown>>;
  idTokenTtlSeconds?: number;
  /** Lifetime of refresh tokens issued from now on; `setRefreshTokenTtl` changes it. */
  refreshTokenTtlSeconds?: number;
  /** Extra clients, e.g. one whose audience a test wants. */
  clients?: Configuration["clients"];
  /** Extra scopes and the account claims each releases, e.g. { ci: ["repository", "ref"] }. */
  scopes?: Record<string, string[]>;
}

export interface BrowseResult {
  /** The last page: the loopback callback's answer, or the provider's last page. */
  status: number;
  url: string;
  body: string;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  /**
   * Logs in as `account` from an authorization URL, as a browser would (consent given).
   * `stopAt`: a redirect to a URL starting so is not followed; the result's url is it.
   */
  browse(url: string, account: string, opts?: { userCode?: string; stopAt?: string }): Promise<BrowseResult>;
  /** Registers a client after start, e.g. one whose redirect URI names a port known only now. */
  addClient(metadata: Record<string, unknown>): void;
  /** RFC 8628: enters the user code at the verification page, logs in, confirms. */
  deviceLogin(userCode: string, account: string): Promise<BrowseResult>;
  /**
   * A $BROWSER command for the CLI: it hands the URL to this harness, which logs in as
   * `account`. Results (and failures) are collected in `browsed`.
   */
  browserCommand(account: string): string;
  browsed: Array<BrowseResult | Error>;
  /** Token endpoint grants that succeeded, by grant type. */
  grants: Record<string, number>;
  /** The lifetime of refresh tokens issued from now on. */
  setRefreshTokenTtl(seconds: number): void;
  /** Revokes a refresh token at the provider's revocation endpoint. */
  revoke(refreshToken: string): Promise<void>;
  /** Stops serving (the IdP is down); `close` is still safe afterwards. */
  close(): Promise<void>;
}

const CLAIMS = {
  openid: ["sub"],
  email: ["email", "email_verified"],
  groups: ["groups"],
  profile: ["name"],
} as const;

/** One cookie jar per browser, keyed by name; the provider is one origin. */
function cookieJar() {
  const jar = new Map<string, string>();
  return {
    header: () => [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
    take(res: Response) {
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(";");
        const eq = pair!.indexOf("=");
        const name = pair!.slice(0, eq).trim();
        const value = pair!.slice(eq + 1).trim();
        if (/expires=Thu, 01 Jan 1970/i.test(line) || value === "") jar.delete(name);
        else jar.set(name, value);
      }
    },
  };
}

/** The first form on a page: its action and every input's name and value. */
function firstForm(html: string): { action: string; fields: Record<string, string> } | undefined {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const action = /action="([^"]*)"/i.exec(m[1]!)?.[1] ?? "";
  const fields: Record<string, string> = {};
  for (const input of m[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const name = /name="([^"]*)"/i.exec(input[1]!)?.[1];
    if (name !== undefined) fields[name] = (/value="([^"]*)"/i.exec(input[1]!)?.[1] ?? "").replaceAll("&amp;", "&");
  }
  return { action: action.replaceAll("&amp;", "&"), fields };
}

/** The provider's state in memory, per instance (its own default adapter warns on every start). */
function memoryAdapter(rows: Map<string, { payload: Record<string, unknown>; expiresAt: number }>) {
  const live = (key: string) => {
    const row = rows.get(key);
    if (row === undefined || row.expiresAt < Date.now()) return undefined;
    return row.payload;
  };
  return class MemoryRows {
    constructor(private readonly model: string) {}
    async upsert(id: string, payload: Record<string, unknown>, expiresIn: number) {
      rows.set(`${this.model}:${id}`, { payload, expiresAt: Date.now() + expiresIn * 1000 });
      if (typeof payload["grantId"] === "string") rows.set(`grant:${payload["grantId"]}:${this.model}:${id}`, { payload: {}, expiresAt: Date.now() + expiresIn * 1000 });
      if (typeof payload["userCode"] === "string") rows.set(`userCode:${payload["userCode"]}`, { payload: { id }, expiresAt: Date.now() + expiresIn * 1000 });
      if (typeof payload["uid"] === "string") rows.set(`uid:${this.model}:${payload["uid"]}`, { payload: { id }, expiresAt: Date.now() + expiresIn * 1000 });
    }
    async find(id: string) {
      return live(`${this.model}:${id}`);
    }
    async findByUserCode(userCode: string) {
      const ref = live(`userCode:${userCode}`);
      return ref === undefined ? undefined : live(`${this.model}:${String(ref["id"])}`);
    }
    async findByUid(uid: string) {
      const ref = live(`uid:${this.model}:${uid}`);
      return ref === undefined ? undefined : live(`${this.model}:${String(ref["id"])}`);
    }
    async consume(id: string) {
      const payload = live(`${this.model}:${id}`);
      if (payload !== undefined) payload["consumed"] = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      rows.delete(`${this.model}:${id}`);
    }
    async revokeByGrantId(grantId: string) {
      for (const key of [...rows.keys()]) {
        if (!key.startsWith(`grant:${grantId}:`)) continue;
        rows.delete(key);
        rows.delete(key.slice(`grant:${grantId}:`.length));
      }
    }
  };
}

const page = (title: string, body: string) => `<!DOCTYPE html><html><head><title>${title}</title></head><body>${body}</body></html>`;

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export async function startIdp(opts: IdpOptions): Promise<TestIdp> {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let refreshTtl = opts.refreshTokenTtlSeconds ?? 86400;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "idp-1", alg: "RS256", use: "sig" };
  const rows = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  const config: Configuration = {
    adapter: memoryAdapter(rows) as unknown as Configuration["adapter"],
    clients: [
      {
        client_id: IDP_CLIENT_ID,
        application_type: "native",
        token_endpoint_auth_method: "none",
        redirect_uris: ["http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        response_types: ["code"],
      },
      ...(opts.clients ?? []),
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["kubegate-test-idp-cookie-key"] },
    claims: { ...CLAIMS, ...opts.scopes } as unknown as Configuration["claims"],
    scopes: ["openid", "offline_access", "email", "groups", "profile", ...Object.keys(opts.scopes ?? {})],
    // Claims of the granted scopes go into the ID token itself, which kubegate verifies.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form) => {
          ctx.body = page("Enter code", form);
        },
        userCodeConfirmSource: async (ctx, form) => {
          ctx.body = page("Confirm device", form);
        },
        successSource: async (ctx) => {
          ctx.body = page("Signed in", "<p>Signed in. You can close this page.</p>");
        },
      },
      // Public clients revoke their own tokens (logout); the provider checks the client.
      revocation: { enabled: true, allowedPolicy: async () => true },
    },
    ttl: {
      IdToken: opts.idTokenTtlSeconds ?? 3600,
      RefreshToken: () => refreshTtl,
      AccessToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 86400,
      DeviceCode: 600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const claims = opts.accounts[id];
      if (claims === undefined) return undefined;
      return { accountId: id, claims: async () => ({ ...claims, sub: id }) };
    },
    renderError: async (ctx, out) => {
      ctx.type = "html";
      ctx.body = page("Error", `<p>${String(out["error"])}: ${String(out["error_description"] ?? "")}</p>`);
    },
  };
  const provider = new Provider(issuer, config);
  const grants: Record<string, number> = {};
  provider.on("grant.success", (ctx) => {
    const type = String(ctx.oidc.params?.["grant_type"] ?? "");
    grants[type] = (grants[type] ?? 0) + 1;
  });
  const callback = provider.callback();

  /** The login and consent pages the provider sends the browser to. */
  async function interaction(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const uid = details.uid;
    const prompt = details.prompt;
    if (req.method === "GET") {
      res.setHeader("content-type", "text/html; charset=utf-8");
      if (prompt.name === "login")
        res.end(page("Sign in", `<form method="post" action="/interaction/${uid}"><label>User <input name="login" value=""></label><input type="hidden" name="step" value="login"><button>Sign in</button></form>`));
      else res.end(page("Allow", `<form method="post" action="/interaction/${uid}"><input type="hidden" name="step" value="consent"><button>Allow</button></form>`));
      return;
    }
    const form = await readForm(req);
    if (form.get("step") === "login") {
      const account = form.get("login") ?? "";
      if (opts.accounts[account] === undefined) {
        res.writeHead(403, { "content-type": "text/html" }).end(page("Sign in", "<p>no such user</p>"));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId !== undefined ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params["client_id"]) });
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant!.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant!.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant!.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  handler = (req, res) => {
    if ((req.url ?? "").startsWith("/interaction/")) {
      interaction(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
      });
      return;
    }
    void callback(req, res);
  };

  async function browse(start: string, account: string, o: { userCode?: string; stopAt?: string } = {}): Promise<BrowseResult> {
    const jar = cookieJar();
    let url = new URL(start);
    let init: RequestInit = {};
    for (let hop = 0; hop < 30; hop++) {
      const sameOrigin = url.origin === issuer;
      const res = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers as Record<string, string>), ...(sameOrigin ? { cookie: jar.header() } : {}) } });
      if (sameOrigin) jar.take(res);
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.arrayBuffer();
        url = new URL(location, url);
        if (o.stopAt !== undefined && url.href.startsWith(o.stopAt)) return { status: res.status, url: url.href, body: "" };
        init = {};
        continue;
      }
      const body = await res.text();
      const form = sameOrigin ? firstForm(body) : undefined;
      if (form === undefined) return { status: res.status, url: url.href, body };
      if ("login" in form.fields) form.fields["login"] = account;
      if ("user_code" in form.fields && o.userCode !== undefined && form.fields["user_code"] === "") form.fields["user_code"] = o.userCode;
      url = new URL(form.action || url.href, url);
      init = { method: "POST", body: new URLSearchParams(form.fields).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } };
    }
    throw new Error(`browsing from ${start} did not finish in 30 steps`);
  }

  const browsed: Array<BrowseResult | Error> = [];
  /** Where the CLI's $BROWSER hands its URL: POST /_browse/<account>. */
  const control = http.createServer((req, res) => {
    void readForm(req).then(async (body) => {
      res.end("ok\n");
      const account = decodeURIComponent((req.url ?? "").replace(/^\/_browse\//, ""));
      browsed.push(await browse(body.get("url") ?? "", account).catch((err: unknown) => err as Error));
    });
  });
  control.listen(0, "127.0.0.1");
  await once(control, "listening");
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

  let closed = false;
  return {
    issuer,
    clientId: IDP_CLIENT_ID,
    browse,
    deviceLogin: (userCode, account) => browse(`${issuer}/device`, account, { userCode }),
    browserCommand: (account) =>
      // The CLI runs $BROWSER with the URL as its last argument, as xdg-open is run.
      `${JSON.stringify(process.execPath)} -e ${JSON.stringify(`fetch(${JSON.stringify(`${controlUrl}/_browse/${encodeURIComponent(account)}`)}, { method: "POST", body: new URLSearchParams({ url: process.argv.at(-1) }) }).then(() => {}, () => process.exit(1))`)}`,
    browsed,
    addClient(metadata) {
      // Clients not in the configuration are looked up through the adapter.
      rows.set(`Client:${String(metadata["client_id"])}`, { payload: metadata, expiresAt: Number.POSITIVE_INFINITY });
    },
    grants,
    setRefreshTokenTtl: (seconds) => void (refreshTtl = seconds),
    async revoke(refreshToken) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: "refresh_token", client_id: IDP_CLIENT_ID }).toString(),
      });
      if (!res.ok) throw new Error(`revocation answered ${res.status}: ${await res.text()}`);
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      control.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => control.close(r))]);
    },
  };
}
