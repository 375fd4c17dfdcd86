/**
 * Logs say what happened (audit lines for every change) and never carry a secret.
 */
import { expect, it } from "vitest";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createCa } from "../../src/tls/pki.ts";
import { startTestControlPlane } from "../support/control-plane.ts";

it("audits changes and redacts secrets", async () => {
  const cp = await startTestControlPlane();
  try {
    const ca = await createCa("member");
    await cp.clients().clusters.registerCluster({
      name: "prod-eu",
      mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: ca.certPem, credential: { kind: { case: "bearerToken", value: "sa-secret-123" } } } },
    });
    await cp.clients().grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "alice" }, role: Role.VIEW });
    const aliceKey = await cp.apiKey("alice");
    const minted = await cp.clients(aliceKey).tokens.mintToken({ cluster: "prod-eu" });
    cp.log.info({ req: { headers: { authorization: "Bearer leaked" } }, token: "leaked-too" }, "probe");

    const text = JSON.stringify(cp.logs);
    for (const secret of ["sa-secret-123", aliceKey, cp.adminKey, minted.token, "leaked", ca.keyPem]) expect(text).not.toContain(secret);
    const audits = cp.logs.map((l) => l["audit"]).filter(Boolean);
    expect(audits).toEqual(expect.arrayContaining(["cluster.register", "grant.create", "apikey.create", "token.mint"]));
    const mint = cp.logs.find((l) => l["audit"] === "token.mint");
    expect(mint).toMatchObject({ subject: "alice", cluster: "prod-eu", jti: minted.tokenId });
  } finally {
    await cp.close();
  }
});
