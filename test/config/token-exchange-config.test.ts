/**
 * --token-exchange-config is checked in full at startup: each mistake is an error that
 * names the flag, the file, the entry and the field; the good file parses to issuers with
 * defaults filled. Then the pure policy: bound claims and the claim mapping.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseClaimTemplate, renderClaimTemplate } from "../../src/config/claim-template.ts";
import { ConfigError, resolveServeConfig } from "../../src/config/serve-config.ts";
import { parseTokenExchangeConfig, type ExchangeIssuer } from "../../src/config/token-exchange-config.ts";
import { checkBoundClaims, mapIdentity } from "../../src/control/exchange-policy.ts";

const GOOD = `issuers:
  - issuer: https://token.actions.githubusercontent.com
    audience: kubegate
    subject: "ci:github:{repository}:{environment}"
    groups: ["ci:github:{repository_owner}", "ci"]
    claims:
      repository_owner: my-org
      environment: [staging, prod]
  - issuer: https://gitlab.example.com
    audience: https://kubegate.example.com
    subject: "ci:gitlab:{project_path}"
    claims: { namespace_path: platform, ref_protected: true }
    ttl: 12h
`;

/** One issuer entry with `change` applied (null deletes a field). */
const withEntry = (change: Record<string, unknown>) => {
  const base: Record<string, unknown> = { issuer: "https://ci.example.com", audience: "kubegate", subject: '"ci:{repository}"', claims: "{ repository_owner: my-org }" };
  const fields = Object.entries({ ...base, ...change }).filter(([, v]) => v !== null);
  return `issuers:\n  - ${fields.map(([k, v]) => `${k}: ${String(v)}`).join("\n    ")}\n`;
};

describe("parseTokenExchangeConfig", () => {
  it("parses issuers with their templates, bound claims and ttl (default 1h)", () => {
    const [github, gitlab] = parseTokenExchangeConfig(GOOD, "ci.yaml");
    expect(github).toMatchObject({
      issuer: "https://token.actions.githubusercontent.com",
      audience: "kubegate",
      subject: { text: "ci:github:{repository}:{environment}", claims: ["repository", "environment"] },
      claims: { repository_owner: ["my-org"], environment: ["staging", "prod"] },
      ttlMs: 3_600_000,
    });
    expect(github!.groups.map((g) => g.text)).toEqual(["ci:github:{repository_owner}", "ci"]);
    // YAML's true is the claim's spelling "true", as GitLab sends ref_protected.
    expect(gitlab).toMatchObject({ claims: { namespace_path: ["platform"], ref_protected: ["true"] }, groups: [], ttlMs: 12 * 3_600_000 });
    expect(parseTokenExchangeConfig(withEntry({ issuer: "http://127.0.0.1:5556" }), "f")[0]!.issuer).toBe("http://127.0.0.1:5556");
  });

  const mistakes: Array<[string, string, string]> = [
    ["not YAML", "issuers: [", "f: is not valid YAML"],
    ["no issuers", "issuers: []\n", 'f: must hold "issuers:", a non-empty list'],
    ["an unknown top-level field", `${GOOD}extra: 1\n`, 'f: unknown top-level field "extra"'],
    ["an unknown entry field (a typo would drop a constraint)", withEntry({ claim: "{ a: b }" }), 'f: issuers[0] (https://ci.example.com): unknown field "claim"'],
    ["no claims", withEntry({ claims: null }), "f: issuers[0] (https://ci.example.com): claims: is required: every token from a shared CI issuer would be accepted"],
    ["empty claims", withEntry({ claims: "{}" }), "claims: must map at least one claim"],
    ["a bound claim with no value", withEntry({ claims: "{ repository_owner: [] }" }), "claims.repository_owner: lists no allowed value"],
    ["a bound claim that is an object", withEntry({ claims: "{ repository_owner: { a: b } }" }), "claims.repository_owner: must be a non-empty string"],
    ["binding a claim kubegate checks", withEntry({ claims: "{ aud: kubegate }" }), "claims.aud: kubegate checks aud itself"],
    ["http to a remote issuer", withEntry({ issuer: "http://ci.example.com" }), "issuer: must be an https:// URL (http:// only on a loopback address"],
    ["an issuer that is not a URL", withEntry({ issuer: "ci.example.com" }), 'issuer: "ci.example.com" is not a URL'],
    ["an issuer with a query", withEntry({ issuer: "https://ci.example.com/?x=1" }), "issuer: must not carry credentials, a query or a fragment"],
    ["no issuer", withEntry({ issuer: null }), "f: issuers[0]: issuer: is required"],
    ["no audience", withEntry({ audience: null }), "audience: is required"],
    ["no subject", withEntry({ subject: null }), "subject: must be a non-empty string"],
    ["an unclosed placeholder", withEntry({ subject: '"ci:{repository"' }), 'subject: "ci:{repository": "{" at 3 is not closed'],
    ["a stray brace", withEntry({ subject: '"ci:repo}"' }), '"}" at 7 closes no "{"'],
    ["a bad claim name", withEntry({ subject: '"ci:{1repo}"' }), "{1repo} is not a claim name"],
    ["a name made only of a claim", withEntry({ subject: '"{repository}"' }), "subject: \"{repository}\" must start with literal text"],
    ["a group that is not a template", withEntry({ groups: "[ci, 3]" }), "groups[1]: must be a non-empty string"],
    ["groups that are not a list", withEntry({ groups: "ci" }), "groups: must be a list of templates"],
    ["a ttl over 12h", withEntry({ ttl: "13h" }), "ttl: must be at least 1s and at most 12h (got 13h)"],
    ["a ttl that is not a duration", withEntry({ ttl: "soon" }), 'ttl: "soon" is not a duration'],
    ["a duplicate issuer", `${GOOD}  - issuer: https://token.actions.githubusercontent.com/\n    audience: x\n    subject: "ci:x"\n    claims: { a: b }\n`, "f: issuers[2] (https://token.actions.githubusercontent.com/): the same issuer as issuers[0]"],
  ];
  it.each(mistakes)("refuses %s", (_what, text, message) => {
    expect(() => parseTokenExchangeConfig(text, "f")).toThrow(message);
  });
});

