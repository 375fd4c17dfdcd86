/**
 * The gateway speaks HTTP/2 to members that offer it: many client requests share one
 * upstream connection; a member that negotiates http/1.1 is served over HTTP/1.1; and a
 * watch whose client never reads holds a bounded buffer in the gateway while another
 * client lists and watches at full speed over the same upstream session.
 */
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";
import { http2Connect, rawRequest } from "../support/raw-client.ts";
import { connectionsTo, FLOOD_COUNT, floodPastStalledWatch, readEvents, startMemberProcess, until, type MemberProcess } from "../support/watch-streams.ts";
import { createCa, issueServerCert } from "../../src/tls/pki.ts";

const CONFIGMAPS = "/api/v1/namespaces/default/configmaps";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ fake: { objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "one", namespace: "default" }, data: { n: "1" } }] } });
});
afterAll(() => gw?.close());

describe("HTTP/2 to the member", () => {
  it("carries many client requests, HTTP/1.1 and HTTP/2, over one upstream connection", async () => {
    const user = await gw.user("multi", { role: "view" });
    const token = await user.token();
    const before = gw.fake.requests.length;
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        rawRequest(i % 2 === 0 ? "HTTP/2" : "HTTP/1.1", gw.dataUrl, gw.caPem, { path: `/clusters/member${CONFIGMAPS}`, headers: { authorization: `Bearer ${token}` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    const seen = gw.fake.requests.slice(before);
    expect(seen).toHaveLength(40);
    expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(["2.0"]));
    expect(seen.every((r) => r.impersonatedUser?.name === "kubegate:multi")).toBe(true);
    expect(gw.fake.openConnections()).toBe(1);
  });

  it("serves a member that negotiates http/1.1 over HTTP/1.1, streams included", async () => {
    // A TLS relay in front of the fake that only speaks http/1.1.
    const ca = await createCa("h1-relay-ca");
    const cert = await issueServerCert(ca, ["127.0.0.1"]);
    const sockets = new Set<tls.TLSSocket>();
    const relay = tls.createServer({ key: cert.keyPem, cert: cert.certPem, ALPNProtocols: ["http/1.1"] }, (client) => {
      const upstream = tls.connect({ host: "127.0.0.1", port: gw.fake.port, ca: gw.fake.caPem, ALPNProtocols: ["http/1.1"] });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (relay.address() as { port: number }).port;
      await gw.admin.clusters.registerCluster({
        name: "h1-member",
        mode: { case: "direct", value: { serverUrl: `https://127.0.0.1:${port}`, caPem: ca.certPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
      });
      await gw.until(() => gw.kubegate.data!.view.clusters.has("h1-member"));
      const user = await gw.user("old", { role: "view", cluster: "h1-member" });
      const token = await user.token();
      const before = gw.fake.requests.length;
      for (const protocol of ["HTTP/2", "HTTP/1.1", "HTTP/2"] as const) {
        const res = await rawRequest(protocol, gw.dataUrl, gw.caPem, { path: `/clusters/h1-member${CONFIGMAPS}`, headers: { authorization: `Bearer ${token}` } });
        expect(res.status, res.body).toBe(200);
        expect(res.json?.["kind"]).toBe("ConfigMapList");
      }
      // A watch streams, and the client going away closes the member's stream.
      const session = await http2Connect(gw.dataUrl, gw.caPem);
      const watch = session.request({ ":path": `/clusters/h1-member${CONFIGMAPS}?watch=1`, authorization: `Bearer ${token}` });
      const events: string[] = [];
      readEvents(watch, (e) => events.push(`${e.type} ${e.object.metadata.name}`));
      await until(() => events.includes("ADDED one"), "the watch's first event", 5000);
      expect(gw.fake.liveStreams().watch).toBe(1);
      watch.close();
      await until(() => gw.fake.liveStreams().watch === 0, "the member's watch to end", 2000);
      session.close();
      const seen = gw.fake.requests.slice(before);
      expect(seen).toHaveLength(4);
      expect(new Set(seen.map((r) => r.httpVersion))).toEqual(new Set(["1.1"]));
      expect(seen.every((r) => r.headers["authorization"] === `Bearer ${gw.fake.gatewayToken}` && r.impersonatedUser?.name === "kubegate:old")).toBe(true);
      // A write from an HTTP/2 client as the first request to a cluster: its body waits on
      // the client's stream while the gateway learns the member speaks HTTP/1.1, then
      // reaches it whole.
      await gw.admin.clusters.registerCluster({
        name: "h1-member-2",
        mode: { case: "direct", value: { serverUrl: `https://127.0.0.1:${port}`, caPem: ca.certPem, credential: { kind: { case: "bearerToken", value: gw.fake.gatewayToken! } } } },
      });
      await gw.until(() => gw.kubegate.data!.view.clusters.has("h1-member-2"));
      const writer = await (await gw.user("h1-writer", { role: "edit", cluster: "h1-member-2" })).token();
      const big = "y".repeat(300_000);
      const write = (method: string, path: string, body?: unknown) =>
        rawRequest("HTTP/2", gw.dataUrl, gw.caPem, {
          method,
          path: `/clusters/h1-member-2${path}`,
          headers: { authorization: `Bearer ${writer}`, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const created = await write("POST", CONFIGMAPS, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "from-h2" }, data: { big } });
      expect(created.status, created.body).toBe(201);
      expect(gw.fake.getObject("v1", "ConfigMap", "default", "from-h2")?.["data"]).toEqual({ big });
      expect((await write("DELETE", `${CONFIGMAPS}/from-h2`)).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });
});

describe("a watch whose client never reads", () => {
  // The member runs in its own process, so what it queues for the stalled watch is not
  // counted in this process, which holds the gateway.
  let member: MemberProcess | undefined;

  beforeAll(async () => {
    member = await startMemberProcess();
    await gw.admin.clusters.registerCluster({
      name: "flood",
      mode: { case: "direct", value: { serverUrl: member.url, caPem: member.caPem, credential: { kind: { case: "bearerToken", value: member.gatewayToken } } } },
    });
    await gw.until(() => gw.kubegate.data!.view.clusters.has("flood"));
    await member.admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-flo", "view", [{ kind: "User", name: "kubegate:flo" }]));
  });
  afterAll(() => member?.close());

  it("holds a bounded buffer in the gateway while another client lists and watches at full speed on the same upstream session", async () => {
    const user = await gw.user("flo", { role: "view", cluster: "flood", bindRbac: false });
    const auth = { authorization: `Bearer ${await user.token()}` };
    const path = `/clusters/flood${CONFIGMAPS}`;

    await floodPastStalledWatch({ dataUrl: gw.dataUrl, caPem: gw.caPem, path, auth, member: member! }, async ({ stalled, lists, watchMs, listed, totalMs, grewMiB, catchUp }) => {
      expect(listed).toBe(FLOOD_COUNT);
      // Every request to the member, stalled or not, rode one connection.
      expect(connectionsTo(member!.port)).toBe(1);
      console.log(
        `fast watch saw ${FLOOD_COUNT} × 100 KB events in ${Math.round(watchMs)} ms, ${lists} lists meanwhile, final 40 MB list by ${Math.round(totalMs)} ms; ` +
          `gateway process grew ${grewMiB.toFixed(1)} MiB while the stalled watch had 40 MB pending`,
      );
      expect(grewMiB).toBeLessThan(10);
      expect(stalled.readableLength).toBeLessThanOrEqual(64 * 1024);

      // Nothing was lost: once it reads, the stalled watch gets every event.
      await catchUp();
    });
  }, 120_000);
});
