import { describe, expect, it } from "vitest";
import { authorize } from "../../src/data/authorize.ts";
import type { GrantView } from "../../src/sync/view.ts";
import { parseRequestInfo } from "../../src/data/request-info.ts";

const NOW = new Date("2030-01-01T12:00:00Z");
const CLUSTER = "prod";

function grant(id: string, role: GrantView["role"], namespaces: string[] = [], over: Partial<GrantView> = {}): GrantView {
  return { id, cluster: CLUSTER, role, namespaces, state: "APPLIED", stateMessage: "", expiresAt: null, ...over };
}

/** Requests are parsed as the data plane parses them, so each case reads like kubectl traffic. */
function decide(request: string, grants: GrantView[]) {
  const [method, target] = request.split(" ") as [string, string];
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const info = parseRequestInfo(method, path, new URLSearchParams(q === -1 ? "" : target.slice(q + 1)));
  return authorize(info, grants, CLUSTER, NOW);
}

const view = grant("gr-1", "view");
const viewAB = grant("gr-1", "view", ["team-a", "team-b"]);
const editA = grant("gr-2", "edit", ["team-a"]);
const edit = grant("gr-2", "edit");
const adminA = grant("gr-3", "admin", ["team-a"]);
const admin = grant("gr-3", "admin");
const clusterAdmin = grant("gr-4", "cluster-admin");

/** [request, grants, the grant that allows it] */
const allowed: [request: string, grants: GrantView[], by: string][] = [
  // view reads
  ["GET /api/v1/namespaces/team-a/pods?limit=500", [view], "gr-1"],
  ["GET /api/v1/pods", [view], "gr-1"],
  ["GET /api/v1/namespaces/x/configmaps?watch=1", [view], "gr-1"],
  ["GET /api/v1/nodes", [view], "gr-1"],
  ["GET /api/v1/namespaces/team-a/pods/p/log?follow=true", [view], "gr-1"],
  ["HEAD /api/v1/namespaces/team-a/pods/p", [view], "gr-1"],
  ["GET /api/v1/namespaces/team-a/pods?limit=500", [viewAB], "gr-1"],
  ["GET /apis/apps/v1/namespaces/team-b/deployments/web", [viewAB], "gr-1"],
  // discovery, version, openapi: any usable grant, read only
  ["GET /api", [viewAB], "gr-1"],
  ["GET /apis", [viewAB], "gr-1"],
  ["GET /api/v1", [viewAB], "gr-1"],
  ["GET /apis/apps/v1", [viewAB], "gr-1"],
  ["GET /version", [editA], "gr-2"],
  ["GET /openapi/v2", [viewAB], "gr-1"],
  ["GET /openapi/v3/apis/apps/v1?hash=x", [viewAB], "gr-1"],
  ["HEAD /healthz", [viewAB], "gr-1"],
  ["POST /version", [clusterAdmin], "gr-4"],
  // self reviews: kubectl auth can-i / whoami, any usable grant
  ["POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews", [viewAB], "gr-1"],
  ["POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews", [viewAB], "gr-1"],
  ["POST /apis/authentication.k8s.io/v1/selfsubjectreviews", [editA], "gr-2"],
  ["POST /apis/authentication.k8s.io/v1beta1/selfsubjectreviews", [view], "gr-1"],
  // a namespaced grant may see its own namespaces
  ["GET /api/v1/namespaces/team-a", [viewAB], "gr-1"],
  ["GET /api/v1/namespaces/team-b/status", [viewAB], "gr-1"],
  ["GET /api/v1/watch/namespaces/team-a", [viewAB], "gr-1"],
  ["GET /api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a", [viewAB], "gr-1"],
  ["GET /api/v1/namespaces?fieldSelector=metadata.name%3Dteam-b&watch=true", [editA, viewAB], "gr-1"],
  // edit and admin: anything namespaced in scope, exec included
  ["POST /api/v1/namespaces/team-a/configmaps", [editA], "gr-2"],
  ["DELETE /api/v1/namespaces/team-a/pods?labelSelector=app%3Dweb", [editA], "gr-2"],
  ["POST /api/v1/namespaces/team-a/pods/p/exec?command=sh&stdin=true", [editA], "gr-2"],
  ["GET /api/v1/namespaces/team-a/pods/p/exec?command=sh&stdin=true", [editA], "gr-2"],
  ["POST /api/v1/namespaces/team-a/pods/p/portforward", [editA], "gr-2"],
  ["POST /api/v1/namespaces/team-a/pods/p/attach", [editA], "gr-2"],
  ["GET /api/v1/namespaces/team-a/secrets/s", [editA], "gr-2"],
  ["POST /api/v1/namespaces/team-a/serviceaccounts/sa/token", [editA], "gr-2"],
  ["GET /api/v1/namespaces/team-a/services/svc:http/proxy/", [editA], "gr-2"],
  ["GET /api/v1/proxy/namespaces/team-a/pods/p/x", [editA], "gr-2"],
  ["GET /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", [editA], "gr-2"],
  ["POST /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", [adminA], "gr-3"],
  ["PUT /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles/r", [adminA], "gr-3"],
  ["PATCH /apis/apps/v1/namespaces/anywhere/deployments/web/scale", [edit], "gr-2"],
  // cluster-wide edit and admin read cluster-scoped resources
  ["GET /api/v1/nodes", [edit], "gr-2"],
  ["GET /api/v1/namespaces", [admin], "gr-3"],
  ["GET /apis/rbac.authorization.k8s.io/v1/clusterroles?watch=true", [admin], "gr-3"],
  ["GET /api/v1/secrets", [edit], "gr-2"],
  // cluster-admin: everything
  ["DELETE /api/v1/namespaces/team-a", [clusterAdmin], "gr-4"],
  ["POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings", [clusterAdmin], "gr-4"],
  ["GET /api/v1/nodes/n1/proxy/run", [clusterAdmin], "gr-4"],
  ["GET /api/v1/namespaces/kube-system/secrets", [clusterAdmin], "gr-4"],
  ["OPTIONS /api/v1/namespaces/a/pods", [clusterAdmin], "gr-4"],
  // several grants: any that allows, and the first that does is named
  ["POST /api/v1/namespaces/team-a/configmaps", [view, editA], "gr-2"],
  ["GET /api/v1/namespaces/team-c/pods", [viewAB, grant("gr-9", "view", ["team-c"])], "gr-9"],
  ["GET /api/v1/namespaces/team-a/pods", [viewAB, editA], "gr-1"],
  ["GET /api/v1/namespaces/team-a/pods", [grant("gr-0", "edit", ["team-a"], { state: "PENDING" }), viewAB], "gr-1"],
  // expiry is checked against the given clock
  ["GET /api/v1/pods", [grant("gr-1", "view", [], { expiresAt: new Date(NOW.getTime() + 1) })], "gr-1"],
];

