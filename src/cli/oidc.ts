/**
 * The CLI's side of OpenID Connect, as a public native client (no secret): discovery,
 * authorization code with PKCE through a loopback redirect on 127.0.0.1 (RFC 8252),
 * device authorization for machines without a browser (RFC 8628), refresh, and checking
 * the ID token it gets. Every failure is a CliError that says what to do.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { CliError } from "./cli-error.ts";

export interface OidcClientConfig {
  issuerUrl: string;
  clientId: string;
  scopes: string[];
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  device_authorization_endpoint?: string;
  revocation_endpoint?: string;
}

export interface OidcTokens {
  idToken: string;
  /** Absent when the provider issued none (no offline_access): log in again on expiry. */
  refreshToken?: string;
}

const HTTP_TIMEOUT_MS = 10_000;

/** An error from the provider's token endpoint (RFC 6749 section 5.2). */
export class OAuthError extends CliError {
  constructor(
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}

async function call(url: string, what: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), redirect: "error" });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach the identity provider (${what} at ${url}): ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

const discoveries = new Map<string, Promise<Discovery>>();

export function discover(issuerUrl: string): Promise<Discovery> {
  let found = discoveries.get(issuerUrl);
  if (found === undefined) {
    found = (async () => {
      const url = `${issuerUrl.replace(/\/$/, "")}/.well-known/openid-configuration`;
      const res = await call(url, "discovery");
      if (!res.ok) throw new CliError(`the identity provider's discovery document at ${url} answered ${res.status}`);
      const doc = (await res.json().catch(() => ({}))) as Partial<Discovery>;
      if (doc.issuer !== issuerUrl) throw new CliError(`the discovery document at ${url} names issuer ${JSON.stringify(doc.issuer)}, not ${issuerUrl}`);
      for (const key of ["authorization_endpoint", "token_endpoint", "jwks_uri"] as const)
        if (typeof doc[key] !== "string") throw new CliError(`the discovery document at ${url} has no ${key}`);
      return doc as Discovery;
    })();
    discoveries.set(issuerUrl, found);
    found.catch(() => discoveries.delete(issuerUrl));
  }
  return found;
}

/** POSTs a form to the token endpoint; an OAuth error answer becomes OAuthError. */
async function tokenRequest(d: Discovery, form: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await call(d.token_endpoint, "token endpoint", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const error = typeof body["error"] === "string" ? body["error"] : `http_${res.status}`;
    const description = typeof body["error_description"] === "string" ? `: ${body["error_description"]}` : "";
    throw new OAuthError(error, `the identity provider refused the request (${error}${description})`);
  }
  return body;
}

/** Checks the ID token as the control plane will (and the nonce, which only we know). */
async function checkedTokens(d: Discovery, cfg: OidcClientConfig, body: Record<string, unknown>, nonce?: string): Promise<OidcTokens> {
  const idToken = body["id_token"];
  if (typeof idToken !== "string") throw new CliError("the identity provider answered without an ID token: is `openid` among the scopes?");
  try {
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(d.jwks_uri)), {
      issuer: cfg.issuerUrl,
      audience: cfg.clientId,
      algorithms: ["RS256", "ES256", "EdDSA", "PS256"],
      clockTolerance: 60,
    });
    if (nonce !== undefined && payload["nonce"] !== nonce) throw new Error("the nonce does not match this login");
  } catch (err) {
    throw new CliError(`the identity provider's ID token is not valid for this login: ${(err as Error).message}`);
  }
  const refresh = body["refresh_token"];
  return { idToken, ...(typeof refresh === "string" ? { refreshToken: refresh } : {}) };
}

/** How a URL is shown to the person: $BROWSER, else xdg-open or open; always printed. */
export async function openBrowser(url: string, opts: { noBrowser: boolean; print: (line: string) => void }): Promise<void> {
  opts.print(`Open this URL in a browser to log in:\n\n  ${url}\n`);
  if (opts.noBrowser) return;
  const browser = process.env["BROWSER"];
  const [command, args] =
    browser !== undefined && browser !== ""
      ? ["/bin/sh", ["-c", `${browser} "$1"`, "sh", url]]
      : process.platform === "darwin"
        ? ["open", [url]]
        : ["xdg-open", [url]];
  await new Promise<void>((resolve) => {
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    child.once("error", () => resolve());
    child.once("spawn", () => {
      child.unref();
      resolve();
    });
  });
}

const CALLBACK_PAGE = (title: string, text: string) =>
  `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`;

/**
 * Authorization code + PKCE: a one-shot HTTP server on 127.0.0.1 (random port) receives the
 * redirect; state and nonce tie it to this login.
 */
