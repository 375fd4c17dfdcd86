import { describe, expect, it } from "vitest";
import {
  identityHeaders,
  queryCarriesToken,
  sanitizeRequestHeaders,
  stripWebSocketBearer,
} from "../../src/data/headers.ts";
import { sanitizeResponseHeaders, type HeaderMap } from "../../src/forward/hop-by-hop.ts";

/** Headers a client may pass and the member must see unchanged. */
const benign: HeaderMap = {
  accept: "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
  "content-type": "application/apply-patch+yaml",
  "user-agent": "kubectl/v1.33.0 (linux/amd64) kubernetes/abc",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
  "x-stream-protocol-version": ["v5.channel.k8s.io", "v4.channel.k8s.io"],
  "kubectl-command": "kubectl get",
  "accept-encoding": "gzip",
  "content-length": "12",
};

describe("sanitizeRequestHeaders", () => {
  const stripped: [family: string, headers: HeaderMap][] = [
    ["authorization", { authorization: "Bearer gateway-token" }],
    ["proxy-authorization", { "proxy-authorization": "Basic x" }],
    ["cookie", { cookie: "session=1" }],
    ["impersonate-user", { "impersonate-user": "system:admin" }],
    ["impersonate-group", { "impersonate-group": ["system:masters", "x"] }],
    ["impersonate-uid", { "impersonate-uid": "1" }],
    ["impersonate-extra-*", { "impersonate-extra-scopes": "all", "impersonate-extra-kubegate.dev%2Fgrant": "gr-forged", "Impersonate-Extra-Kubegate.Dev%2FToken-Id": "t" }],
    ["mixed-case impersonate", { "Impersonate-User": "system:admin", "IMPERSONATE-GROUP": "system:masters" }],
    ["x-remote-*", { "x-remote-user": "admin", "x-remote-group": "system:masters", "x-remote-extra-foo": "bar", "X-Remote-User": "a", "X-REMOTE-EXTRA-kubegate.dev%2Fgrant": "gr-forged" }],
    ["x-remote-* named in Connection", { connection: "X-Remote-User, x-remote-group", "X-Remote-User": "admin", "x-Remote-Group": "system:masters" }],
    ["x-forwarded-*", { "x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https", "x-forwarded-host": "evil", forwarded: "for=1.2.3.4" }],
    ["audit-id", { "audit-id": "forged" }],
    ["host", { host: "member.internal" }],
    ["pseudo-headers", { ":authority": "gw", ":path": "/clusters/a/api", ":method": "GET", ":scheme": "https" }],
    [
      "hop-by-hop",
      {
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        "proxy-connection": "keep-alive",
        te: "trailers",
        trailer: "x-checksum",
        "transfer-encoding": "chunked",
        upgrade: "websocket",
        "http2-settings": "AAMAAABkAAQAAP__",
      },
    ],
    ["undefined values", { "x-nothing": undefined }],
  ];
  it.each(stripped)("removes %s", (_, headers) => {
    expect(sanitizeRequestHeaders({ ...benign, ...headers }, { keepUpgrade: false })).toEqual(benign);
  });

  it("passes everything else through unchanged, arrays included", () => {
    const out = sanitizeRequestHeaders(benign, { keepUpgrade: false });
    expect(out).toEqual(benign);
    expect(out).not.toBe(benign);
  });

  it("does not modify its input", () => {
    const input: HeaderMap = { ...benign, authorization: "Bearer t", connection: "x-foo", "x-foo": "1" };
    const copy = structuredClone(input);
    sanitizeRequestHeaders(input, { keepUpgrade: true });
    expect(input).toEqual(copy);
  });

  const connectionCases: [what: string, headers: HeaderMap, keepUpgrade: boolean, expected: HeaderMap][] = [
    ["names listed in Connection", { connection: "Impersonate-User, X-Foo", "x-foo": "1", "impersonate-user": "root", "x-bar": "2" }, false, { "x-bar": "2" }],
    ["several Connection headers", { connection: ["x-a", "X-B ,  x-c"], "x-a": "1", "x-b": "2", "x-c": "3", "x-d": "4" }, false, { "x-d": "4" }],
    ["Connection naming a benign header", { connection: "accept", accept: "*/*" }, false, {}],
    ["empty Connection tokens", { connection: " , ,", "x-a": "1" }, false, { "x-a": "1" }],
    ["upgrade dropped without keepUpgrade", { connection: "Upgrade", upgrade: "websocket" }, false, {}],
    ["upgrade kept with keepUpgrade", { connection: "Upgrade", upgrade: "SPDY/3.1" }, true, { connection: "Upgrade", upgrade: "SPDY/3.1" }],
    [
      "Connection rebuilt as exactly Upgrade",
      { connection: "keep-alive, Upgrade, X-Foo, Authorization", upgrade: "websocket", "x-foo": "1", authorization: "Bearer t", "x-bar": "2" },
      true,
      { connection: "Upgrade", upgrade: "websocket", "x-bar": "2" },
    ],
    ["mixed-case Connection/Upgrade names", { Connection: "Upgrade", Upgrade: "websocket" }, true, { connection: "Upgrade", upgrade: "websocket" }],
    ["keepUpgrade without an Upgrade header", { connection: "Upgrade" }, true, {}],
  ];
  it.each(connectionCases)("%s", (_, headers, keepUpgrade, expected) => {
    expect(sanitizeRequestHeaders(headers, { keepUpgrade })).toEqual(expected);
  });

  const websocket: [value: string | string[], expected: string | undefined][] = [
    ["v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.abc", "v5.channel.k8s.io"],
    ["base64url.bearer.authorization.k8s.io.abc", undefined],
    [["base64url.bearer.authorization.k8s.io.abc", "v4.channel.k8s.io"], "v4.channel.k8s.io"],
  ];
  it.each(websocket)("Sec-WebSocket-Protocol %j → %j", (value, expected) => {
    const out = sanitizeRequestHeaders({ "sec-websocket-protocol": value, upgrade: "websocket", connection: "Upgrade" }, { keepUpgrade: true });
    const want: HeaderMap = { connection: "Upgrade", upgrade: "websocket" };
    if (expected !== undefined) want["sec-websocket-protocol"] = expected;
    expect(out).toEqual(want);
  });
});

