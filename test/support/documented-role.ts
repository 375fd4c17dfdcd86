/**
 * The ClusterRole deploy/kubegate-agent.yaml documents for kubegate's credential in a member,
 * and a fake member whose gateway identity holds exactly that role.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { clusterRoleBinding, IMPERSONATOR_ROLE, type KubeObject } from "./fake-apiserver/index.ts";
import type { TestGateway } from "./gateway.ts";

const MANIFEST = join(import.meta.dirname, "..", "..", "deploy", "kubegate-agent.yaml");
const RBAC_V1 = "rbac.authorization.k8s.io/v1";

/** The ClusterRole the manifest gives the agent. */
export async function documentedClusterRole(): Promise<KubeObject> {
  const docs = parseAllDocuments(await readFile(MANIFEST, "utf8")).map((d) => d.toJS() as KubeObject);
  const role = docs.find((d) => d["kind"] === "ClusterRole");
  if (role === undefined) throw new Error("deploy/kubegate-agent.yaml has no ClusterRole");
  return role;
}

/**
 * Leaves the fake's gateway identity (the agent's credential in agent mode, the registered
 * one in direct mode) with the documented role and nothing else: the fake's own
 * impersonator binding is removed.
 */
export async function holdOnlyDocumentedRole(gw: TestGateway): Promise<void> {
  const impersonator = gw.fake.getObject(RBAC_V1, "ClusterRoleBinding", undefined, IMPERSONATOR_ROLE) as { subjects: Array<{ name: string }> };
  const gatewayUser = impersonator.subjects[0]!.name;
  const role = await documentedClusterRole();
  gw.fake.seed(role, clusterRoleBinding("kubegate-agent", String((role["metadata"] as { name: string }).name), [{ kind: "User", name: gatewayUser }]));
  gw.fake.deleteObject(RBAC_V1, "ClusterRoleBinding", undefined, IMPERSONATOR_ROLE);
}
