import { once } from "node:events";
import https from "node:https";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { createCa, identityFromCert, issueClientCert, issueServerCert, parseCaBundle } from "../../src/tls/pki.ts";

describe("pki", () => {
  it("issues certificates that Node's TLS accepts, with mutual TLS identity", async () => {
    const ca = await createCa("test-ca");
    const server = await issueServerCert(ca, ["localhost", "127.0.0.1"]);
    const client = await issueClientCert(ca, "alice", ["dev", "ops"]);
    const srv = https.createServer(
      { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const peer = (req.socket as tls.TLSSocket).getPeerX509Certificate();
        res.end(JSON.stringify(peer ? identityFromCert(peer) : null));
      },
    );
    srv.listen(0, "127.0.0.1");
    await once(srv, "listening");
    const port = (srv.address() as { port: number }).port;
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: "127.0.0.1", port, ca: ca.certPem, cert: client.certPem, key: client.keyPem }, (res) => {
          let s = "";
          res.on("data", (c) => (s += c));
          res.on("end", () => resolve(s));
        })
        .on("error", reject);
    });
    srv.close();
    expect(JSON.parse(body)).toEqual({ user: "alice", groups: ["dev", "ops"] });
    expect(parseCaBundle(ca.certPem)).toHaveLength(1);
    expect(() => parseCaBundle("garbage")).toThrow(/no PEM certificate/);
  });
});