describe("stripWebSocketBearer", () => {
  const cases: [value: string | string[] | undefined, expected: string | undefined][] = [
    ["v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.abc", "v5.channel.k8s.io"],
    ["base64url.bearer.authorization.k8s.io.ZXlKaGJH, v5.channel.k8s.io, v4.channel.k8s.io", "v5.channel.k8s.io, v4.channel.k8s.io"],
    ["base64url.bearer.authorization.k8s.io.abc", undefined],
    ["Base64Url.Bearer.Authorization.K8s.Io.abc,v5.channel.k8s.io", "v5.channel.k8s.io"],
    ["base64url.bearer.authorization.k8s.io", undefined],
    [["v5.channel.k8s.io", "base64url.bearer.authorization.k8s.io.abc"], "v5.channel.k8s.io"],
    ["v5.channel.k8s.io", "v5.channel.k8s.io"],
    [" , ", undefined],
    ["", undefined],
    [[], undefined],
    [undefined, undefined],
  ];
  it.each(cases)("%j → %j", (value, expected) => {
    expect(stripWebSocketBearer(value)).toBe(expected);
  });
});

describe("identityHeaders", () => {
  const base = { mode: "impersonate" as const, user: "alice", groups: ["dev"], grantIds: ["gr-1"], tokenId: "tok-1", prefix: "kubegate:", requestId: "req-1" };

  it("impersonate mode: the user, one group per group, the grants and token id as extras, the audit id", () => {
    expect(identityHeaders({ ...base, groups: ["dev", "ops"], grantIds: ["gr-1", "gr-2"] })).toEqual({
      "impersonate-user": "kubegate:alice",
      "impersonate-group": ["kubegate:dev", "kubegate:ops"],
      "impersonate-extra-kubegate.dev%2Fgrant": ["gr-1", "gr-2"],
      "impersonate-extra-kubegate.dev%2Ftoken-id": "tok-1",
      "audit-id": "req-1",
    });
  });

  it("front-proxy mode: the same identity in the request-header family, and no Impersonate-* header", () => {
    const h = identityHeaders({ ...base, mode: "front-proxy", groups: ["dev", "ops"] });
    expect(h).toEqual({
      "x-remote-user": "kubegate:alice",
      "x-remote-group": ["kubegate:dev", "kubegate:ops"],
      "x-remote-extra-kubegate.dev%2Fgrant": ["gr-1"],
      "x-remote-extra-kubegate.dev%2Ftoken-id": "tok-1",
      "audit-id": "req-1",
    });
    // The extra key decodes, as kube-apiserver decodes it, to the documented name.
    expect(Object.keys(h).filter((k) => k.startsWith("x-remote-extra-")).map((k) => decodeURIComponent(k.slice("x-remote-extra-".length)))).toEqual(["kubegate.dev/grant", "kubegate.dev/token-id"]);
  });

  it("omits groups, grants and token id when there are none", () => {
    expect(identityHeaders({ ...base, user: "ci@example.com", groups: [], grantIds: [], tokenId: "", prefix: "", requestId: "r" })).toEqual({
      "impersonate-user": "ci@example.com",
      "audit-id": "r",
    });
  });

  const injections: [what: string, identity: Partial<Parameters<typeof identityHeaders>[0]>, message: RegExp][] = [
    ["newline in user", { user: "alice\r\nImpersonate-Group: system:masters" }, /user .* control character/],
    ["LF in user", { user: "alice\n" }, /control character/],
    ["NUL in user", { user: "alice\u0000" }, /control character/],
    ["tab in user", { user: "al\tice" }, /control character/],
    ["DEL in group", { groups: ["ok", "bad\u007f"] }, /group .* control character/],
    ["newline in group", { groups: ["dev\nImpersonate-User: root"] }, /group/],
    ["newline in grant id", { grantIds: ["gr-1\r\n"] }, /grant id/],
    ["newline in token id", { tokenId: "t\r\nX-Remote-User: root" }, /token id/],
    ["newline in request id", { requestId: "r\n" }, /request id/],
    ["newline in prefix", { prefix: "kubegate:\n" }, /control character/],
    ["empty user", { user: "" }, /must not be empty/],
  ];
  it.each(injections)("throws on %s, in both modes", (_, identity, message) => {
    for (const mode of ["impersonate", "front-proxy"] as const) expect(() => identityHeaders({ ...base, mode, ...identity })).toThrow(message);
  });
});

