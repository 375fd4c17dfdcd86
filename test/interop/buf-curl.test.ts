/**
 * `buf curl` — a generic client that knows only the .proto files — reaches the control
 * plane over the gRPC, Connect and gRPC-Web protocols on its one TLS port, with the
 * bearer credential in a plain header and errors carrying the right code.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa } from "../../src/tls/pki.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";
import { describeRun, run, type RunResult } from "../support/interop-tools.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const BUF = join(root, "node_modules/.bin/buf");

let cp: TestControlPlane;
let dir: string;
let caFile: string;
let memberCaPem: string;
beforeAll(async () => {
  [cp, dir, memberCaPem] = await Promise.all([
    startTestControlPlane(),
    mkdtemp(join(tmpdir(), "kubegate-buf-curl-")),
    createCa("curl-member").then((ca) => ca.certPem),
  ]);
  caFile = join(dir, "control-plane-ca.pem");
  await writeFile(caFile, cp.caPem);
});
afterAll(async () => {
  await cp?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** One `buf curl` call against the control plane; the schema comes from proto/, not reflection. */
function curl(protocol: string, method: string, body: unknown, credential = cp.adminKey): Promise<RunResult> {
  return run(
    BUF,
    [
      "curl",
      "--schema",
      "proto",
      "--protocol",
      protocol,
      "--cacert",
      caFile,
      "-H",
      `Authorization: Bearer ${credential}`,
      "-d",
      JSON.stringify(body),
      `${cp.url}/${method}`,
    ],
    // Its own cache: parallel runs share nothing.
    { cwd: root, env: { ...process.env, BUF_CACHE_DIR: join(dir, "buf-cache") } },
  );
}

function ok(protocol: string, method: string, r: RunResult): unknown {
  expect(r.code, describeRun(`buf curl --protocol ${protocol} ${method}`, r)).toBe(0);
  return JSON.parse(r.stdout);
}

describe.each(["grpc", "connect", "grpcweb"])("buf curl --protocol %s", (protocol) => {
  const cluster = `curl-${protocol}`;

  it("WhoAmI answers admin", async () => {
    const who = ok(protocol, "WhoAmI", await curl(protocol, "kubegate.v1.IdentityService/WhoAmI", {}));
    expect(who).toMatchObject({ subject: "admin", admin: true, authenticatedBy: "api-key" });
  });

  it("RegisterCluster registers a direct cluster and ListClusters shows it", async () => {
    const reg = ok(
      protocol,
      "RegisterCluster",
      await curl(protocol, "kubegate.v1.ClusterRegistry/RegisterCluster", {
        name: cluster,
        labels: { via: protocol },
        direct: { serverUrl: "https://10.1.2.3:6443", caPem: memberCaPem, credential: { bearerToken: "curl-secret" } },
      }),
    ) as { cluster: Record<string, unknown> };
    expect(reg.cluster).toMatchObject({ name: cluster, mode: "CLUSTER_MODE_DIRECT", credentialKind: "CREDENTIAL_KIND_BEARER_TOKEN", serverUrl: "https://10.1.2.3:6443" });
    expect(JSON.stringify(reg)).not.toContain("curl-secret");

    const list = ok(
      protocol,
      "ListClusters",
      await curl(protocol, "kubegate.v1.ClusterRegistry/ListClusters", { labelSelector: `via=${protocol}` }),
    ) as { clusters: { name: string; labels: Record<string, string> }[] };
    expect(list.clusters.map((c) => c.name)).toEqual([cluster]);
    expect(list.clusters[0]?.labels).toEqual({ via: protocol });
    // The server, asked by another client, agrees.
    expect((await cp.clients().clusters.getCluster({ name: cluster })).cluster?.labels).toEqual({ via: protocol });
  });

  it("a bad key gets code unauthenticated", async () => {
    const r = await curl(protocol, "kubegate.v1.IdentityService/WhoAmI", {}, "kgk_not-a-real-key");
    expect(r.code, describeRun("buf curl with a bad key", r)).not.toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/"code":\s*"unauthenticated"/);
  });
});
