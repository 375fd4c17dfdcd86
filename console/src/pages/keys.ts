/** Admin: API keys for services, CI and people; a new key's secret is shown once. */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ApiKey } from "../../../gen/kubegate/v1/identity_pb.ts";
import { identity } from "../api.ts";
import { button, confirmAction, copyable, el, field, form, input, select, show, table, when, words } from "../dom.ts";
import { everyPage, LIFETIMES } from "./shared.ts";

const allKeys = (): Promise<ApiKey[]> =>
  everyPage(async (pageToken) => {
    const page = await identity.listApiKeys({ pageSize: 500, pageToken });
    return { items: page.apiKeys, next: page.nextPageToken };
  });

function row(k: ApiKey, reload: () => void): HTMLTableRowElement {
  return el(
    "tr",
    { "data-key": k.id },
    el("th", { scope: "row" }, k.name),
    el("td", {}, k.id),
    el("td", {}, k.subject),
    el("td", {}, k.groups.join(", ") || "—"),
    el("td", {}, when(k.createTime)),
    el("td", {}, when(k.expireTime, "never")),
    el("td", {}, when(k.lastUsedTime, "never")),
    el(
      "td",
      {},
      button(
        "Revoke",
        () =>
          void confirmAction(`Revoke the API key ${k.name}?`, `Everything using ${k.id} (as ${k.subject}) is refused from now on.`, "Revoke").then(async (ok) => {
            if (ok === undefined) return;
            await identity.revokeApiKey({ id: k.id });
            reload();
          }),
        { "aria-label": `Revoke ${k.name}` },
      ),
    ),
  );
}

export async function keysPage(created?: { name: string; secret: string }): Promise<void> {
  const list = await allKeys();
  const reload = () => void keysPage();
  const name = input({ name: "name", required: "", maxlength: "253" });
  const subject = input({ name: "subject", required: "", maxlength: "253" });
  const groups = input({ name: "groups", placeholder: "platform, kubegate:admins" });
  const lifetime = select("expires", LIFETIMES.map(([label, ms]) => [String(ms), label]));
  const create = form(
    "Create an API key",
    [field("Name", name, "What the key is for, e.g. ci-deploy."), field("Subject", subject, "Who the key speaks for."), field("Groups", groups, "Comma-separated."), field("Expires after", lifetime)],
    "Create API key",
    async () => {
      const ms = Number(lifetime.value);
      const res = await identity.createApiKey({
        name: name.value.trim(),
        subject: subject.value.trim(),
        groups: words(groups.value),
        ...(ms === 0 ? {} : { expireTime: timestampFromMs(Date.now() + ms) }),
        requestId: crypto.randomUUID(),
      });
      await keysPage({ name: res.apiKey!.name, secret: res.secret });
    },
  );
  const secret =
    created === undefined
      ? []
      : [
          el(
            "section",
            { class: "secret", "aria-labelledby": "secret-title" },
            el("h2", { id: "secret-title" }, `API key ${created.name} created`),
            el("p", {}, el("strong", {}, "Its secret is shown only now:"), " kubegate keeps only its hash. Store it where it is needed."),
            copyable("secret", created.secret, { id: "new-secret" }),
          ),
        ];
  const body = list.length === 0 ? el("p", {}, "No API keys.") : table("API keys", ["Name", "ID", "Subject", "Groups", "Created", "Expires", "Last used", ""], list.map((k) => row(k, reload)));
  show("API keys", ...secret, el("details", { open: "" }, el("summary", {}, "Create an API key"), create), body);
}