describe("queryCarriesToken", () => {
  const token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x";
  const encodedOnce = [...token].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
  const cases: [query: string, carries: boolean][] = [
    ["", false],
    ["limit=500&watch=true", false],
    [`access_token=${token}`, true],
    [`a=1&token=${token}&b=2`, true],
    [`${token}=x`, true],
    [`x=${token.slice(0, 20)}`, false],
    [`access_token=${encodedOnce}`, true],
    [`access_token=${encodedOnce.toUpperCase()}`, true],
    [`access_token=eyJhbGciOiJFZERTQSJ9%2EeyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl%2D_x`, true],
    [`access_token=${encodedOnce.replace(/%/g, "%25")}`, true],
    [`access_token=${encodedOnce.replace(/%/g, "%25").replace(/%/g, "%25")}`, true],
    [`x=${token.slice(0, 10)}&y=${token.slice(10)}`, false],
  ];
  it.each(cases)("%s → %s", (query, carries) => {
    expect(queryCarriesToken(query, token)).toBe(carries);
  });

  it("never matches an empty token", () => {
    expect(queryCarriesToken("a=1", "")).toBe(false);
  });
});

describe("sanitizeResponseHeaders", () => {
  const kept: HeaderMap = {
    "content-type": "application/json",
    "audit-id": "req-1",
    "cache-control": "no-cache, private",
    "x-kubernetes-pf-flowschema-uid": "u",
    "set-cookie": ["a=1", "b=2"],
    "content-length": "42",
  };
  const cases: [what: string, headers: HeaderMap, expected: HeaderMap][] = [
    ["nothing to remove", kept, kept],
    [
      "hop-by-hop",
      {
        ...kept,
        connection: "close",
        "keep-alive": "timeout=5",
        "proxy-connection": "x",
        "transfer-encoding": "chunked",
        te: "trailers",
        trailer: "x",
        upgrade: "h2c",
        "http2-settings": "x",
        "proxy-authenticate": "Basic",
      },
      kept,
    ],
    ["names listed in Connection", { ...kept, connection: "X-Internal, Keep-Alive", "x-internal": "secret" }, kept],
    ["several Connection headers", { ...kept, connection: ["x-a", "x-b"], "x-a": "1", "x-b": "2" }, kept],
    ["mixed-case names", { ...kept, Connection: "X-Internal", "X-Internal": "s", "Transfer-Encoding": "chunked" }, kept],
    ["pseudo-headers and undefined", { ...kept, ":status": "200", "x-none": undefined }, kept],
  ];
  it.each(cases)("%s", (_, headers, expected) => {
    expect(sanitizeResponseHeaders(headers)).toEqual(expected);
  });
});

describe("impersonation of non-ASCII names", () => {
  it("sends UTF-8 bytes, as Kubernetes reads them", () => {
    const h = identityHeaders({ mode: "impersonate", user: "josé", groups: ["équipe"], grantIds: ["gr-1"], tokenId: "t", prefix: "kubegate:", requestId: "r" });
    expect(Buffer.from(h["impersonate-user"] as string, "latin1").toString("utf8")).toBe("kubegate:josé");
    expect(Buffer.from((h["impersonate-group"] as string[])[0]!, "latin1").toString("utf8")).toBe("kubegate:équipe");
    expect(h["impersonate-user"]).not.toBe("kubegate:josé");
  });
});
