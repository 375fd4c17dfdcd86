/**
 * A direct-mode cluster whose credential is a client certificate: the gateway presents it
 * over mutual TLS, and the member sees the impersonated user, not the gateway.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { http1Request } from "../support/raw-client.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

it("forwards with the cluster's client certificate", async () => {
  const cert = await gw.fake.issueClientCert("kubegate-gateway");
  await gw.admin.clusters.registerCluster({
    name: "by-cert",
    mode: {
      case: "direct",
      value: { serverUrl: gw.fake.url, caPem: gw.fake.caPem, credential: { kind: { case: "clientCertificate", value: { certPem: cert.certPem, keyPem: cert.keyPem } } } },
    },
  });
  const u = await gw.user("cora", { role: "view", cluster: "by-cert" });
  const res = await http1Request(gw.dataUrl, gw.caPem, {
    path: "/clusters/by-cert/api/v1/namespaces/default/pods",
    headers: { authorization: `Bearer ${await u.token()}` },
  });
  expect(res.status).toBe(200);
  const seen = gw.fake.requests.at(-1)!;
  expect(seen.user?.name).toBe("kubegate-gateway");
  expect(seen.impersonatedUser?.name).toBe("kubegate:cora");
  expect(seen.headers["authorization"]).toBeUndefined();
});
