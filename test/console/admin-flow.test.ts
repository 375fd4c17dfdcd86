/**
 * The console end to end in Debian's chromium, as an admin and a user would use it: the
 * admin registers a direct cluster (with manage_rbac) and an agent cluster (its bootstrap
 * token shown once), creates an API key for alice (its secret shown once) and a view
 * grant, and watches it go FAILED (the member refuses kubegate its bindings) and then
 * APPLIED once kubegate holds the documented role; alice logs in, downloads a kubeconfig and
 * uses it with real kubectl; the admin revokes the grant, sees REVOKED, and alice's
 * kubectl is refused. Every page gets a screenshot in the test's temp dir and an axe-core
 * WCAG 2.1 AA check; forms are used from the keyboard.
 */
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import { holdOnlyDocumentedRole } from "../support/documented-role.ts";
import { clientEnv, KUBECTL, run } from "../support/programs.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { accessibilityProblems, chromiumPresent, LOGGED_OUT, startBrowser, type ConsoleBrowser } from "./support.ts";

describe.runIf(chromiumPresent())("the console: register, grant, kubeconfig, revoke", () => {
  let gw: TestGateway;
  let chrome: ConsoleBrowser;
  let dir: string;
  let adminKey: string;
  let aliceKey = "";
  let aliceKubeconfig = "";
  const shots: string[] = [];
  const a11y: Record<string, string[]> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-console-flow-"));
    gw = await startTestGateway({ mode: "agent" });
    chrome = await startBrowser();
    adminKey = (await gw.admin.identity.createApiKey({ name: "console-admin", subject: "ops", groups: ["kubegate:admins"] })).secret;
  });
  afterAll(async () => {
    await chrome?.close();
    await gw?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Screenshot and accessibility check of the page as it stands. */
  async function record(page: Page, name: string): Promise<void> {
    const path = join(dir, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
    // To look at them after the run (the temp dir goes with the test): KUBEGATE_CONSOLE_SHOTS=<dir>.
    const keep = process.env["KUBEGATE_CONSOLE_SHOTS"];
    if (keep !== undefined && keep !== "") await copyFile(path, join(keep, `${name}.png`));
    a11y[name] = await accessibilityProblems(page);
  }

  async function logIn(page: Page, key: string): Promise<void> {
    await page.goto(`${gw.kubegate.control!.url}/console/`);
    await page.getByLabel("API key").fill(key);
    await page.keyboard.press("Enter");
    await page.locator("#subject").waitFor();
  }

  /** Follows a link of the navigation. */
  async function go(page: Page, name: string): Promise<void> {
    await page.getByRole("navigation", { name: "Pages" }).getByRole("link", { name, exact: true }).click();
  }

  async function logOut(page: Page): Promise<void> {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API key").waitFor();
  }

  it("walks the whole flow", async () => {
    await expect.poll(async () => (await gw.admin.clusters.getCluster({ name: "member" })).cluster?.status?.phase, { timeout: 15_000 }).toBe(ClusterPhase.READY);
    const { page, problems } = await chrome.page();
    await page.goto(`${gw.kubegate.control!.url}/console/`);
    await page.getByLabel("API key").waitFor();
    await record(page, "01-login");
    await logIn(page, adminKey);
    await page.locator('tr[data-cluster="member"]').waitFor();
    // An admin sees every page in the navigation; the current one is marked.
    expect(await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allTextContents()).toEqual(["Clusters", "My access", "Grants", "API keys"]);
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe("Clusters");
    await record(page, "02-clusters");

    // Register a direct cluster from the keyboard: Tab through the form, type, Enter.
    await page.getByRole("link", { name: "Register a cluster" }).click();
    await expect.poll(() => page.evaluate("document.activeElement?.name")).toBe("name");
    await page.keyboard.type("payments");
    await page.keyboard.press("Tab");
    await page.keyboard.type("Payments (EU)");
    await page.getByLabel("API server URL").fill(gw.member.url);
    await page.getByLabel("CA bundle (PEM)").fill(gw.member.caPem);
    await page.getByLabel("Bearer token").fill(gw.member.gatewayToken);
    await page.getByLabel("kubegate keeps RBAC bindings in the member in step with grants").check();
    await record(page, "03-register-direct");
    await page.getByLabel("Bearer token").press("Enter");
    await expect.poll(() => page.getByRole("status").first().textContent()).toMatch(/^Cluster payments registered \(direct mode, impersonate\)/);
    expect((await gw.admin.clusters.getCluster({ name: "payments" })).cluster).toMatchObject({ displayName: "Payments (EU)", serverUrl: gw.member.url, manageRbac: true });
    // The token typed into the form is gone from it.
    expect(await page.getByLabel("Bearer token").inputValue()).toBe("");

    // An agent cluster: the one-time bootstrap token and the commands that use it.
    await page.getByLabel("Name", { exact: true }).fill("edge");
    await page.getByLabel("Mode").selectOption("agent");
    expect(await page.getByLabel("API server URL").isVisible()).toBe(false);
    await page.getByRole("button", { name: "Register" }).click();
    const token = (await page.locator("#bootstrap-token").textContent())!;
    expect(token).toMatch(/^kgb_/);
    expect(await page.getByRole("heading", { level: 2 }).textContent()).toBe("Cluster edge registered: start its agent");
    const commands = await page.locator("pre code").allTextContents();
    expect(commands.some((c) => c.includes(`--from-literal=token='${token}'`))).toBe(true);
    expect(commands.some((c) => c.includes(`kubegate agent --gateway ${gw.dataUrl} --cluster edge`))).toBe(true);
    await page.getByRole("button", { name: "Copy bootstrap token" }).click();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(token);
    await record(page, "04-register-agent");
    // Shown once: the clusters page does not have it.
    await go(page, "Clusters");
    await page.locator('tr[data-cluster="edge"]').waitFor();
    expect(await page.content()).not.toContain(token);
    expect(await page.locator('tr[data-cluster="edge"] td').first().textContent()).toMatch(/^(UNKNOWN|OFFLINE)/);

    // An API key for alice: its secret once.
    await go(page, "API keys");
    await page.getByLabel("Name", { exact: true }).fill("alice-laptop");
    await page.getByLabel("Subject").fill("alice");
    await page.getByRole("button", { name: "Create API key" }).click();
    aliceKey = (await page.locator("#new-secret").textContent())!;
    expect(aliceKey).toMatch(/^kgk_/);
    expect(await page.locator('tr:has-text("alice-laptop") td').nth(1).textContent()).toBe("alice");
    await record(page, "05-api-keys");

    // A view grant on payments, namespace default: PENDING until RBAC is live, then APPLIED.
    await go(page, "Grants");
    await page.getByLabel("Cluster").selectOption("payments");
    await page.getByLabel("Subject", { exact: true }).fill("alice");
    await page.getByLabel("Role").selectOption({ label: "view" });
    await page.getByLabel("Namespaces").fill("default");
    await page.getByRole("button", { name: "Create grant" }).click();
    const grantRow = page.locator('tr:has(td:text-is("user:alice"))');
    await grantRow.waitFor();
    // The registered credential may impersonate but not manage bindings: the page says so.
    await expect.poll(() => grantRow.locator("td.state").textContent(), { timeout: 15_000 }).toMatch(/^FAILEDkubegate cannot list its RoleBindings and ClusterRoleBindings in the member: .*forbidden/);
    await record(page, "06-grant-failed");
    // Given the role deploy/ documents, the next reconcile (here: another grant's) retries
    // it, and the page follows both to APPLIED.
    await holdOnlyDocumentedRole(gw);
    await page.getByLabel("Cluster").selectOption("payments");
    await page.getByLabel("Subject", { exact: true }).fill("bob");
    await page.getByLabel("Role").selectOption({ label: "edit" });
    await page.getByRole("button", { name: "Create grant" }).click();
    const bobRow = page.locator('tr:has(td:text-is("user:bob"))');
    await bobRow.waitFor();
    await expect.poll(() => bobRow.locator("td.state").textContent(), { timeout: 15_000 }).toMatch(/^APPLIED/);
    await expect.poll(() => grantRow.locator("td.state").textContent(), { timeout: 15_000 }).toMatch(/^APPLIED/);
    const grantId = (await grantRow.getAttribute("data-grant"))!;
    await record(page, "07-grants");
    await logOut(page);

    // Alice: her access, a kubeconfig, real kubectl. No admin pages for her.
    await logIn(page, aliceKey);
    expect(await page.getByRole("navigation", { name: "Pages" }).getByRole("link").allTextContents()).toEqual(["Clusters", "My access"]);
    await go(page, "My access");
    const mine = page.locator(`tr[data-grant="${grantId}"]`);
    await mine.waitFor();
    expect(await mine.locator("td").allTextContents()).toEqual(["view", "default", "user:alice", expect.stringMatching(/^APPLIEDbound in the member by RoleBinding kubegate-gr-\w+ in namespace default$/), "never"]);
    expect(await page.locator('li[data-cluster="payments"] pre code').textContent()).toBe("kubegate kubeconfig add --cluster payments --use");
    expect(await page.locator("pre code").last().textContent()).toBe(`kubegate login --server ${gw.kubegate.control!.url}`);
    await page.getByLabel("What the kubeconfig holds").selectOption("token-3600");
    const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download kubeconfig for payments" }).click()]);
    expect(file.suggestedFilename()).toBe("kubeconfig-payments.yaml");
    aliceKubeconfig = join(dir, "kubeconfig-payments.yaml");
    await file.saveAs(aliceKubeconfig);
    expect(await readFile(aliceKubeconfig, "utf8")).toContain("current-context: kubegate-payments");
    await expect.poll(() => page.locator("#download-status").textContent()).toMatch(/^Downloaded kubeconfig-payments\.yaml for payments; its token expires /);
    await record(page, "08-my-access");
    const env = clientEnv(aliceKubeconfig, dir);
    const allowed = await run(KUBECTL, ["get", "pods", "-n", "default"], env);
    expect(allowed.stderr).not.toMatch(/forbidden|Unauthorized/i);
    expect(allowed.code).toBe(0);
    const denied = await run(KUBECTL, ["create", "configmap", "x", "-n", "default"], env);
    expect(denied.stderr).toMatch(/forbidden/);
    await logOut(page);

    // The admin revokes; the page shows REVOKED with the reason; alice's kubectl is refused.
    await logIn(page, adminKey);
    // The cluster's recent activity: alice's refused create, her counted reads, the grants.
    await page.getByRole("link", { name: "payments", exact: true }).click();
    await page.getByRole("heading", { name: "Recent activity on payments" }).waitFor();
    const refusedCreate = page.locator('tr[data-kind="request"]:has(td:text-is("403"))');
    await expect.poll(async () => {
      await page.reload();
      return refusedCreate.count();
    }, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await refusedCreate.first().locator("td").nth(1).textContent()).toMatch(/^create configmaps default.*read-only/);
    expect(await refusedCreate.first().locator("td").first().textContent()).toMatch(/alice/);
    expect(await page.locator('tr[data-kind="grant.create"]').count()).toBe(2);
    await record(page, "09-audit");
    await go(page, "Grants");
    await page.getByRole("button", { name: `Revoke ${grantId}` }).click();
    const dialog = page.getByRole("dialog");
    expect(await dialog.getByRole("heading").textContent()).toBe(`Revoke ${grantId}?`);
    // Escape cancels: nothing happens.
    await page.keyboard.press("Escape");
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await page.locator(`tr[data-grant="${grantId}"] td.state`).textContent()).toMatch(/^APPLIED/);
    await page.getByRole("button", { name: `Revoke ${grantId}` }).click();
    await record(page, "10-revoke-dialog");
    await page.getByLabel("Reason (optional)").fill("offboarded");
    await page.getByRole("button", { name: "Revoke", exact: true }).click();
    await expect.poll(() => page.locator(`tr[data-grant="${grantId}"] td.state`).textContent()).toMatch(/^REVOKED/);
    expect(await page.locator(`tr[data-grant="${grantId}"] td.state small`).textContent()).toContain("offboarded");
    expect(await page.getByRole("button", { name: `Revoke ${grantId}` }).count()).toBe(0);
    await record(page, "11-revoked");
    await expect.poll(async () => (await run(KUBECTL, ["get", "pods", "-n", "default"], env)).code, { timeout: 10_000 }).not.toBe(0);

    expect(problems.filter((p) => !LOGGED_OUT.test(p))).toEqual([]);
  });

  it("wrote a screenshot of every page, and axe-core finds no WCAG 2.1 AA problem on any", async () => {
    expect(shots.map((s) => s.slice(dir.length + 1))).toEqual([
      "01-login.png",
      "02-clusters.png",
      "03-register-direct.png",
      "04-register-agent.png",
      "05-api-keys.png",
      "06-grant-failed.png",
      "07-grants.png",
      "08-my-access.png",
      "09-audit.png",
      "10-revoke-dialog.png",
      "11-revoked.png",
    ]);
    for (const s of shots) expect((await readFile(s)).subarray(1, 4).toString()).toBe("PNG");
    expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((k) => [k, []])));
  });
});
