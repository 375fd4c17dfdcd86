/**
 * A member that refuses a stream unprocessed (REFUSED_STREAM, as kube-apiserver does to
 * streams racing its GOAWAY) gets a request with a body again, byte for byte, on a new
 * stream; a body too large to have been kept fails with a Status instead.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPLAY_LIMIT_BYTES } from "../../src/forward/body-replay.ts";
import { forward } from "../../src/forward/forward.ts";
import { DataPathError, writeStatus } from "../../src/forward/kube-status.ts";
import { createUpstreams, type Upstreams } from "../../src/forward/upstream.ts";
import type { ClusterRouteView } from "../../src/sync/view.ts";
import { createCa, issueServerCert, type KeyPair } from "../../src/tls/pki.ts";
import { http1Request, http2Request } from "../support/raw-client.ts";

let ca: KeyPair;
let member: http2.Http2SecureServer;
let front: http2.Http2SecureServer;
let upstreams: Upstreams;
let frontUrl: string;
/** How many of the next streams the member refuses unprocessed, once it has read this many bytes of each. */
let refuseNext = 0;
let refuseAfterBytes = 0;
let streamsSeen = 0;

beforeAll(async () => {
  ca = await createCa("body-replay-test-ca");
  const serving = await issueServerCert(ca, ["127.0.0.1"]);
  member = http2.createSecureServer({ key: serving.keyPem, cert: serving.certPem });
  member.on("stream", (stream) => {
    streamsSeen++;
    stream.on("error", () => undefined);
    const refuse = refuseNext > 0;
    if (refuse) refuseNext--;
    if (refuse && refuseAfterBytes === 0) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    const chunks: Buffer[] = [];
    let read = 0;
    stream.on("data", (c: Buffer) => {
      chunks.push(c);
      read += c.length;
      if (refuse && read > refuseAfterBytes && !stream.closed) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    stream.on("end", () => {
      if (stream.closed) return;
      stream.respond({ ":status": 201, "content-type": "application/octet-stream" });
      stream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", () => r()));
  const route: ClusterRouteView = {
    name: "member",
    mode: "direct",
    serverUrl: `https://127.0.0.1:${(member.address() as { port: number }).port}`,
    caPem: ca.certPem,
    credential: null,
    identityMode: "impersonate",
    phase: "READY",
    agentCredentialHash: "",
    manageRbac: false,
    version: "1",
  };
  upstreams = createUpstreams();
  front = http2.createSecureServer({ key: serving.keyPem, cert: serving.certPem, allowHTTP1: true });
  front.on("request", (req, res) => {
    forward(req, res, {
      upstream: upstreams.get(route),
      target: req.url,
      headers: { "content-type": "application/octet-stream" },
      connectTimeoutMs: 5_000,
      responseTimeoutMs: 10_000,
      onResponse: () => undefined,
      onBytesOut: () => undefined,
    }).catch((err: unknown) => writeStatus(res, err instanceof DataPathError ? err : new DataPathError("internal", String(err))));
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()));
  frontUrl = `https://127.0.0.1:${(front.address() as { port: number }).port}`;
});
afterAll(async () => {
  upstreams.close();
  await new Promise((r) => front.close(r));
  await new Promise((r) => member.close(r));
});

/** ASCII, so the echo compares as text; numbered lines, so a lost or repeated chunk shows. */
const body = (bytes: number) => Array.from({ length: Math.ceil(bytes / 16) }, (_, i) => `${String(i).padStart(15, "0")}\n`).join("").slice(0, bytes);

describe("a request body the member refused unprocessed", () => {
  for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
    it(`is sent again, whole, on a new stream (${protocol} client)`, async () => {
      const sent = body(300 * 1024);
      refuseNext = 2;
      streamsSeen = 0;
      const request = protocol === "HTTP/2" ? http2Request : http1Request;
      const res = await request(frontUrl, ca.certPem, { method: "POST", path: "/api/v1/namespaces/a/configmaps", body: sent });
      expect(res.status).toBe(201);
      expect(streamsSeen).toBe(3);
      expect(res.body.length).toBe(sent.length);
      expect(res.body === sent).toBe(true);
    });
  }

  it("is sent again when refused before all of it was read", async () => {
    refuseNext = 1;
    refuseAfterBytes = 0;
    streamsSeen = 0;
    const sent = body(REPLAY_LIMIT_BYTES - 1024);
    const res = await http2Request(frontUrl, ca.certPem, { method: "POST", path: "/early", body: sent });
    expect(res.status).toBe(201);
    expect(res.body === sent).toBe(true);
    expect(streamsSeen).toBe(2);
  });

  it("fails with a Status, sending nothing twice, when it was too large to keep", async () => {
    refuseNext = 1;
    refuseAfterBytes = REPLAY_LIMIT_BYTES + 512;
    streamsSeen = 0;
    const res = await http2Request(frontUrl, ca.certPem, { method: "POST", path: "/big", body: body(REPLAY_LIMIT_BYTES + 1024) });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ kind: "Status", code: 502 });
    expect(streamsSeen).toBe(1);
    refuseAfterBytes = 0;
  });
});
