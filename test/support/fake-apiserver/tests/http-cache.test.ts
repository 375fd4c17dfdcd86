/**
 * The fake sends ETags and 304 on discovery and OpenAPI as kube-apiserver does, and real
 * kubectl revalidates its warm cache with them — directly, and through kubegate on both
 * client protocols (a 304 is no redirect and passes as the member sent it).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../../gateway.ts";
import { KUBECTL, clientEnv, hasFile, requireProgram, run } from "../../programs.ts";
import { rawRequest } from "../../raw-client.ts";

const available = requireProgram(hasFile(KUBECTL), `kubectl at ${KUBECTL}`);
const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

describe.runIf(available)("HTTP caching of discovery and OpenAPI", () => {
  let gw: TestGateway;
  let token: string;
  let home: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    const user = await gw.user("cathy", { role: "view" });
    token = await user.token();
    home = await mkdtemp(join(tmpdir(), "kubegate-http-cache-"));
  });
  afterAll(async () => {
    await gw.close();
    await rm(home, { recursive: true, force: true });
  });

  for (const [where, base, prefix, auth] of [
    ["the fake itself", () => gw.fake.url, "", () => `Bearer ${gw.fake.adminToken}`],
    ["kubegate in front of it", () => gw.dataUrl, "/clusters/member", () => `Bearer ${token}`],
  ] as const) {
    for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
      it(`${where}, ${protocol}: ETag, then 304 with no body for a matching If-None-Match, 200 for another`, async () => {
        const ca = where === "the fake itself" ? gw.fake.caPem : gw.caPem;
        for (const [path, accept, vary] of [
          ["/apis", AGGREGATED, "Accept"],
          ["/api", AGGREGATED, "Accept"],
          ["/openapi/v3/api/v1", "application/json", "Accept-Encoding, Accept"],
          ["/openapi/v2", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "Accept-Encoding, Accept"],
        ] as const) {
          const headers = { authorization: auth(), accept };
          const first = await rawRequest(protocol, base(), ca, { path: `${prefix}${path}`, headers });
          expect(first.status, path).toBe(200);
          const etag = first.headers["etag"] as string;
          expect(etag, path).toMatch(/^"[0-9A-F]{128}"$/);
          const again = await rawRequest(protocol, base(), ca, { path: `${prefix}${path}`, headers: { ...headers, "if-none-match": etag } });
          expect(again.status, path).toBe(304);
          expect(again.body).toBe("");
          expect(again.headers["etag"]).toBe(etag);
          expect(again.headers["vary"]).toBe(vary);
          expect(again.headers["cache-control"]).toBe(first.headers["cache-control"]);
          const other = await rawRequest(protocol, base(), ca, { path: `${prefix}${path}`, headers: { ...headers, "if-none-match": '"0"' } });
          expect(other.status).toBe(200);
        }
        // Another representation is another ETag.
        const legacy = await rawRequest(protocol, base(), ca, { path: `${prefix}/apis`, headers: { authorization: auth(), accept: "application/json" } });
        expect(legacy.headers["etag"]).toBeUndefined();
      });
    }
  }

  // explain needs full OpenAPI schemas, which only the real API server has (test/real-apiserver covers it).
  it("kubectl api-resources with a warm cache revalidates through kubegate", async () => {
    const kubeconfig = await (await gw.user("kim", { role: "view" })).kubeconfig();
    const before = gw.fake.requests.length;
    for (let round = 0; round < 2; round++) {
      const resources = await run(KUBECTL, ["api-resources"], clientEnv(kubeconfig, home));
      expect(resources.stderr).toBe("");
      expect(resources.stdout).toMatch(/configmaps\s+cm\s+v1\s+true\s+ConfigMap/);
    }
    const revalidated = gw.fake.requests.slice(before).filter((r) => r.status === 304);
    expect(revalidated.length).toBeGreaterThan(0);
  });
});
