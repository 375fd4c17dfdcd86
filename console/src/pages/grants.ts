/** Admin: create grants and revoke them; the state column shows RBAC going live in the member. */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { GrantState, Role, SubjectKind, type Grant } from "../../../gen/kubegate/v1/grant_pb.ts";
import { grants } from "../api.ts";
import { button, confirmAction, el, field, form, input, select, show, table, when, words } from "../dom.ts";
import { allClusters, everyPage, GRANT_STATES, isActive, LIFETIMES, roleName, ROLES, stateCell, subjectText } from "./shared.ts";

const allGrants = (): Promise<Grant[]> =>
  everyPage(async (pageToken) => {
    const page = await grants.listGrants({ pageSize: 500, pageToken });
    return { items: page.grants, next: page.nextPageToken };
  });

function row(g: Grant, reload: () => void): HTMLTableRowElement {
  const revoke = isActive(g)
    ? button(
        "Revoke",
        () =>
          void confirmAction(`Revoke ${g.id}?`, `${subjectText(g)} loses ${roleName(g.role)} on ${g.cluster} at once; live streams that rely on it are cut.`, "Revoke", "Reason (optional)").then(async (reason) => {
            if (reason === undefined) return;
            await grants.revokeGrant({ id: g.id, reason });
            reload();
          }),
        { "aria-label": `Revoke ${g.id}` },
      )
    : "";
  return el(
    "tr",
    { "data-grant": g.id },
    el("th", { scope: "row" }, g.id),
    el("td", {}, g.cluster),
    el("td", {}, subjectText(g)),
    el("td", {}, roleName(g.role)),
    el("td", {}, g.namespaces.length === 0 ? "all" : g.namespaces.join(", ")),
    stateCell(GRANT_STATES[g.state], g.stateMessage),
    el("td", {}, when(g.expireTime, "never")),
    el("td", {}, g.createdBy),
    el("td", {}, revoke),
  );
}

export async function grantsPage(): Promise<void> {
  const [clusterList, list] = await Promise.all([allClusters(), allGrants()]);
  const reload = () => void grantsPage();
  const cluster = select("cluster", clusterList.map((c) => [c.name, c.name]), { required: "" });
  const kind = select("subject-kind", [["user", "User"], ["group", "Group"]]);
  const subject = input({ name: "subject", required: "", maxlength: "253" });
  const role = select("role", ROLES.map(([r, name]) => [String(r), name]));
  const namespaces = input({ name: "namespaces", placeholder: "team-a, team-b" });
  const lifetime = select("expires", LIFETIMES.map(([label, ms]) => [String(ms), label]));
  const create = form(
    "Create a grant",
    [
      field("Cluster", cluster),
      field("Subject kind", kind),
      field("Subject", subject, "A user name, e.g. alice@example.com, or a group, e.g. platform."),
      field("Role", role, "The Kubernetes default ClusterRole it binds."),
      field("Namespaces", namespaces, "Comma-separated; empty means cluster-wide."),
      field("Expires after", lifetime),
    ],
    "Create grant",
    async () => {
      const ms = Number(lifetime.value);
      await grants.createGrant({
        cluster: cluster.value,
        subject: { kind: kind.value === "group" ? SubjectKind.GROUP : SubjectKind.USER, name: subject.value.trim() },
        role: Number(role.value) as Role,
        namespaces: words(namespaces.value),
        ...(ms === 0 ? {} : { expireTime: timestampFromMs(Date.now() + ms) }),
        requestId: crypto.randomUUID(),
      });
      reload();
    },
  );
  const grantTable = (rows: Grant[]) => table("Grants", ["Grant", "Cluster", "Subject", "Role", "Namespaces", "State", "Expires", "Created by", ""], rows.map((g) => row(g, reload)));
  const body: HTMLElement = list.length === 0 ? el("p", {}, "No grants yet.") : grantTable(list);
  // While RBAC is going live in a member (or may yet: a FAILED grant is retried), the table
  // follows it; the form keeps what is typed.
  const follow = (current: HTMLElement, rows: Grant[]) => {
    const delay = rows.some((g) => g.state === GrantState.PENDING) ? 2000 : rows.some((g) => g.state === GrantState.FAILED) ? 10_000 : 0;
    if (delay === 0) return;
    setTimeout(() => {
      if (!current.isConnected) return;
      void allGrants().then((next) => {
        if (!current.isConnected) return;
        const replacement = grantTable(next);
        current.replaceWith(replacement);
        follow(replacement, next);
      });
    }, delay);
  };
  follow(body, list);
  show("Grants", clusterList.length === 0 ? el("p", {}, "Register a cluster first: grants name one.") : el("details", { open: "" }, el("summary", {}, "Create a grant"), create), body);
}
