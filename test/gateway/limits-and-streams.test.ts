/**
 * Per-user request limits answer 429 with Retry-After; a client that goes away closes its
 * upstream stream; and with --cut-streams-on-token-expiry a token's expiry ends its watch.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { http1Request } from "../support/raw-client.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ flags: { "request-rate": "1", "request-burst": "2", "cut-streams-on-token-expiry": "true" } });
});
afterAll(() => gw.close());

it("limits requests per user with a 429 Status", async () => {
  const u = await gw.user("lim", { role: "view" });
  const other = await gw.user("other", { role: "view" });
  const get = async (token: string) =>
    http1Request(gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/pods", headers: { authorization: `Bearer ${token}` } });
  const token = await u.token();
  expect((await get(token)).status).toBe(200);
  expect((await get(token)).status).toBe(200);
  const limited = await get(token);
  expect(limited.status).toBe(429);
  expect(limited.headers["retry-after"]).toBe("1");
  expect(limited.json).toMatchObject({ kind: "Status", reason: "TooManyRequests", code: 429, details: { retryAfterSeconds: 1 } });
  expect((await get(await other.token())).status).toBe(200);
});

it("closes the member's stream when the client goes away, and cuts on token expiry when asked", async () => {
  const u = await gw.user("wat", { role: "view" });
  const session = http2.connect(gw.dataUrl, { ca: gw.caPem });
  const watch = (token: string) =>
    session.request({ ":path": "/clusters/member/api/v1/namespaces/default/configmaps?watch=1", authorization: `Bearer ${token}` });
  const s1 = watch(await u.token());
  await new Promise((r) => s1.once("response", r));
  await gw.until(() => gw.fake.liveStreams().watch === 1);
  s1.close();
  await gw.until(() => gw.fake.liveStreams().watch === 0, 2000);

  await new Promise((r) => setTimeout(r, 1100)); // the request limit refills
  const s2 = watch(await u.token(undefined, 1500));
  await new Promise((r) => s2.once("response", r));
  const ended = Date.now();
  await new Promise((r) => s2.once("close", r));
  expect(Date.now() - ended).toBeLessThan(3000); // exp has second precision: 0.5–1.5 s after minting
  await gw.until(() => gw.fake.liveStreams().watch === 0, 2000);
  session.close();
}, 20_000);
