/**
 * `kubegate audit`: the recent audit events (AuditLog), newest first, for admins.
 */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuditEventSchema, type AuditEvent } from "../../gen/kubegate/v1/audit_pb.ts";
import { usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { outputFormat, render } from "./output.ts";
import { loadSession } from "./session.ts";

const help = `Usage:
  kubegate audit [--cluster NAME] [--user SUBJECT] [--limit N] [-o json|yaml]

Prints the recent audit events, newest first (100 unless --limit says otherwise): requests
through the data plane (successful reads counted together per couple of seconds in COUNT),
exec/attach/port-forward sessions, and what admins and users did on the control plane.
--user matches the subject who acted, exactly. -o json|yaml prints the AuditEvents.
`;

const HEADERS = ["TIME", "CLUSTER", "USER", "WHAT", "STATUS", "COUNT"];

/** verb resource namespace/name, as a person reads a request. */
function what(e: AuditEvent): string {
  const object = [e.namespace, e.name].filter((s) => s !== "").join("/");
  const request = [e.verb, e.resource, object].filter((s) => s !== "").join(" ");
  if (e.kind === "request") return request;
  if (e.kind.startsWith("session.")) return `${e.kind} ${request}`;
  return [e.kind, e.grantId, e.targetSubject].filter((s) => s !== "").join(" ");
}

function rows(events: AuditEvent[]): string[][] {
  return events.map((e) => [
    e.time === undefined ? "-" : timestampDate(e.time).toISOString().replace(/\.\d{3}Z$/, "Z"),
    e.cluster || "-",
    e.actor || "-",
    what(e),
    e.statusCode === 0 ? "-" : String(e.statusCode),
    String(e.count),
  ]);
}

export async function runAudit(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(help);
    return 0;
  }
  const { values } = parseFlags("audit", argv, {
    cluster: { type: "string" },
    user: { type: "string" },
    limit: { type: "string" },
    output: { type: "string", short: "o" },
  });
  const format = outputFormat(values.output);
  const limit = Number(values.limit ?? "100");
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`kubegate audit: --limit must be a whole number, 1 or more (got ${JSON.stringify(values.limit)})`);
  const clients = clientsFor(await loadSession());
  const events: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await clients.audit.listAuditEvents({ cluster: values.cluster ?? "", subject: values.user ?? "", pageSize: Math.min(500, limit - events.length), pageToken });
    events.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && events.length < limit);
  process.stdout.write(render(format, events.map((e) => toJson(AuditEventSchema, e)), HEADERS, () => rows(events)));
  return 0;
}
