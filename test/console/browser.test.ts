/**
 * The web console in a real browser: Debian's chromium, headless, driven by playwright-core
 * (no browser download). Log in with an API key using only the keyboard, see the clusters
 * page with the member READY, find the session in an HttpOnly cookie and nothing in
 * script-visible storage, no CSP violation, and log out. Screenshots of each page go to
 * the test's temp dir.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { chromiumPresent, LOGGED_OUT, startBrowser, type ConsoleBrowser } from "./support.ts";

describe.runIf(chromiumPresent())("the web console in chromium", () => {
  let gw: TestGateway;
  let chrome: ConsoleBrowser;
  let page: Page;
  let shots: string;
  let problems: string[] = [];

  beforeAll(async () => {
    shots = await mkdtemp(join(tmpdir(), "kubegate-console-"));
    // Agent mode: the tunnel reports READY (a direct cluster's comes from the data plane's probe).
    gw = await startTestGateway({ mode: "agent" });
    // The control plane's CA is the test's own: the browser is told to accept it.
    chrome = await startBrowser();
    ({ page, problems } = await chrome.page());
  });
  afterAll(async () => {
    await chrome?.close();
    await gw?.close();
    await rm(shots, { recursive: true, force: true });
  });

  it("logs in with an API key from the keyboard and shows the clusters", async () => {
    const key = (await gw.admin.identity.createApiKey({ name: "console", subject: "ops", groups: ["kubegate:admins"] })).secret;
    // The member's first status report, so the page has READY to show.
    await expect.poll(async () => (await gw.admin.clusters.getCluster({ name: "member" })).cluster?.status?.phase, { timeout: 15_000 }).toBe(ClusterPhase.READY);
    await page.goto(gw.kubegate.control!.url);
    expect(new URL(page.url()).pathname).toBe("/console/");
    // The field has a label, and has the focus: type and press Enter, no mouse.
    const field = page.getByLabel("API key");
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("credential");
    await page.screenshot({ path: join(shots, "login.png") });

    await page.keyboard.type("kgk_wrong");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("unknown API key");

    await field.fill(key);
    await page.keyboard.press("Enter");
    const row = page.locator('tr[data-cluster="member"]');
    await row.waitFor();
    expect(await page.locator("h1").textContent()).toBe("Clusters");
    expect(await row.locator("td").first().textContent()).toBe("READY");
    expect(await row.locator("td").nth(2).textContent()).toMatch(/^agent, last seen /);
    expect(await page.locator("#subject").textContent()).toBe("ops (admin)");
    await page.screenshot({ path: join(shots, "clusters.png") });

    // The session is in an HttpOnly cookie: scripts see no secret anywhere.
    expect(await page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")).toEqual(["", 0, 0]);
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite])).toEqual([["__Host-kubegate_session", true, true, "Strict"]]);
    expect(cookies[0]!.value).not.toContain(key);
    // Page errors count; the failed login's 401 is the only console error.
    expect(problems.filter((p) => !LOGGED_OUT.test(p))).toEqual([]);
  });

  it("logs out: the cookie is gone and the login page is back", async () => {
    await page.getByRole("button", { name: "Log out" }).press("Enter");
    await page.getByLabel("API key").waitFor();
    expect(await page.context().cookies()).toEqual([]);
    await page.reload();
    await page.getByLabel("API key").waitFor();
    await page.screenshot({ path: join(shots, "logged-out.png") });
  });
});