export async function loginWithBrowser(
  cfg: OidcClientConfig,
  opts: { noBrowser: boolean; timeoutMs: number; print: (line: string) => void },
): Promise<OidcTokens> {
  const d = await discover(cfg.issuerUrl);
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const nonce = randomBytes(16).toString("base64url");
  let settle!: { resolve: (code: string) => void; reject: (err: Error) => void };
  const codeArrived = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/callback") return void res.writeHead(404).end();
    const reply = (status: number, title: string, text: string) => res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(CALLBACK_PAGE(title, text));
    if (url.searchParams.get("state") !== state) return reply(400, "Login failed", "This answer is not for the login kubegate is waiting for.");
    const error = url.searchParams.get("error");
    if (error !== null) {
      reply(400, "Login failed", "The identity provider refused the login; see the terminal.");
      settle.reject(new CliError(`the identity provider refused the login (${error}${url.searchParams.has("error_description") ? `: ${url.searchParams.get("error_description")}` : ""})`));
      return;
    }
    const code = url.searchParams.get("code");
    if (code === null) return reply(400, "Login failed", "The answer has no authorization code.");
    reply(200, "Logged in", "kubegate has your login. You can close this window.");
    settle.resolve(code);
  });
  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => server.once("listening", resolve).once("error", reject));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  try {
    const authorize = new URL(d.authorization_endpoint);
    for (const [k, v] of Object.entries({
      client_id: cfg.clientId,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: cfg.scopes.join(" "),
      state,
      nonce,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      // OpenID Connect Core 11: a refresh token (offline_access) is granted with consent.
      ...(cfg.scopes.includes("offline_access") ? { prompt: "consent" } : {}),
    }))
      authorize.searchParams.set(k, v);
    await openBrowser(authorize.href, opts);
    const timer = setTimeout(() => settle.reject(new CliError(`no login arrived within ${Math.round(opts.timeoutMs / 1000)} s`)), opts.timeoutMs);
    const code = await codeArrived.finally(() => clearTimeout(timer));
    const body = await tokenRequest(d, { grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: cfg.clientId, code_verifier: verifier });
    return await checkedTokens(d, cfg, body, nonce);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** RFC 8628: print where to go and the code, then poll until the person has approved. */
export async function loginWithDevice(cfg: OidcClientConfig, opts: { print: (line: string) => void }): Promise<OidcTokens> {
  const d = await discover(cfg.issuerUrl);
  if (d.device_authorization_endpoint === undefined) throw new CliError(`the identity provider at ${cfg.issuerUrl} offers no device authorization; log in with a browser instead`);
  const res = await call(d.device_authorization_endpoint, "device authorization", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams({ client_id: cfg.clientId, scope: cfg.scopes.join(" ") }).toString(),
  });
  const grant = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || typeof grant["device_code"] !== "string" || typeof grant["user_code"] !== "string" || typeof grant["verification_uri"] !== "string")
    throw new CliError(`the identity provider refused device authorization (${String(grant["error"] ?? `HTTP ${res.status}`)})`);
  const complete = typeof grant["verification_uri_complete"] === "string" ? `\nor open ${grant["verification_uri_complete"]}` : "";
  opts.print(`To log in, open ${grant["verification_uri"]} and enter the code ${grant["user_code"]}${complete}\n`);
  let intervalMs = (typeof grant["interval"] === "number" ? grant["interval"] : 5) * 1000;
  const deadline = Date.now() + (typeof grant["expires_in"] === "number" ? grant["expires_in"] : 600) * 1000;
  while (Date.now() < deadline) {
    await sleep(intervalMs);
    try {
      const body = await tokenRequest(d, { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: grant["device_code"], client_id: cfg.clientId });
      return await checkedTokens(d, cfg, body);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (err.error === "authorization_pending") continue;
      if (err.error === "slow_down") {
        intervalMs += 5000;
        continue;
      }
      if (err.error === "expired_token") break;
      if (err.error === "access_denied") throw new CliError("the login was denied at the identity provider");
      throw err;
    }
  }
  throw new CliError("the device code expired before the login was approved: run `kubegate login --device` again");
}

/** Trades the refresh token for a fresh ID token (and maybe a rotated refresh token). */
export async function refreshTokens(cfg: OidcClientConfig, refreshToken: string): Promise<OidcTokens> {
  const d = await discover(cfg.issuerUrl);
  const body = await tokenRequest(d, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: cfg.clientId });
  const tokens = await checkedTokens(d, cfg, body);
  // A provider that does not rotate keeps the old refresh token valid.
  return { idToken: tokens.idToken, refreshToken: tokens.refreshToken ?? refreshToken };
}

/** Best effort at logout: the provider forgets the refresh token. */
export async function revokeRefreshToken(cfg: OidcClientConfig, refreshToken: string): Promise<boolean> {
  try {
    const d = await discover(cfg.issuerUrl);
    if (d.revocation_endpoint === undefined) return false;
    const res = await call(d.revocation_endpoint, "revocation", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: "refresh_token", client_id: cfg.clientId }).toString(),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/** The ID token's subject and lifetime, read without checking (the control plane checks). */
export function idTokenTimes(idToken: string): { sub: string; issuedAt: number; expiresAt: number } {
  try {
    const p = decodeJwt(idToken);
    return { sub: String(p.sub ?? ""), issuedAt: (p.iat ?? 0) * 1000, expiresAt: (p.exp ?? 0) * 1000 };
  } catch {
    return { sub: "", issuedAt: 0, expiresAt: 0 };
  }
}
