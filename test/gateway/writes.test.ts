/**
 * Writes with bodies flow through the data plane over both HTTP versions (create, patch,
 * replace, delete; small and large bodies), and a body on a GET is refused rather than
 * left to desynchronise a pooled connection to the member.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawRequest, type Protocol } from "../support/raw-client.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  token = await (await gw.user("wendy", { role: "edit" })).token();
});
afterAll(() => gw.close());

const CMS = "/clusters/member/api/v1/namespaces/default/configmaps";

describe.each<Protocol>(["HTTP/1.1", "HTTP/2"])("writes over %s", (protocol) => {
  const send = (method: string, path: string, body?: unknown, contentType = "application/json") =>
    rawRequest(protocol, gw.dataUrl, gw.caPem, {
      method,
      path,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": contentType }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const name = `w-${protocol === "HTTP/2" ? "h2" : "h1"}`;

  it("creates, patches, replaces and deletes", async () => {
    const big = "x".repeat(400_000);
    const created = await send("POST", CMS, { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { big } });
    expect(created.status).toBe(201);
    expect(gw.fake.getObject("v1", "ConfigMap", "default", name)?.["data"]).toEqual({ big });
    const patched = await send("PATCH", `${CMS}/${name}`, { data: { v: "2" } }, "application/merge-patch+json");
    expect(patched.status).toBe(200);
    expect((patched.json as { data: Record<string, string> }).data["v"]).toBe("2");
    const current = (await send("GET", `${CMS}/${name}`)).json as Record<string, unknown>;
    const replaced = await send("PUT", `${CMS}/${name}`, { ...current, data: { v: "3" } });
    expect(replaced.status).toBe(200);
    expect((await send("DELETE", `${CMS}/${name}`)).status).toBe(200);
    expect((await send("GET", `${CMS}/${name}`)).status).toBe(404);
  });

  it("refuses a GET with a body", async () => {
    const res = await rawRequest(protocol, gw.dataUrl, gw.caPem, {
      method: "GET",
      path: CMS,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": "2" },
      body: "{}",
    });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ kind: "Status", code: 400, message: "a GET request must not have a body" });
    expect((await send("GET", CMS)).status).toBe(200);
  });
});
