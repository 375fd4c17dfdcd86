/**
 * /healthz, /readyz and /metrics on the data plane: ready only with a fresh view; metrics
 * count requests by cluster, verb and code, show live streams and sync staleness.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { http1Request } from "../support/raw-client.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

it("reports health, readiness and Prometheus metrics", async () => {
  expect((await http1Request(gw.dataUrl, gw.caPem, { path: "/healthz" })).body).toBe("ok\n");
  expect((await http1Request(gw.dataUrl, gw.caPem, { path: "/readyz" })).status).toBe(200);
  const u = await gw.user("mia", { role: "view" });
  const token = await u.token();
  const auth = { authorization: `Bearer ${token}` };
  expect((await http1Request(gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/pods", headers: auth })).status).toBe(200);
  expect((await http1Request(gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/configmaps", method: "POST", headers: auth, body: "{}" })).status).toBe(403);
  expect((await http1Request(gw.dataUrl, gw.caPem, { path: "/clusters/nope-x/api", headers: auth })).status).toBe(404);

  const metrics = (await http1Request(gw.dataUrl, gw.caPem, { path: "/metrics" })).body;
  expect(metrics).toMatch(/^kubegate_requests_total\{cluster="member",verb="list",code="200"\} 1$/m);
  expect(metrics).toMatch(/^kubegate_requests_total\{cluster="member",verb="create",code="403"\} 1$/m);
  // An unknown cluster name never becomes a label value.
  expect(metrics).not.toContain("nope-x");
  expect(metrics).toMatch(/^kubegate_request_duration_seconds_bucket\{cluster="member",verb="list",le="\+Inf"\} 1$/m);
  expect(metrics).toMatch(/^kubegate_active_streams\{kind="watch"\} 0$/m);
  expect(metrics).toMatch(/^kubegate_sync_connected 1$/m);
  const staleness = Number(/^kubegate_sync_staleness_seconds (\S+)$/m.exec(metrics)?.[1]);
  expect(staleness).toBeGreaterThanOrEqual(0);
  expect(staleness).toBeLessThan(5);
});