describe("authorize allows", () => {
  it.each(allowed)("%s with %j", (request, grants, by) => {
    const decision = decide(request, grants);
    expect(decision).toMatchObject({ allowed: true });
    if (decision.allowed) expect(decision.grant.id).toBe(by);
  });
});

/** [request, grants, the client message (exact, or a pattern)] */
const denied: [request: string, grants: GrantView[], message: string | RegExp][] = [
  // view is read-only
  ["POST /api/v1/namespaces/team-a/configmaps", [view], "grant gr-1 (view) is read-only: it does not allow create on configmaps"],
  ["PUT /api/v1/namespaces/team-a/configmaps/c", [view], /is read-only: it does not allow update on configmaps/],
  ["PATCH /apis/apps/v1/namespaces/team-a/deployments/web", [view], /is read-only: it does not allow patch on deployments\.apps/],
  ["DELETE /api/v1/namespaces/team-a/pods/p", [view], /read-only: it does not allow delete on pods/],
  ["DELETE /api/v1/namespaces/team-a/pods", [view], /read-only: it does not allow deletecollection on pods/],
  ["OPTIONS /api/v1/namespaces/team-a/pods", [view], /read-only/],
  ["GET /api/v1/proxy/namespaces/team-a/pods/p/x", [view], /read-only: it does not allow proxy on pods/],
  // view: no secrets, no reach-in subresources, whatever the verb
  ["GET /api/v1/namespaces/team-a/secrets/s", [view], "grant gr-1 (view) does not allow reading secrets"],
  ["GET /api/v1/secrets", [view], /does not allow reading secrets/],
  ["GET /api/v1/namespaces/team-a/secrets?watch=true", [viewAB], /does not allow reading secrets/],
  ["GET /api/v1/namespaces/team-a/secret%73/s", [view], /does not allow reading secrets/],
  ["GET /%61pi/v1/namespaces/team-a/secrets", [view], /does not allow reading secrets/],
  ["GET /api/v1/namespaces/team-a/pods/p/exec?command=sh", [view], "grant gr-1 (view) does not allow get on pods/exec"],
  ["POST /api/v1/namespaces/team-a/pods/p/exec?command=sh", [view], /read-only: it does not allow create on pods\/exec/],
  ["GET /api/v1/namespaces/team-a/pods/p/attach", [view], /does not allow get on pods\/attach/],
  ["GET /api/v1/namespaces/team-a/pods/p/portforward", [view], /does not allow get on pods\/portforward/],
  ["GET /api/v1/namespaces/team-a/pods/p/proxy/metrics", [view], /does not allow get on pods\/proxy/],
  ["GET /api/v1/namespaces/team-a/services/svc:80/proxy/", [view], /does not allow get on services\/proxy/],
  ["GET /api/v1/nodes/n1/proxy/configz", [view], /does not allow get on nodes\/proxy/],
  ["GET /api/v1/namespaces/team-a/serviceaccounts/sa/token", [view], /does not allow get on serviceaccounts\/token/],
  ["GET /api/v1/namespaces/team-a/pods/p/%65xec", [view], /does not allow get on pods\/exec/],
  // namespace scope
  ["GET /api/v1/pods", [viewAB], "grant gr-1 allows namespaces team-a, team-b only; this request is cluster-wide"],
  ["GET /api/v1/nodes", [viewAB], /allows namespaces team-a, team-b only; this request is cluster-wide/],
  ["GET /api/v1/namespaces/team-c/pods", [viewAB], "grant gr-1 allows namespaces team-a, team-b only; this request is in namespace team-c"],
  ["POST /api/v1/namespaces/team-b/configmaps", [editA], "grant gr-2 allows namespaces team-a only; this request is in namespace team-b"],
  ["POST /api/v1/namespaces/team-b/pods/p/exec", [editA], /only; this request is in namespace team-b/],
  ["GET /api/v1/namespaces", [viewAB], /only; this request is cluster-wide/],
  ["GET /api/v1/namespaces?watch=true", [viewAB], /only; this request is cluster-wide/],
  ["GET /api/v1/namespaces?fieldSelector=metadata.name%3Dteam-c", [viewAB], /only; this request is for namespace team-c/],
  ["GET /api/v1/namespaces?fieldSelector=metadata.name%3Dteam-a,x%3D;", [viewAB], /only; this request is cluster-wide/],
  ["GET /api/v1/namespaces/team-c", [viewAB], /only; this request is for namespace team-c/],
  ["DELETE /api/v1/namespaces/team-a", [editA], "grant gr-2 may read namespace team-a but not change it: it does not allow delete on namespaces"],
  ["PUT /api/v1/namespaces/team-a/finalize", [adminA], /may read namespace team-a but not change it/],
  ["PATCH /api/v1/namespaces/team-a/status", [adminA], /may read namespace team-a but not change it/],
  ["POST /apis/authorization.k8s.io/v1/subjectaccessreviews", [adminA], /only; this request is cluster-wide/],
  ["POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings", [adminA], /only; this request is cluster-wide/],
  // non-resource paths: reads only, unless cluster-admin
  ["POST /version", [view], "grant gr-1 (view) allows only reads of non-resource paths: it does not allow post on /version"],
  ["DELETE /logs/x", [admin], /allows only reads of non-resource paths: it does not allow delete on \/logs\/x/],
  ["PUT /api", [edit], /allows only reads of non-resource paths/],
  ["POST /apis/apps/v1", [admin], /allows only reads of non-resource paths/],
  // self reviews are only the create of those resources
  ["DELETE /apis/authorization.k8s.io/v1/selfsubjectaccessreviews", [view], /read-only/],
  ["POST /apis/authorization.k8s.io/v1/subjectaccessreviews", [edit], /may only read cluster-scoped resources/],
  // cluster-wide edit/admin: cluster-scoped writes and reach-ins need cluster-admin
  ["POST /api/v1/namespaces", [edit], "grant gr-2 (edit) may only read cluster-scoped resources: create on namespaces needs cluster-admin"],
  ["DELETE /api/v1/namespaces/team-a", [admin], /\(admin\) may only read cluster-scoped resources: delete on namespaces needs cluster-admin/],
  ["PATCH /api/v1/nodes/n1", [admin], /may only read cluster-scoped resources: patch on nodes/],
  ["DELETE /apis/rbac.authorization.k8s.io/v1/clusterroles/x", [admin], "grant gr-3 (admin) may only read cluster-scoped resources: delete on clusterroles.rbac.authorization.k8s.io needs cluster-admin"],
  ["POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings", [edit], /may only read cluster-scoped resources/],
  ["PUT /api/v1/persistentvolumes/pv1", [edit], /may only read cluster-scoped resources/],
  ["POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions", [admin], /may only read cluster-scoped resources/],
  ["DELETE /api/v1/pods", [edit], /may only read cluster-scoped resources: deletecollection on pods/],
  ["POST /api/v1/proxy/nodes/n1/run", [admin], /may only read cluster-scoped resources: proxy on nodes/],
  ["GET /api/v1/nodes/n1/proxy/exec/ns/p/c?command=sh", [admin], "grant gr-3 (admin) does not allow get on nodes/proxy: on cluster-scoped resources that needs cluster-admin"],
  // edit may not change RBAC
  ["POST /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", [editA], "grant gr-2 (edit) does not allow create on rolebindings.rbac.authorization.k8s.io: changing RBAC needs admin"],
  ["PATCH /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles/r", [edit], /does not allow patch on roles\.rbac\.authorization\.k8s\.io/],
  ["DELETE /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles", [editA], /does not allow deletecollection on roles/],
  // methods Kubernetes does not serve
  ["OPTIONS /api/v1/namespaces/team-a/pods", [editA], "grant gr-2 (edit) does not allow this method on pods"],
  // several grants: every one is named
  [
    "POST /api/v1/namespaces/team-c/configmaps",
    [view, editA],
    "grant gr-1 (view) is read-only: it does not allow create on configmaps; grant gr-2 allows namespaces team-a only; this request is in namespace team-c",
  ],
];

