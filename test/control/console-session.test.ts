/**
 * Console sessions, as a browser would use them with connect-web: StartSession turns a
 * credential into an HttpOnly, Secure, SameSite=Strict `__Host-` cookie; Connect and
 * gRPC-Web calls carrying it act as that credential; a cross-site form (no Connect
 * headers), an altered cookie, a revoked key and EndSession all stop it working.
 */
import https from "node:https";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SESSION_COOKIE } from "../../src/control/console-session.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

let cp: TestControlPlane;
beforeAll(async () => {
  cp = await startTestControlPlane();
});
afterAll(async () => {
  await cp.close();
});

interface Answer {
  status: number;
  setCookie: string[];
  json: Record<string, unknown>;
}

/** One unary Connect call over HTTP/1.1, with exactly the headers given. */
function call(method: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${cp.url}/kubegate.v1.IdentityService/${method}`, { method: "POST", ca: cp.caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [], json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) });
      });
    });
    req.once("error", reject);
    req.end(JSON.stringify(body));
  });
}

const connect = { "content-type": "application/json", "connect-protocol-version": "1" };
const cookieOf = (answer: Answer) => answer.setCookie.find((c) => c.startsWith(`${SESSION_COOKIE}=`))!.split(";")[0]!;

it("starts a session from an API key: the cookie is HttpOnly, Secure, SameSite=Strict, and holds no readable secret", async () => {
  const key = await cp.apiKey("alice", ["dev"]);
  const started = await call("StartSession", { credential: key }, connect);
  expect(started.status).toBe(200);
  expect(started.json).toMatchObject({ subject: "alice", groups: ["dev"] });
  expect(started.json["admin"]).toBeUndefined(); // false: proto3 JSON leaves it out
  const [cookie] = started.setCookie;
  expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=v1:`));
  for (const attr of ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"]) expect(cookie!.split("; ")).toContain(attr);
  // Twelve hours, give or take the seconds a busy machine spends between the two clocks.
  const maxAge = Number(/Max-Age=(\d+)/.exec(cookie!)![1]);
  expect(maxAge).toBeGreaterThan(43_200 - 10);
  expect(maxAge).toBeLessThanOrEqual(43_200);
  expect(cookie).not.toContain(key);
  expect(cookie).not.toContain(key.slice(4, 20));

  const me = await call("WhoAmI", {}, { ...connect, cookie: cookieOf(started) });
  expect(me.status).toBe(200);
  expect(me.json).toMatchObject({ subject: "alice", authenticatedBy: "api-key" });
});

it("ignores the cookie on calls a cross-site page could make, and refuses an altered one", async () => {
  const key = await cp.apiKey("bob");
  const cookie = cookieOf(await call("StartSession", { credential: key }, connect));
  // A form post from another site: no connect-protocol-version, a simple content type.
  const forged = await call("WhoAmI", {}, { "content-type": "text/plain", cookie });
  expect(forged.status).not.toBe(200);
  const plainJson = await call("WhoAmI", {}, { "content-type": "application/json", cookie });
  expect(plainJson.status).toBe(401);
  expect(plainJson.json["message"]).toBe("the console session cookie counts only on Connect and gRPC-Web calls");

  const [name, value] = cookie.split("=");
  const altered = `${name}=${value!.slice(0, -4)}AAAA`;
  const tampered = await call("WhoAmI", {}, { ...connect, cookie: altered });
  expect(tampered.status).toBe(401);
  expect(tampered.json["message"]).toBe("the console session cookie is not one this kubegate issued: log in again");
});

it("ends with the key's revocation, and with EndSession", async () => {
  const created = await cp.clients().identity.createApiKey({ name: "carol", subject: "carol", groups: [] });
  const cookie = cookieOf(await call("StartSession", { credential: created.secret }, connect));
  expect((await call("WhoAmI", {}, { ...connect, cookie })).status).toBe(200);
  await cp.clients().identity.revokeApiKey({ id: created.apiKey!.id });
  const after = await call("WhoAmI", {}, { ...connect, cookie });
  expect(after.status).toBe(401);
  expect(after.json["message"]).toBe(`API key ${created.apiKey!.id} has been revoked`);

  const ended = await call("EndSession", {}, connect);
  expect(ended.status).toBe(200);
  expect(ended.setCookie).toEqual([`${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`]);
});

it("refuses a bad credential without setting a cookie", async () => {
  for (const [credential, status, message] of [
    ["kgk_nope", 401, "unknown API key"],
    ["", 400, "credential: is required: an API key or an OIDC ID token"],
  ] as const) {
    const res = await call("StartSession", { credential }, connect);
    expect(res.status).toBe(status);
    expect(res.json["message"]).toBe(message);
    expect(res.setCookie).toEqual([]);
  }
});
