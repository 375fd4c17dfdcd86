/**
 * A user whose name is not ASCII (as OIDC names often are) reaches the member with the
 * name's UTF-8 bytes in Impersonate-User, the way Kubernetes reads header values.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { http1Request } from "../support/raw-client.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

it("impersonates josé as UTF-8", async () => {
  const u = await gw.user("josé", { role: "view", groups: ["équipe"], bindRbac: false });
  gw.fake.clearRequests();
  await http1Request(gw.dataUrl, gw.caPem, { path: "/clusters/member/api/v1/namespaces/default/pods", headers: { authorization: `Bearer ${await u.token()}` } });
  const seen = gw.fake.requests.at(-1)!;
  // The fake, like Node, reads header bytes as latin1; re-reading them as UTF-8 gives the name.
  expect(Buffer.from(String(seen.headers["impersonate-user"]), "latin1").toString("utf8")).toBe("kubegate:josé");
  expect(Buffer.from(String(seen.headers["impersonate-group"]), "latin1").toString("utf8")).toBe("kubegate:équipe");
});
