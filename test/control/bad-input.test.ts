/**
 * Bad input gets a ConnectError with the right code and a message a person can act on,
 * and changes nothing.
 */
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialKind, IdentityMode } from "../../gen/kubegate/v1/cluster_pb.ts";
import { RetryInfoSchema } from "../../gen/kubegate/v1/errors_pb.ts";
import { Role, SubjectKind } from "../../gen/kubegate/v1/grant_pb.ts";
import { createCa, issueClientCert } from "../../src/tls/pki.ts";
import { expectError, failure } from "../support/connect-errors.ts";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.ts";

describe("bad input", () => {
  let cp: TestControlPlane;
  let ca: string;
  const direct = (serverUrl: string, caPem: string, token = "t") => ({
    case: "direct" as const,
    value: { serverUrl, caPem, credential: { kind: { case: "bearerToken" as const, value: token } } },
  });
  beforeAll(async () => {
    cp = await startTestControlPlane({ "mint-burst": "3", "mint-rate": "0.5", "token-max-ttl": "30m" });
    ca = (await createCa("member")).certPem;
    await cp.clients().clusters.registerCluster({ name: "prod-eu", mode: direct("https://m.example:6443", ca) });
  });
  afterAll(() => cp.close());

  it("rejects malformed cluster names", async () => {
    const { clusters } = cp.clients();
    for (const name of ["Prod", "prod_eu", "-prod", "prod-", "a.b", "", "x".repeat(64), "../etc"]) {
      await expectError(clusters.registerCluster({ name, mode: direct("https://m:6443", ca) }), Code.InvalidArgument, /^name: /);
    }
    await expectError(clusters.getCluster({ name: "UPPER" }), Code.InvalidArgument, /must be a DNS-1123 label/);
  });

  it("rejects non-https URLs, unparsable CAs and missing credentials", async () => {
    const { clusters } = cp.clients();
    await expectError(clusters.registerCluster({ name: "a", mode: direct("http://m:6443", ca) }), Code.InvalidArgument, "direct.server_url: must be an https:// URL (got http://)");
    await expectError(clusters.registerCluster({ name: "a", mode: direct("not a url", ca) }), Code.InvalidArgument, /is not a URL/);
    await expectError(clusters.registerCluster({ name: "a", mode: direct("https://u:p@m:6443", ca) }), Code.InvalidArgument, /must not carry credentials/);
    await expectError(clusters.registerCluster({ name: "a", mode: direct("https://m:6443", "garbage") }), Code.InvalidArgument, /direct.ca_pem: cannot parse the CA bundle/);
    await expectError(
      clusters.registerCluster({ name: "a", mode: direct("https://m:6443", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----") }),
      Code.InvalidArgument,
      /direct.ca_pem: cannot parse the CA bundle/,
    );
    await expectError(
      clusters.registerCluster({ name: "a", mode: { case: "direct", value: { serverUrl: "https://m:6443", caPem: ca } } }),
      Code.InvalidArgument,
      /direct.credential: is required/,
    );
    await expectError(clusters.registerCluster({ name: "a", mode: direct("https://m:6443", ca, "two words") }), Code.InvalidArgument, /bearer_token: must not contain whitespace/);
    await expectError(clusters.registerCluster({ name: "a" }), Code.InvalidArgument, /^mode: choose direct/);
    await expectError(clusters.registerCluster({ name: "a", labels: { "bad key!": "x" }, mode: { case: "agent", value: {} } }), Code.InvalidArgument, /labels: invalid label key/);
    await expectError(clusters.listClusters({ labelSelector: "env in (a" }), Code.InvalidArgument, /^label_selector: /);
    await expectError(clusters.listClusters({ pageSize: 501 }), Code.InvalidArgument, "page_size: must be between 0 and 500");
    await expectError(clusters.listClusters({ pageToken: "bogus" }), Code.InvalidArgument, /page_token: is not a page token/);
    // Nothing was created by any of these.
    expect((await clusters.listClusters({})).clusters.map((c) => c.name)).toEqual(["prod-eu"]);
  });

  it("front-proxy mode: the front-proxy certificate is required, is the only credential, and its key is never shown or logged", async () => {
    const { clusters } = cp.clients();
    const fpCa = await createCa("front-proxy");
    const fp = await issueClientCert(fpCa, "front-proxy-client");
    const noCn = await issueClientCert(fpCa, "");
    const other = await issueClientCert(fpCa, "other");
    const FRONT_PROXY = IdentityMode.FRONT_PROXY;
    const fpCredential = (certPem: string, keyPem: string) => ({ kind: { case: "frontProxyCertificate" as const, value: { certPem, keyPem } } });
    const withCredential = (credential: ReturnType<typeof fpCredential> | undefined) => ({ case: "direct" as const, value: { serverUrl: "https://m:6443", caPem: ca, credential } });
    await expectError(
      clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, mode: withCredential(undefined) }),
      Code.InvalidArgument,
      /^direct.credential: front-proxy mode presents only the front-proxy client certificate: set front_proxy_certificate/,
    );
    await expectError(clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, mode: direct("https://m:6443", ca) }), Code.InvalidArgument, /and no bearer_token or client_certificate/);
    await expectError(clusters.registerCluster({ name: "fp", mode: withCredential(fpCredential(fp.certPem, fp.keyPem)) }), Code.InvalidArgument, /^direct.credential.front_proxy_certificate: needs identity_mode FRONT_PROXY/);
    await expectError(clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, mode: withCredential(fpCredential(fp.certPem, other.keyPem)) }), Code.InvalidArgument, /the private key does not match the certificate/);
    await expectError(clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, mode: withCredential(fpCredential(noCn.certPem, noCn.keyPem)) }), Code.InvalidArgument, /cert_pem: has no common name \(CN\)/);
    await expectError(clusters.registerCluster({ name: "fp", identityMode: 7 as IdentityMode, mode: { case: "agent", value: {} } }), Code.InvalidArgument, "identity_mode: must be IMPERSONATE or FRONT_PROXY");
    await expectError(
      clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, manageRbac: true, mode: withCredential(fpCredential(fp.certPem, fp.keyPem)) }),
      Code.InvalidArgument,
      /^manage_rbac: is not available for a direct cluster in front-proxy mode/,
    );
    expect((await clusters.listClusters({})).clusters.map((c) => c.name)).toEqual(["prod-eu"]);

    const registered = (await clusters.registerCluster({ name: "fp", identityMode: FRONT_PROXY, mode: withCredential(fpCredential(fp.certPem, fp.keyPem)) })).cluster!;
    expect(registered.identityMode).toBe(FRONT_PROXY);
    expect(registered.credentialKind).toBe(CredentialKind.FRONT_PROXY_CERTIFICATE);
    // Rotation keeps to the mode: another front-proxy certificate, never a token.
    await expectError(
      clusters.updateCluster({ name: "fp", updateMask: { paths: ["credential"] }, credential: { kind: { case: "bearerToken", value: "t" } } }),
      Code.InvalidArgument,
      /^credential: front-proxy mode presents only/,
    );
    const rotated = await issueClientCert(fpCa, "front-proxy-client");
    await clusters.updateCluster({ name: "fp", updateMask: { paths: ["credential"] }, credential: fpCredential(rotated.certPem, rotated.keyPem) });
    // The impersonate cluster refuses a front-proxy certificate.
    await expectError(clusters.updateCluster({ name: "prod-eu", updateMask: { paths: ["credential"] }, credential: fpCredential(fp.certPem, fp.keyPem) }), Code.InvalidArgument, /needs identity_mode FRONT_PROXY/);
    // An agent cluster may be in front-proxy mode with no certificate here: the agent holds it.
    const edge = (await clusters.registerCluster({ name: "edge-fp", identityMode: FRONT_PROXY, mode: { case: "agent", value: {} } })).cluster!;
    expect(edge.identityMode).toBe(FRONT_PROXY);
    const everything = JSON.stringify([cp.logs, await clusters.getCluster({ name: "fp" }).then((r) => r.cluster?.caPem)]);
    for (const key of [fp.keyPem, rotated.keyPem, other.keyPem]) expect(everything).not.toContain(key.split("\n")[1]);
    await clusters.deregisterCluster({ name: "fp" });
    await clusters.deregisterCluster({ name: "edge-fp" });
  });

  it("reports unknown clusters, duplicates and unknown grants", async () => {
    const { clusters, grants } = cp.clients();
    await expectError(clusters.getCluster({ name: "nope" }), Code.NotFound, 'cluster "nope" not found');
    await expectError(clusters.deregisterCluster({ name: "nope" }), Code.NotFound, 'cluster "nope" not found');
    await expectError(clusters.registerCluster({ name: "prod-eu", mode: direct("https://m:6443", ca) }), Code.AlreadyExists, 'cluster "prod-eu" already exists');
    await expectError(
      grants.createGrant({ cluster: "nope", subject: { kind: SubjectKind.USER, name: "a" }, role: Role.VIEW }),
      Code.NotFound,
      'cluster "nope" not found',
    );
    await expectError(grants.getGrant({ id: "gr-missing" }), Code.NotFound, 'grant "gr-missing" not found');
    await expectError(grants.createGrant({ cluster: "prod-eu", role: Role.VIEW }), Code.InvalidArgument, /^subject: is required/);
    await expectError(
      grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "a" }, role: Role.UNSPECIFIED }),
      Code.InvalidArgument,
      "role: must be one of view, edit, admin, cluster-admin",
    );
    await expectError(
      grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "a" }, role: Role.VIEW, namespaces: ["Bad NS"] }),
      Code.InvalidArgument,
      /^namespaces\[0\]: /,
    );
    await expectError(
      grants.createGrant({
        cluster: "prod-eu",
        subject: { kind: SubjectKind.USER, name: "a" },
        role: Role.VIEW,
        expireTime: timestampFromDate(new Date(Date.now() - 1000)),
      }),
      Code.InvalidArgument,
      "expire_time: must be in the future",
    );
    await expectError(cp.clients().clusters.updateCluster({ name: "prod-eu" }), Code.InvalidArgument, /^update_mask: name the fields/);
  });

  it("refuses unknown, malformed, revoked and expired API keys", async () => {
    await expectError(cp.clients("kgk_nope").identity.whoAmI({}), Code.Unauthenticated, "unknown API key");
    await expectError(cp.clients("").identity.whoAmI({}), Code.Unauthenticated, /missing credentials|malformed Authorization/);
    const { identity } = cp.clients();
    const soon = await identity.createApiKey({ name: "short", subject: "temp", expireTime: timestampFromDate(new Date(Date.now() + 1200)) });
    expect((await cp.clients(soon.secret).identity.whoAmI({})).subject).toBe("temp");
    await new Promise((r) => setTimeout(r, 1300));
    await expectError(cp.clients(soon.secret).identity.whoAmI({}), Code.Unauthenticated, /expired at/);
  });

  it("denies non-admins, and minting without a grant", async () => {
    const bob = cp.clients(await cp.apiKey("bob"));
    await expectError(bob.clusters.registerCluster({ name: "x", mode: { case: "agent", value: {} } }), Code.PermissionDenied, "only kubegate admins may register clusters");
    await expectError(bob.grants.createGrant({ cluster: "prod-eu" }), Code.PermissionDenied, "only kubegate admins may create grants");
    await expectError(bob.identity.createApiKey({ name: "x", subject: "x" }), Code.PermissionDenied, "only kubegate admins may create API keys");
    await expectError(bob.clusters.getCluster({ name: "prod-eu" }), Code.PermissionDenied, 'you do not have access to cluster "prod-eu": ask an admin for a grant');
    await expectError(bob.tokens.mintToken({ cluster: "prod-eu" }), Code.PermissionDenied, 'you do not have access to cluster "prod-eu": ask an admin for a grant');
    await expectError(bob.tokens.mintToken({ cluster: "nope" }), Code.NotFound, 'cluster "nope" not found');
    expect((await bob.clusters.listClusters({})).clusters).toEqual([]);
  });

  it("bounds token lifetimes and rate-limits minting with the retry delay", async () => {
    const carol = cp.clients(await cp.apiKey("carol"));
    await cp.clients().grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "carol" }, role: Role.VIEW });
    await expectError(carol.tokens.mintToken({ cluster: "prod-eu", ttl: durationFromMs(31 * 60_000) }), Code.InvalidArgument, "ttl: must be at most 30m");
    await expectError(carol.tokens.mintToken({ cluster: "prod-eu", ttl: durationFromMs(10) }), Code.InvalidArgument, "ttl: must be at least 1s");
    for (let i = 0; i < 3; i++) await carol.tokens.mintToken({ cluster: "prod-eu" });
    const err = await failure(carol.tokens.mintToken({ cluster: "prod-eu" }));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/^token minting rate limit exceeded, retry in [12]s$/);
    const [retry] = err.findDetails(RetryInfoSchema);
    expect(Number(retry?.retryDelay?.seconds ?? 0n) * 1000 + (retry?.retryDelay?.nanos ?? 0) / 1e6).toBeGreaterThan(0);
    // The limit is per subject: someone else still mints.
    const dave = cp.clients(await cp.apiKey("dave"));
    await cp.clients().grants.createGrant({ cluster: "prod-eu", subject: { kind: SubjectKind.USER, name: "dave" }, role: Role.VIEW });
    await dave.tokens.mintToken({ cluster: "prod-eu" });
  });

  it("rejects oversized fields and oversized messages", async () => {
    const { clusters, identity } = cp.clients();
    await expectError(
      clusters.registerCluster({ name: "big", displayName: "x".repeat(300), mode: { case: "agent", value: {} } }),
      Code.InvalidArgument,
      "display_name: must be at most 256 characters (got 300)",
    );
    await expectError(identity.createApiKey({ name: "k", subject: "s".repeat(300) }), Code.InvalidArgument, /subject: must be at most 256/);
    await expectError(identity.createApiKey({ name: "k", subject: "a\nb" }), Code.InvalidArgument, "subject: must not contain control characters");
    const huge = await failure(clusters.registerCluster({ name: "huge", mode: direct("https://m:6443", "x".repeat(2 * 1024 * 1024)) }));
    expect([Code.ResourceExhausted, Code.InvalidArgument]).toContain(huge.code);
    expect((await clusters.listClusters({})).clusters.map((c) => c.name)).toEqual(["prod-eu"]);
  });

  it("ReportAuditEvents: only data planes, at most 1000 events, each checked; a bad report stores nothing", async () => {
    const sync = cp.clients(await cp.apiKey("dp-reporter", ["kubegate:data-planes"])).sync;
    const now = timestampFromDate(new Date());
    const event = (id: string, o: Record<string, unknown> = {}) => ({ id, time: now, kind: "request", cluster: "prod-eu", actor: "alice", verb: "create", statusCode: 201, count: 1n, ...o });
    const report = (events: ReturnType<typeof event>[]) => sync.reportAuditEvents({ replica: "dp-a", events });

    await expectError(cp.clients().sync.reportAuditEvents({ events: [event("by-admin")] }), Code.PermissionDenied, "only data-plane credentials may use the sync service");
    await expectError(report(Array.from({ length: 1001 }, (_, i) => event(`many-${i}`))), Code.InvalidArgument, "events: at most 1000 per call (got 1001)");
    await expectError(report([event("ok-1"), event("forged", { kind: "grant.create" })]), Code.InvalidArgument, 'events[1].kind: must be one of request, session.start, session.end, audit.dropped (got "grant.create")');
    await expectError(report([event("not an id")]), Code.InvalidArgument, "events[0].id: must be 1 to 64 letters, digits, '.', '_' or '-'");
    await expectError(report([event("twice"), event("twice")]), Code.InvalidArgument, 'events[1].id: "twice" appears twice in this report');
    await expectError(report([event("no-time", { time: undefined })]), Code.InvalidArgument, "events[0].time: is required");
    await expectError(report([event("src", { source: "control-plane" })]), Code.InvalidArgument, "events[0].source: is set by the control plane; leave it empty");
    await expectError(report([event("cl", { cluster: "Not_A_Label" })]), Code.InvalidArgument, /^events\[0\]\.cluster: "Not_A_Label" must be a DNS-1123 label/);
    await expectError(report([event("long", { name: "n".repeat(1025) })]), Code.InvalidArgument, "events[0].name: must be at most 1024 characters (got 1025)");
    await expectError(report([event("zero", { count: 0n })]), Code.InvalidArgument, /^events\[0\]\.count: must be a whole number from 1/);
    await expectError(report([event("neg", { bytesOut: -1n })]), Code.InvalidArgument, /^events\[0\]\.bytes_out: must be a whole number from 0/);
    await expectError(report([event("st", { statusCode: 1000 })]), Code.InvalidArgument, "events[0].status_code: must be an HTTP status (0 to 999)");
    await expectError(report([event("late", { firstTime: timestampFromDate(new Date(Date.now() + 60_000)) })]), Code.InvalidArgument, "events[0].first_time: must not be after time");
    expect((await cp.clients().audit.listAuditEvents({ subject: "alice" })).events).toEqual([]);

    // A good report is stored with the replica as its source; sent again (a retry), it is stored once.
    await report([event("good-1"), event("good-2", { kind: "audit.dropped", cluster: "", actor: "", count: 7n })]);
    await report([event("good-1")]);
    const stored = (await cp.clients().audit.listAuditEvents({})).events.filter((e) => e.source === "dp-a");
    expect(stored.map((e) => [e.id, e.kind, Number(e.count)]).sort()).toEqual([["good-1", "request", 1], ["good-2", "audit.dropped", 7]]);
  });
});
