/** Decoding request bodies: JSON, YAML for server-side apply, protobuf for the kinds typed clients send. */
import { parse as parseYaml } from "yaml";
import { type Req, readBody } from "./http-io.ts";
import { decodeKubernetesProtobuf } from "./protobuf.ts";
import { PROTO_SCHEMAS } from "./proto-schemas.ts";
import { badRequest, apiError } from "./status.ts";

/** The media type of a request, lowercased, without parameters. */
export function mediaType(req: Req): string {
  return String(req.headers["content-type"] ?? "application/json").split(";")[0]!.trim().toLowerCase();
}

/** Reads and decodes the body; YAML is accepted for apply patches and `application/yaml`. */
export async function decodeBody(req: Req): Promise<unknown> {
  const bytes = await readBody(req);
  const type = mediaType(req);
  if (type === "application/vnd.kubernetes.protobuf") return decodeKubernetesProtobuf(bytes, PROTO_SCHEMAS);
  const raw = bytes.toString("utf8");
  if (type.includes("protobuf") || type.includes("cbor")) {
    throw apiError(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
  try {
    if (type === "application/apply-patch+yaml" || type === "application/yaml") return parseYaml(raw);
    return JSON.parse(raw);
  } catch (e) {
    throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
  }
}
