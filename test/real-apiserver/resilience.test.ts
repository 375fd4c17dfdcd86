/**
 * A real kube-apiserver misbehaving as loaded production servers do: restarted under
 * kubegate's pooled sessions, and sending HTTP/2 GOAWAY at random (--goaway-chance=0.02)
 * while many requests are in flight, in direct and agent mode. No request may fail.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRealGateway, type RealGateway } from "../support/gateway.ts";
import { realApiserverAvailable, startKubeApiserver, type KubeApiserver } from "../support/kube-apiserver.ts";
import { http2Connect, http2Request, rawRequest } from "../support/raw-client.ts";

const enabled = realApiserverAvailable();

/** Sends `total` requests, `concurrency` at a time, over one client session; returns the statuses seen. */
async function load(gw: RealGateway, cluster: string, token: string, total: number, concurrency: number, request: (i: number) => { method?: string; path: string; body?: string }) {
  const session = await http2Connect(gw.dataUrl, gw.caPem);
  const statuses = new Map<string, number>();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const r = request(next++);
          const res = await http2Request(
            gw.dataUrl,
            gw.caPem,
            { ...r, path: `/clusters/${cluster}${r.path}`, headers: { authorization: `Bearer ${token}`, ...(r.body ? { "content-type": "application/json" } : {}) } },
            session,
          ).catch((err: Error) => ({ status: -1, body: err.message }));
          const key = res.status >= 200 && res.status < 300 ? "2xx" : `${res.status} ${res.body.slice(0, 200)}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }
      }),
    );
  } finally {
    session.close();
  }
  return Object.fromEntries(statuses);
}

describe.runIf(enabled)("a real kube-apiserver sending GOAWAY under load (--goaway-chance=0.02)", () => {
  let apiserver: KubeApiserver;
  beforeAll(async () => {
    apiserver = await startKubeApiserver({ goawayChance: 0.02 });
    await apiserver.namespace("load");
  });
  afterAll(() => apiserver?.close());

  it("the API server really does send GOAWAY (else the tests below prove nothing)", async () => {
    let goaways = 0;
    for (let i = 0; i < 400 && goaways < 3; i++) {
      const session = http2.connect(apiserver.url, { ca: apiserver.caPem, cert: apiserver.admin.certPem, key: apiserver.admin.keyPem });
      session.on("goaway", () => goaways++);
      session.on("error", () => undefined);
      for (let j = 0; j < 20 && !session.closed && !session.destroyed; j++) {
        const ok = await new Promise<boolean>((resolve) => {
          const r = session.request({ ":path": "/version" });
          r.on("response", () => r.resume());
          r.on("close", () => resolve(true));
          r.on("error", () => resolve(false));
        });
        if (!ok) break;
      }
      session.close();
    }
    expect(goaways).toBeGreaterThanOrEqual(3);
  });

  for (const mode of ["direct", "agent"] as const) {
    it(`${mode} mode: 1,500 reads and 150 writes, every one answered`, async () => {
      const gw = await startRealGateway(apiserver, { mode, clusterName: `goaway-${mode}` });
      try {
        const token = await (await gw.user("lou", { role: "edit", namespaces: ["load"] })).token();
        const reads = await load(gw, `goaway-${mode}`, token, 1500, 24, (i) => ({ path: i % 2 ? "/api/v1/namespaces/load/configmaps?limit=5" : "/version" }));
        expect(reads).toEqual({ "2xx": 1500 });
        const writes = await load(gw, `goaway-${mode}`, token, 150, 8, (i) => ({
          method: "POST",
          path: "/api/v1/namespaces/load/configmaps",
          body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${mode}-w-${i}` }, data: { i: String(i) } }),
        }));
        expect(writes).toEqual({ "2xx": 150 });
      } finally {
        await gw.close();
      }
    });
  }
});

describe.runIf(enabled)("a real kube-apiserver restarting under kubegate", () => {
  let apiserver: KubeApiserver;
  beforeAll(async () => {
    apiserver = await startKubeApiserver();
    await apiserver.namespace("restart");
  });
  afterAll(() => apiserver?.close());

  for (const mode of ["direct", "agent"] as const) {
    it(`${mode} mode: a watch ends, requests get a Status while it is down, and all works again after`, async () => {
      const cluster = `restart-${mode}`;
      const gw = await startRealGateway(apiserver, { mode, clusterName: cluster });
      try {
        const token = await (await gw.user("rob", { role: "edit", namespaces: ["restart"] })).token();
        const get = () => rawRequest("HTTP/2", gw.dataUrl, gw.caPem, { path: `/clusters/${cluster}/api/v1/namespaces/restart/configmaps`, headers: { authorization: `Bearer ${token}` } });
        expect((await get()).status).toBe(200);

        const session = await http2Connect(gw.dataUrl, gw.caPem);
        const watch = session.request({ ":path": `/clusters/${cluster}/api/v1/namespaces/restart/configmaps?watch=true`, authorization: `Bearer ${token}` });
        const watchEnded = new Promise<void>((resolve) => watch.on("close", resolve));
        watch.resume();
        await new Promise<void>((resolve) => watch.once("response", () => resolve()));

        const restarted = apiserver.restart();
        await watchEnded; // the API server's end of the watch reached the client
        session.close();
        const during = await get();
        // Let the restart finish before any assertion can fail, so the next test finds the API server up.
        await Promise.allSettled([restarted]);
        if (during.status !== 200) {
          // Down: a Status — the API server's own ("apiserver is shutting down") or kubegate's,
          // naming the cluster — never a hang or a bare reset.
          expect([502, 503, 504]).toContain(during.status);
          const status = JSON.parse(during.body) as { kind: string; message: string };
          expect(status.kind).toBe("Status");
          expect(status.message).toMatch(new RegExp(`apiserver is shutting down|cluster "${cluster}"`));
        }
        await restarted;
        // Back: the pooled sessions (and the agent's) reconnect by themselves.
        let after = await get();
        for (let i = 0; i < 50 && after.status !== 200; i++) {
          await new Promise((r) => setTimeout(r, 100));
          after = await get();
        }
        expect(after.status).toBe(200);
      } finally {
        await gw.close();
      }
    });
  }
});

