/**
 * `kubegate apikey create|list|revoke`: credentials for people, services and CI. The
 * secret is printed once; only its hash is kept.
 */
import { toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ApiKeySchema, CreateApiKeyResponseSchema, RevokeApiKeyResponseSchema, type ApiKey } from "../../gen/kubegate/v1/identity_pb.ts";
import { parseDuration } from "../config/duration.ts";
import { usageError } from "./cli-error.ts";
import { clientsFor } from "./connect.ts";
import { parseFlags } from "./flags.ts";
import { age, outputFormat, render, result } from "./output.ts";
import { loadSession } from "./session.ts";
import { dispatch } from "./subcommands.ts";

const help = `Usage:
  kubegate apikey create --name NAME --subject WHO [--group G]... [--expires-in 90d] [-o json|yaml]
  kubegate apikey list [--all] [-o json|yaml]
  kubegate apikey revoke ID [-o json|yaml]

-o json|yaml prints the API's response (CreateApiKeyResponse, with the secret shown once; the ApiKeys; RevokeApiKeyResponse).
`;

const HEADERS = ["ID", "NAME", "SUBJECT", "GROUPS", "EXPIRES", "LAST USED", "AGE"];
const when = (t: ApiKey["expireTime"]) => (t === undefined ? "-" : timestampDate(t).toISOString());
function rows(keys: ApiKey[]): string[][] {
  return keys.map((k) => [
    k.id,
    k.name,
    k.subject,
    k.groups.join(",") || "<none>",
    k.revokeTime !== undefined ? "revoked" : k.expireTime === undefined ? "never" : when(k.expireTime),
    when(k.lastUsedTime),
    age(k.createTime === undefined ? undefined : timestampDate(k.createTime)),
  ]);
}

export const runApikey = dispatch(
  "apikey",
  {
    async create(argv) {
      const { values } = parseFlags("apikey create", argv, {
        name: { type: "string" },
        subject: { type: "string" },
        group: { type: "string", multiple: true },
        "expires-in": { type: "string" },
        output: { type: "string", short: "o" },
      });
      if (values.name === undefined || values.subject === undefined) throw usageError("kubegate apikey create: --name and --subject are required");
      let expiresAt: Date | undefined;
      if (values["expires-in"] !== undefined) {
        try {
          expiresAt = new Date(Date.now() + parseDuration(values["expires-in"]));
        } catch (err) {
          throw usageError(`--expires-in: ${(err as Error).message}`);
        }
      }
      const format = outputFormat(values.output);
      const res = await clientsFor(await loadSession()).identity.createApiKey({
        name: values.name,
        subject: values.subject,
        groups: values.group ?? [],
        expireTime: expiresAt === undefined ? undefined : timestampFromDate(expiresAt),
      });
      process.stdout.write(
        result(format, toJson(CreateApiKeyResponseSchema, res), () => `API key ${res.apiKey!.id} for ${values.subject} (shown once, store it now):\n${res.secret}\n`),
      );
      return 0;
    },

    async list(argv) {
      const { values } = parseFlags("apikey list", argv, { all: { type: "boolean" }, output: { type: "string", short: "o" } });
      const format = outputFormat(values.output);
      const clients = clientsFor(await loadSession());
      const all: ApiKey[] = [];
      let pageToken = "";
      do {
        const page = await clients.identity.listApiKeys({ includeRevoked: values.all ?? false, pageSize: 500, pageToken });
        all.push(...page.apiKeys);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      process.stdout.write(render(format, all.map((k) => toJson(ApiKeySchema, k)), HEADERS, () => rows(all)));
      return 0;
    },

    async revoke(argv) {
      const { values, positionals } = parseFlags("apikey revoke", argv, { output: { type: "string", short: "o" } }, { positionals: 1 });
      if (positionals[0] === undefined) throw usageError("kubegate apikey revoke: ID is required");
      const format = outputFormat(values.output);
      const res = await clientsFor(await loadSession()).identity.revokeApiKey({ id: positionals[0] });
      process.stdout.write(result(format, toJson(RevokeApiKeyResponseSchema, res), () => `API key ${positionals[0]} revoked\n`));
      return 0;
    },
  },
  help,
);
