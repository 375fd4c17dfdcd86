/**
 * `kubegate grant create|list|revoke`: who may reach which cluster, how far, how long.
 */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CreateGrantResponseSchema,
  GrantSchema,
  GrantState,
  RevokeGrantResponseSchema,
  RevokeSubjectResponseSchema,
  Role,
  SubjectKind,
  type Grant,
  type Subject,
} from "../../gen/kubegate/v1/grant_pb.ts";
import { parseDuration } from "../config/duration.ts";
import { usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { age, outputFormat, render, result } from "./output.ts";
import { loadSession } from "./session.ts";
import { dispatch } from "./subcommands.ts";
import { GRANT_STATES, grantStateFromProto, grantStateToProto } from "../grant-state.ts";

const help = `Usage:
  kubegate grant create --cluster NAME (--user U | --group G) --role view|edit|admin|cluster-admin
      [--namespace NS]... [--expires-in 8h | --expires-at 2026-12-01T00:00:00Z] [-o json|yaml]
  kubegate grant list [--cluster NAME] [--user U | --group G] [--state pending|applied|failed|revoked|expired] [-o json|yaml]
  kubegate grant revoke ID [--reason TEXT] [-o json|yaml]
  kubegate grant revoke (--user U | --group G) [--reason TEXT] [-o json|yaml]     everything of one subject

-o json|yaml prints the API's response (CreateGrantResponse, the Grants, RevokeGrantResponse, RevokeSubjectResponse).
`;

const ROLES: Record<string, Role> = { view: Role.VIEW, edit: Role.EDIT, admin: Role.ADMIN, "cluster-admin": Role.CLUSTER_ADMIN };
const ROLE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ROLES).map(([k, v]) => [v, k]));
const STATES: Record<string, GrantState> = Object.fromEntries(GRANT_STATES.map((s) => [s.toLowerCase(), grantStateToProto(s)]));

function subject(values: { user?: string; group?: string }, required: boolean): Subject | undefined {
  if (values.user !== undefined && values.group !== undefined) throw usageError("give --user or --group, not both");
  if (values.user !== undefined) return { $typeName: "kubegate.v1.Subject", kind: SubjectKind.USER, name: values.user };
  if (values.group !== undefined) return { $typeName: "kubegate.v1.Subject", kind: SubjectKind.GROUP, name: values.group };
  if (required) throw usageError("--user or --group is required");
  return undefined;
}

function expiry(values: { "expires-in"?: string; "expires-at"?: string }): Date | undefined {
  if (values["expires-in"] !== undefined && values["expires-at"] !== undefined) throw usageError("give --expires-in or --expires-at, not both");
  if (values["expires-in"] !== undefined) {
    try {
      return new Date(Date.now() + parseDuration(values["expires-in"]));
    } catch (err) {
      throw usageError(`--expires-in: ${(err as Error).message}`);
    }
  }
  if (values["expires-at"] !== undefined) {
    const d = new Date(values["expires-at"]);
    if (Number.isNaN(d.getTime())) throw usageError(`--expires-at ${JSON.stringify(values["expires-at"])} is not a time (e.g. 2026-12-01T00:00:00Z)`);
    return d;
  }
  return undefined;
}

const HEADERS = ["ID", "CLUSTER", "SUBJECT", "ROLE", "NAMESPACES", "STATE", "EXPIRES", "AGE"];
function rows(grants: Grant[]): string[][] {
  return grants.map((g) => [
    g.id,
    g.cluster,
    `${g.subject?.kind === SubjectKind.GROUP ? "group" : "user"}:${g.subject?.name ?? ""}`,
    ROLE_NAMES[g.role] ?? "?",
    g.namespaces.join(",") || "<all>",
    grantStateFromProto(g.state) ?? "?",
    g.expireTime === undefined ? "never" : timestampDate(g.expireTime).toISOString(),
    age(g.createTime === undefined ? undefined : timestampDate(g.createTime)),
  ]);
}

export const runGrant = dispatch(
  "grant",
  {
    async create(argv) {
      const { values } = parseFlags("grant create", argv, {
        cluster: { type: "string" },
        user: { type: "string" },
        group: { type: "string" },
        role: { type: "string" },
        namespace: { type: "string", multiple: true },
        "expires-in": { type: "string" },
        "expires-at": { type: "string" },
        output: { type: "string", short: "o" },
      });
      const format = outputFormat(values.output);
      if (values.cluster === undefined) throw usageError("kubegate grant create: --cluster is required");
      const role = ROLES[values.role ?? ""];
      if (role === undefined) throw usageError("kubegate grant create: --role must be view, edit, admin or cluster-admin");
      const expiresAt = expiry(values);
      const res = await clientsFor(await loadSession()).grants.createGrant({
        cluster: values.cluster,
        subject: subject(values, true),
        role,
        namespaces: values.namespace ?? [],
        expireTime: expiresAt === undefined ? undefined : timestampFromDate(expiresAt),
      });
      const grant = res.grant!;
      process.stdout.write(result(format, toJson(CreateGrantResponseSchema, res), () => `grant ${grant.id} created: ${rows([grant])[0]!.slice(1, 6).join(" ")}\n`));
      return 0;
    },

    async list(argv) {
      const { values } = parseFlags("grant list", argv, {
        cluster: { type: "string" },
        user: { type: "string" },
        group: { type: "string" },
        state: { type: "string" },
        output: { type: "string", short: "o" },
      });
      const format = outputFormat(values.output);
      const state = values.state === undefined ? GrantState.UNSPECIFIED : STATES[values.state.toLowerCase()];
      if (state === undefined) throw usageError(`--state must be ${GRANT_STATES.map((s) => s.toLowerCase()).join(", ")}`);
      const clients = clientsFor(await loadSession());
      const all: Grant[] = [];
      let pageToken = "";
      do {
        const page = await clients.grants.listGrants({ cluster: values.cluster ?? "", subject: subject(values, false), state, pageSize: 500, pageToken });
        all.push(...page.grants);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      process.stdout.write(render(format, all.map((g) => toJson(GrantSchema, g)), HEADERS, () => rows(all)));
      return 0;
    },

    async revoke(argv) {
      const { values, positionals } = parseFlags("grant revoke", argv, { user: { type: "string" }, group: { type: "string" }, reason: { type: "string" }, output: { type: "string", short: "o" } }, { positionals: 1 });
      const format = outputFormat(values.output);
      const clients = clientsFor(await loadSession());
      const who = subject(values, false);
      if (who !== undefined) {
        if (positionals.length > 0) throw usageError("kubegate grant revoke: give an ID or --user/--group, not both");
        const res = await clients.grants.revokeSubject({ subject: who, reason: values.reason ?? "" });
        const kind = values.user !== undefined ? "user" : "group";
        process.stdout.write(result(format, toJson(RevokeSubjectResponseSchema, res), () => `revoked ${res.revokedGrants} grant(s) and every token of ${kind} ${who.name}\n`));
        return 0;
      }
      if (positionals[0] === undefined) throw usageError("kubegate grant revoke: ID (or --user/--group) is required");
      const res = await clients.grants.revokeGrant({ id: positionals[0], reason: values.reason ?? "" });
      process.stdout.write(result(format, toJson(RevokeGrantResponseSchema, res), () => `grant ${res.grant!.id} ${grantStateFromProto(res.grant!.state)?.toLowerCase()}\n`));
      return 0;
    },
  },
  help,
);
