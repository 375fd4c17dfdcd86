/**
 * gen/ is generated from proto/ and committed; this fails when someone edits a .proto
 * and forgets `npm run gen`, and when proto/ breaks `buf lint`.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, run } from "../support/interop-tools.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "node_modules/.bin");
const STALE = "gen/ is stale: run npm run gen and commit";

/** Every file under dir, as sorted paths relative to it. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** What differs between two trees, one line per file; empty when they are byte-identical. */
async function diffTrees(expected: string, actual: string): Promise<string[]> {
  const [want, have] = await Promise.all([files(expected), files(actual)]);
  const diffs = [
    ...want.filter((f) => !have.includes(f)).map((f) => `missing: ${f}`),
    ...have.filter((f) => !want.includes(f)).map((f) => `not generated from proto/: ${f}`),
  ];
  for (const f of want.filter((f) => have.includes(f))) {
    const [a, b] = await Promise.all([readFile(join(expected, f)), readFile(join(actual, f))]);
    if (!a.equals(b)) diffs.push(`differs: ${f}`);
  }
  return diffs;
}

describe("generated code", () => {
  let dir: string;
  // The local protoc-gen-es (buf.gen.yaml names it `local:`) and the pinned Node 24 it runs on,
  // as `npm run gen` would find them.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${delimiter}${process.env["PATH"] ?? ""}` };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubegate-gen-fresh-"));
    env["BUF_CACHE_DIR"] = join(dir, "buf-cache");
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("gen/ matches what buf generate makes from proto/, byte for byte", async () => {
    const out = join(dir, "out");
    const r = await run(join(bin, "buf"), ["generate", "--template", "buf.gen.yaml", "--output", out], { cwd: root, env });
    expect(r.code, describeRun("buf generate", r)).toBe(0);
    // buf.gen.yaml says `out: gen`; --output puts that under out/, so out/gen mirrors gen/.
    const fresh = join(out, "gen");
    expect((await files(fresh)).length, "buf generate produced no files").toBeGreaterThan(0);
    const diffs = await diffTrees(fresh, join(root, "gen"));
    expect(diffs, `${STALE}\n${diffs.join("\n")}`).toEqual([]);

    // The comparison itself must notice a change, a missing file and an extra one.
    const [first, second] = await files(fresh);
    await writeFile(join(fresh, first!), Buffer.concat([await readFile(join(fresh, first!)), Buffer.from(" ")]));
    await rm(join(fresh, second!));
    await writeFile(join(fresh, "kubegate/v1/extra_pb.ts"), "");
    expect(await diffTrees(join(root, "gen"), fresh)).toEqual([`missing: ${second}`, "not generated from proto/: kubegate/v1/extra_pb.ts", `differs: ${first}`]);
  });

  it("proto/ passes buf lint", async () => {
    const r = await run(join(bin, "buf"), ["lint"], { cwd: root, env });
    expect(r.code, describeRun("buf lint", r)).toBe(0);
    expect(r.stdout + r.stderr).toBe("");
  });
});