describe("authorize denies", () => {
  it.each(denied)("%s with %j", (request, grants, message) => {
    const decision = decide(request, grants);
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    if (typeof message === "string") expect(decision.message).toBe(message);
    else expect(decision.message).toMatch(message);
    expect(decision.reason).toContain(`cluster "${CLUSTER}"`);
  });
});

const past = new Date(NOW.getTime() - 1);
/** Grants that cannot be used at all, whatever the request. */
const unusable: [what: string, grants: GrantView[], message: string][] = [
  ["no grant", [], `your access to cluster "prod" has been revoked or has expired`],
  ["pending", [grant("gr-1", "edit", [], { state: "PENDING" })], `your grant gr-1 on cluster "prod" is still being applied; try again shortly`],
  [
    "failed",
    [grant("gr-1", "edit", [], { state: "FAILED", stateMessage: "rolebindings is forbidden" })],
    `your grant gr-1 on cluster "prod" failed to apply: rolebindings is forbidden`,
  ],
  ["revoked", [grant("gr-1", "edit", [], { state: "REVOKED" })], `your access to cluster "prod" has been revoked or has expired`],
  ["expired state", [grant("gr-1", "edit", [], { state: "EXPIRED" })], `your grant gr-1 on cluster "prod" has expired`],
  ["applied but past expiry", [grant("gr-1", "edit", [], { expiresAt: past })], `your grant gr-1 on cluster "prod" has expired`],
  ["applied, expiring this very instant", [grant("gr-1", "edit", [], { expiresAt: NOW })], `your grant gr-1 on cluster "prod" has expired`],
  ["pending but past expiry", [grant("gr-1", "edit", [], { state: "PENDING", expiresAt: past })], `your grant gr-1 on cluster "prod" has expired`],
  ["another cluster's grant", [grant("gr-1", "cluster-admin", [], { cluster: "dev" })], `your access to cluster "prod" has been revoked or has expired`],
  [
    "pending wins over revoked",
    [grant("gr-1", "edit", [], { state: "REVOKED" }), grant("gr-2", "view", [], { state: "PENDING" })],
    `your grant gr-2 on cluster "prod" is still being applied; try again shortly`,
  ],
  [
    "failed wins over expired",
    [grant("gr-1", "edit", [], { state: "EXPIRED" }), grant("gr-2", "view", [], { state: "FAILED", stateMessage: "x" })],
    `your grant gr-2 on cluster "prod" failed to apply: x`,
  ],
  [
    "revoked and expired",
    [grant("gr-1", "edit", [], { state: "EXPIRED" }), grant("gr-2", "view", [], { state: "REVOKED" })],
    `your access to cluster "prod" has been revoked or has expired`,
  ],
];

describe("authorize with no usable grant", () => {
  it.each(unusable)("%s", (_, grants, message) => {
    // Even the most harmless request is refused: the grant itself is not in force.
    for (const request of ["GET /version", "GET /api", "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]) {
      const decision = decide(request, grants);
      expect(decision).toMatchObject({ allowed: false, message });
      if (!decision.allowed) {
        for (const g of grants) expect(decision.reason).toContain(g.id);
      }
    }
  });
});
