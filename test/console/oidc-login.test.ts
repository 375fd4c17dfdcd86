/**
 * The console's single sign-on in Debian's chromium against a real OpenID provider: the
 * login page offers the issuer, the browser goes there with PKCE and comes back to
 * /console/, the control plane redeems the code, and the person is in with the IdP's
 * groups, with no code left in the address bar and nothing in script-visible storage. A
 * refusal at the provider and a code this tab did not ask for are shown in words.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { startIdp, type TestIdp } from "../support/idp.ts";
import { accessibilityProblems, chromiumPresent, LOGGED_OUT, startBrowser, type ConsoleBrowser } from "./support.ts";

const CLIENT = "kubegate-console";

describe.runIf(chromiumPresent())("the console's OIDC login in chromium", () => {
  let idp: TestIdp;
  let gw: TestGateway;
  let chrome: ConsoleBrowser;
  let page: Page;
  let problems: string[];
  let shots: string;
  let consoleUrl: string;

  beforeAll(async () => {
    shots = await mkdtemp(join(tmpdir(), "kubegate-console-oidc-"));
    idp = await startIdp({ accounts: { alice: { email: "alice@example.com", email_verified: true, groups: ["platform"] } } });
    gw = await startTestGateway({ flags: { "oidc-issuer-url": idp.issuer, "oidc-client-id": CLIENT, "oidc-scopes": "openid email groups offline_access" } });
    consoleUrl = `${gw.kubegate.control!.url}/console/`;
    idp.addClient({ client_id: CLIENT, token_endpoint_auth_method: "none", redirect_uris: [consoleUrl], grant_types: ["authorization_code"], response_types: ["code"] });
    await gw.admin.grants.createGrant({ cluster: "member", subject: { kind: SubjectKind.GROUP, name: "platform" }, role: Role.VIEW });
    chrome = await startBrowser();
    ({ page, problems } = await chrome.page());
  });
  afterAll(async () => {
    await chrome?.close();
    await gw?.close();
    await idp?.close();
    await rm(shots, { recursive: true, force: true });
  });

  it("logs in at the identity provider and comes back signed in with its groups", async () => {
    await page.goto(consoleUrl);
    const sso = page.getByRole("button", { name: `Log in with ${new URL(idp.issuer).host}` });
    await sso.waitFor();
    // The identity provider's button has the focus: Enter is enough.
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("oidc-login");
    expect(await accessibilityProblems(page)).toEqual([]);
    await page.screenshot({ path: join(shots, "login-sso.png") });
    await page.keyboard.press("Enter");

    // The provider's own pages.
    await page.getByLabel("User").fill("alice");
    const authorize = new URL(page.url());
    expect(authorize.origin).toBe(new URL(idp.issuer).origin);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Allow" }).click();

    await page.locator("#subject").waitFor();
    expect(await page.locator("#subject").textContent()).toBe("oidc:alice@example.com");
    // Back on /console/ with no code, state or error left in the address bar.
    expect(new URL(page.url()).search).toBe("");
    await page.locator('tr[data-cluster="member"]').waitFor();
    expect(await page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")).toEqual(["", 0, 0]);
    // Cookies are not kept apart by port: the provider's own (same host) are left out.
    const cookies = (await page.context().cookies(consoleUrl)).filter((c) => c.name.startsWith("__Host-kubegate"));
    expect(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite])).toEqual([["__Host-kubegate_session", true, true, "Strict"]]);

    // The grant to the IdP group is hers; the CLI command says to log in the same way.
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name: "My access" }).click();
    await page.locator('tr:has(td:text-is("group:platform"))').waitFor();
    expect(await page.locator("pre code").last().textContent()).toBe(`kubegate login --server ${gw.kubegate.control!.url} --oidc`);
    await page.screenshot({ path: join(shots, "my-access-sso.png") });
    expect(problems.filter((p) => !LOGGED_OUT.test(p))).toEqual([]);
  });

  it("shows a refusal at the provider, and a code this tab did not ask for, in words", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API key").waitFor();
    await page.goto(`${consoleUrl}?error=access_denied&error_description=${encodeURIComponent("End-User aborted interaction")}`);
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("the identity provider ended the login: access_denied: End-User aborted interaction");
    expect(new URL(page.url()).search).toBe("");

    await page.goto(`${consoleUrl}?code=stolen&state=guessed`);
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("this login was not started from this browser tab: log in again");
    expect((await page.context().cookies(consoleUrl)).filter((c) => c.name.startsWith("__Host-kubegate"))).toEqual([]);
  });
});
