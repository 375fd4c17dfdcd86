/**
 * Chromium for console tests: Debian's binary driven by playwright-core, headless, with the
 * test's own CA accepted; console errors and page errors collected; axe-core (the standard
 * accessibility engine) run in the page through the devtools protocol, so the console's CSP
 * stays as it is served.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { hasFile, requireProgram } from "../support/programs.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumPresent = () => requireProgram(hasFile(CHROMIUM), "Debian's chromium (/usr/bin/chromium)");

/** The failures a logged-out page expects: asking who it is, and a refused login. */
export const LOGGED_OUT = /^401 POST \S+\/kubegate\.v1\.IdentityService\/(WhoAmI|StartSession)$/;

export interface ConsoleBrowser {
  browser: Browser;
  /** A fresh context (cookies of its own) and its page. */
  page(): Promise<{ context: BrowserContext; page: Page; problems: string[] }>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<ConsoleBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  return {
    browser,
    async page() {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      await context.grantPermissions(["clipboard-read", "clipboard-write"]);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        // A failed load is recorded with its URL below.
        if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(e.message));
      // Which URL failed (the console message does not say).
      page.on("response", (r) => {
        if (r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
      });
      return { context, page, problems };
    },
    close: () => browser.close(),
  };
}

let axeSource: Promise<string> | undefined;

/** axe-core's WCAG 2 A and AA findings on the page as it is now: rule id, impact, and where. */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(await axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  return violations;
}