describe("at startup", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-exchange-config-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("a mistake is a ConfigError naming the flag and the file; a missing file too; the env var works", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, withEntry({ claims: null }));
    const resolve = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) => () => resolveServeConfig({ "data-dir": dir, ...flags }, env);
    expect(resolve({ "token-exchange-config": file })).toThrow(ConfigError);
    expect(resolve({ "token-exchange-config": file })).toThrow(`--token-exchange-config (KUBEGATE_TOKEN_EXCHANGE_CONFIG): ${file}: issuers[0] (https://ci.example.com): claims: is required`);
    expect(resolve({ "token-exchange-config": join(dir, "nope.yaml") })).toThrow(`--token-exchange-config (KUBEGATE_TOKEN_EXCHANGE_CONFIG): cannot read ${join(dir, "nope.yaml")}`);
    await writeFile(join(dir, "good.yaml"), GOOD);
    expect(resolve({}, { KUBEGATE_TOKEN_EXCHANGE_CONFIG: join(dir, "good.yaml") })().tokenExchangeIssuers).toHaveLength(2);
    expect(resolve({})().tokenExchangeIssuers).toEqual([]);
  });
});

describe("claim templates", () => {
  const cases: Array<[string, Record<string, unknown>, { value: string } | { missing: string }]> = [
    ["ci:{repository}", { repository: "o/r" }, { value: "ci:o/r" }],
    ["ci:{a}:{b}-x", { a: "1", b: 2 }, { value: "ci:1:2-x" }],
    ["ci:{flag}", { flag: true }, { value: "ci:true" }],
    ["ci:{a}", {}, { missing: "a" }],
    ["ci:{a}", { a: "" }, { missing: "a" }],
    ["ci:{a}", { a: ["x"] }, { missing: "a" }],
    ["ci:{a}", { a: { b: 1 } }, { missing: "a" }],
    ["literal", { a: "x" }, { value: "literal" }],
  ];
  it.each(cases)("%s with %j", (text, claims, want) => {
    expect(renderClaimTemplate(parseClaimTemplate(text), claims)).toEqual(want);
  });
});

describe("exchange policy", () => {
  const issuer: ExchangeIssuer = parseTokenExchangeConfig(
    `issuers:
  - issuer: https://ci.example.com
    audience: kubegate
    subject: "ci:{repository}"
    groups: ["kubegate:{environment}", "ci:{repository_owner}", "kubegate:admins", "ci:{repository_owner}"]
    claims: { repository_owner: [my-org, other-org] }
`,
    "f",
  )[0]!;
  const reserved = { adminGroup: "kubegate:admins", dataPlaneGroup: "kubegate:data-planes" };

  it("checks bound claims: present and one of the allowed values, numbers by their spelling", () => {
    expect(() => checkBoundClaims(issuer, { repository_owner: "other-org" })).not.toThrow();
    expect(() => checkBoundClaims(issuer, {})).toThrow('the subject token has no claim "repository_owner"');
    expect(() => checkBoundClaims(issuer, { repository_owner: "evil" })).toThrow(`the subject token's claim "repository_owner" is not one this kubegate accepts from https://ci.example.com`);
    expect(() => checkBoundClaims(issuer, { repository_owner: ["my-org"] })).toThrow("has no claim");
  });

  it("maps subject and groups; a literal group may name kubegate's own, a claim value may not", () => {
    expect(mapIdentity(issuer, { repository: "o/r", repository_owner: "my-org" }, reserved)).toEqual({ subject: "ci:o/r", groups: ["ci:my-org", "kubegate:admins"] });
    expect(mapIdentity(issuer, { repository: "o/r", repository_owner: "my-org", environment: "prod" }, reserved).groups).toEqual(["kubegate:prod", "ci:my-org", "kubegate:admins"]);
    expect(() => mapIdentity(issuer, { repository: "o/r", environment: "admins" }, reserved)).toThrow('the subject token\'s claims map to "kubegate:admins", a group exchanged credentials may not hold');
    expect(() => mapIdentity(issuer, { repository: "o/r", environment: "data-planes" }, reserved)).toThrow("may not hold");
    expect(() => mapIdentity(issuer, { repository: "o/\nr" }, reserved)).toThrow("the subject token's claims map to an unusable subject: must not contain control characters");
    expect(() => mapIdentity(issuer, { repository: "x".repeat(300) }, reserved)).toThrow("unusable subject: must be at most 256 characters");
    expect(() => mapIdentity(issuer, { repository_owner: "my-org" }, reserved)).toThrow('the subject token has no claim "repository", which names the caller (ci:{repository})');
  });
});
