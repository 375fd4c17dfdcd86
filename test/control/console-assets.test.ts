/**
 * The web console is served by the control plane on its own port and TLS: its page, script
 * and styles under /console/ with a Content-Security-Policy that allows no inline script
 * and no other origin, and nothing else of the disk.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CONSOLE_CSP } from "../../src/control/console-assets.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

let cp: TestControlPlane;
beforeAll(async () => {
  cp = await startTestControlPlane();
});
afterAll(async () => {
  await cp.close();
});

function get(path: string, method = "GET"): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(cp.url, { ca: cp.caPem });
    session.once("error", reject);
    const req = session.request({ ":path": path, ":method": method });
    let body = "";
    let headers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (headers = h));
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body });
    });
    req.once("error", reject);
    req.end();
  });
}

it("serves the console page with a strict CSP and no inline script", async () => {
  const page = await get("/console/");
  expect(page.status).toBe(200);
  expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
  expect(page.headers["content-security-policy"]).toBe(CONSOLE_CSP);
  expect(CONSOLE_CSP).toContain("script-src 'self'");
  expect(CONSOLE_CSP).not.toContain("unsafe-inline");
  expect(page.headers["x-content-type-options"]).toBe("nosniff");
  // Every script is a file of the console's own: none inline.
  const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  expect(scripts.length).toBeGreaterThan(0);
  for (const [, attrs, inline] of scripts) {
    expect(attrs).toMatch(/src="app\.js"/);
    expect(inline!.trim()).toBe("");
  }
  expect(page.body).not.toMatch(/\son[a-z]+=/i);

  const script = await get("/console/app.js");
  expect(script.status).toBe(200);
  expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
  // The bundle holds the generated descriptors of the control plane's own services (no
  // REST layer, no copy of the API) and the Connect-Web client that calls them.
  for (const file of ["identity", "cluster"]) {
    const name = `kubegate/v1/${file}.proto`;
    const descriptor = Buffer.concat([Buffer.from([0x0a, name.length]), Buffer.from(name)]).toString("base64").slice(0, 24);
    expect(script.body.includes(descriptor), `${file}.proto descriptor`).toBe(true);
  }
  expect(script.body.includes("connect-es/2.2.0")).toBe(true);
  expect((await get("/console/style.css")).headers["content-type"]).toBe("text/css; charset=utf-8");
});

it("sends / to the console and serves nothing else from the disk", async () => {
  const root = await get("/");
  expect(root.status).toBe(302);
  expect(root.headers["location"]).toBe("/console/");
  for (const path of ["/console/../package.json", "/console/%2e%2e/package.json", "/console/nope.js", "/console/app.ts"]) expect((await get(path)).status, path).toBe(404);
  expect((await get("/console/", "POST")).status).toBe(405);
  // Health and Connect routes are as before.
  expect((await get("/healthz")).body).toBe("ok\n");
});
