/**
 * The control plane under oversized messages. A call over the read limit is refused with
 * ResourceExhausted naming the limit — by our own client before it sends a byte, by the
 * server for any other client — on Connect, gRPC and gRPC-Web, and the next call on the same
 * client connection is served as if nothing happened.
 */
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterRegistry } from "../../gen/kubegate/v1/cluster_pb.ts";
import { createKubegateClients, type Protocol } from "../../src/client/clients.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

type Clusters = ReturnType<typeof createKubegateClients>["clusters"];

/** A client with no write limit of its own and room for 200 MB in its HTTP/2 session, as a client generated elsewhere might be. */
function foreignClient(protocol: Protocol): Clusters {
  const control = gw.kubegate.control!;
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${control.bootstrapAdminKey!}`);
    return next(req);
  };
  const base = { baseUrl: control.url, writeMaxBytes: 512 * 1024 * 1024, nodeOptions: { ca: control.tls.caPem, maxSessionMemory: 200 }, interceptors: [auth] };
  const transport =
    protocol === "grpc"
      ? createGrpcTransport(base)
      : protocol === "grpc-web"
        ? createGrpcWebTransport({ ...base, httpVersion: "1.1" })
        : createConnectTransport({ ...base, httpVersion: "2" });
  return createClient(ClusterRegistry, transport);
}

const huge = (mb: number) => ({ name: "huge", mode: { case: "direct" as const, value: { serverUrl: "https://10.0.0.1:6443", caPem: "x".repeat(mb * 1024 * 1024) } } });

describe.each<Protocol>(["connect", "grpc", "grpc-web"])("over %s", (protocol) => {
  it("our client refuses a 50 MB message itself, naming the limit; its connection serves the next call", async () => {
    const control = gw.kubegate.control!;
    const clients = createKubegateClients({ baseUrl: control.url, caPem: control.tls.caPem, credential: control.bootstrapAdminKey!, protocol });
    await clients.clusters.listClusters({});
    const err = await clients.clusters.registerCluster(huge(50)).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toMatch(/4194304/);
    expect((await clients.clusters.listClusters({})).clusters.map((c) => c.name)).not.toContain("huge");
  }, 60_000);

  it("the server refuses a 50 MB message from any client with ResourceExhausted naming its limit; the connection lives", async () => {
    const clusters = foreignClient(protocol);
    await clusters.listClusters({});
    const err = await clusters.registerCluster(huge(50)).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toMatch(/readMaxBytes 4194304/);
    expect((await clusters.listClusters({})).clusters.map((c) => c.name)).not.toContain("huge");
  }, 60_000);
});
