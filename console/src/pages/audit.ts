/** Admin: the recent activity on one cluster, newest first: requests (reads counted), sessions, grants, tokens. */
import type { AuditEvent } from "../../../gen/kubegate/v1/audit_pb.ts";
import { audit } from "../api.ts";
import { button, el, show, table, when } from "../dom.ts";

function what(e: AuditEvent): string {
  if (e.kind !== "request" && !e.kind.startsWith("session.")) return [e.kind, e.targetSubject, e.message].filter((p) => p !== "").join(" · ");
  const object = [e.namespace, e.name].filter((p) => p !== "").join("/");
  return [e.kind === "request" ? "" : e.kind, e.verb, e.resource, object].filter((p) => p !== "").join(" ");
}

function row(e: AuditEvent): HTMLTableRowElement {
  const refused = e.statusCode >= 400;
  return el(
    "tr",
    { "data-event": e.id, "data-kind": e.kind },
    el("th", { scope: "row" }, when(e.time)),
    el("td", {}, e.actor || "—"),
    el("td", {}, what(e), ...(refused && e.message !== "" ? [el("br"), el("small", {}, e.message)] : [])),
    el("td", { class: refused ? "state state-failed" : "" }, e.statusCode === 0 ? "—" : String(e.statusCode)),
    el("td", {}, e.count > 1n ? `×${e.count}` : ""),
  );
}

export async function auditPage(cluster: string): Promise<void> {
  const body = el("tbody");
  const more = el("p");
  async function page(pageToken: string): Promise<void> {
    const res = await audit.listAuditEvents({ cluster, pageSize: 100, pageToken });
    for (const e of res.events) body.append(row(e));
    more.replaceChildren(...(res.nextPageToken === "" ? [] : [button("Show older events", () => void page(res.nextPageToken))]));
  }
  await page("");
  const t = table(`Recent activity on ${cluster}`, ["Time", "Who", "What", "Status", "Count"], []);
  t.tBodies[0]!.replaceWith(body);
  show(
    `Recent activity on ${cluster}`,
    el("p", {}, "Writes, refusals and exec/attach/port-forward sessions one by one; successful reads counted per user, verb and resource. The control plane's log keeps every request."),
    body.childElementCount === 0 ? el("p", {}, "Nothing recorded yet.") : t,
    more,
  );
}
