/**
 * Just enough OpenAPI v3 for kubectl: the root index and, per group-version,
 * PATCH operations tagged with their GVK that accept `fieldValidation`. With
 * that, kubectl apply/create trust server-side field validation instead of
 * downloading the (protobuf) v2 schema, and — since no operation declares a
 * strategic-merge request body — compute strategic patches from their built-in types.
 */
import { RESOURCE_TYPES, type ResourceType, groupVersion } from "./resources.ts";

function gvPath(t: Pick<ResourceType, "group" | "version">): string {
  return t.group === "" ? `api/${t.version}` : `apis/${t.group}/${t.version}`;
}

function gvDocument(gv: string) {
  const paths: Record<string, unknown> = {};
  for (const t of RESOURCE_TYPES) {
    if (gvPath(t) !== gv || !t.verbs.includes("patch")) continue;
    const path = `/${gv}/${t.namespaced ? "namespaces/{namespace}/" : ""}${t.resource}/{name}`;
    paths[path] = {
      patch: {
        operationId: `patch${t.kind}`,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": { group: t.group, version: t.version, kind: t.kind },
        parameters: ["dryRun", "fieldManager", "fieldValidation", "force"].map((name) => ({ name, in: "query", schema: { type: "string", uniqueItems: true } })),
        responses: { "200": { description: "OK" } },
      },
    };
  }
  return { openapi: "3.0.0", info: { title: "Kubernetes (fake)", version: "v1.32.0" }, paths, components: { schemas: {} } };
}

/** Media type of the protobuf OpenAPI v2 document. */
export const OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

function protoString(field: number, value: string): Buffer {
  const bytes = Buffer.from(value);
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
}

/**
 * GET /openapi/v2, which kubectl ≤ 1.28 reads (protobuf only) before validating
 * and applying: an empty gnostic Document (swagger "2.0", info). Kinds it does
 * not describe are skipped by kubectl's client-side validation and patched
 * with its built-in types.
 */
export function openApiV2Document(): Buffer {
  const info = Buffer.concat([protoString(1, "Kubernetes (fake)"), protoString(2, "v1.32.0")]);
  return Buffer.concat([protoString(1, "2.0"), Buffer.from([(2 << 3) | 2, info.length]), info]);
}

/** The document at an /openapi/v3 path, or undefined (404). */
export function openApiDocument(path: string): unknown {
  const gvs = [...new Set(RESOURCE_TYPES.map(gvPath))];
  if (path === "/openapi/v3") {
    return { paths: Object.fromEntries(gvs.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=FAKE${groupVersion(RESOURCE_TYPES.find((t) => gvPath(t) === gv)!).replace(/\W/g, "")}` }])) };
  }
  const gv = path.replace(/^\/openapi\/v3\//, "");
  return gvs.includes(gv) ? gvDocument(gv) : undefined;
}
