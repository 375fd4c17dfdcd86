// The folders of src/ are floors: a file may import only from the floors its folder is
// allowed to reach, and no chain of imports comes back to where it started. Read from the
// source text, so a new import that breaks the layout fails here, not in review.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "..", "src");

/** Folders of src/ that each folder must never import (directly, types included). */
const FORBIDDEN: Record<string, string[]> = {
  // The forwarding floor: Status, upstream pools, hop-by-hop headers, the upgrade relay.
  forward: ["data", "tunnel", "sync", "member", "local-proxy", "control", "serve", "cli"],
  // The agent runs in a member cluster: it must not pull in the gateway's request path.
  tunnel: ["data", "member", "local-proxy", "control", "serve", "cli"],
  data: ["tunnel", "member", "local-proxy", "control", "serve", "cli"],
  member: ["data", "tunnel", "local-proxy", "control", "serve", "cli"],
  sync: ["data", "tunnel", "member", "local-proxy", "control", "serve", "cli"],
  "local-proxy": ["tunnel", "member", "sync", "control", "serve"],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports and re-exports of one file, resolved to absolute paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/gm)) out.push(resolve(dirname(file), m[1]!));
  for (const m of text.matchAll(/^\s*import\s*["'](\.{1,2}\/[^"']+)["']/gm)) out.push(resolve(dirname(file), m[1]!));
  for (const m of text.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

/** The top folder of src/ a path is in ("" for files at src/'s root or outside it). */
function floor(path: string): string {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return "";
  const parts = rel.split("/");
  return parts.length > 1 ? parts[0]! : "";
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f).filter((to) => to.startsWith(SRC + "/"))]));

/** Every import cycle, each as the chain of files (relative to src/) that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const to of graph.get(f) ?? []) {
      if (state.get(to) === "open") found.push([...stack.slice(stack.indexOf(to)), to].map((p) => relative(SRC, p)));
      else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) if (state.get(f) === undefined) visit(f);
  return found;
}

describe("source layout", () => {
  it("reads the imports it checks (the parser is not blind)", () => {
    const server = graph.get(join(SRC, "serve", "data-plane.ts")) ?? [];
    expect(server.map((p) => relative(SRC, p))).toEqual(expect.arrayContaining(["data/server.ts", "tunnel/endpoints.ts", "forward/upstream.ts"]));
    expect(files.length).toBeGreaterThan(50);
  });

  it("keeps each floor to the floors it may import", () => {
    const breaches: string[] = [];
    for (const [file, imports] of graph) {
      const from = floor(file);
      for (const to of imports)
        if (FORBIDDEN[from]?.includes(floor(to))) breaches.push(`${relative(SRC, file)} imports ${relative(SRC, to)}`);
    }
    expect(breaches).toEqual([]);
  });

  it("has no import cycles, type-only imports included", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("catches a cycle and a breach when shown one", () => {
    // The checks above pass on an empty graph too; prove they would see a bad one.
    const a = join(SRC, "forward", "a.ts");
    const b = join(SRC, "data", "b.ts");
    const c = join(SRC, "data", "c.ts");
    const bad = new Map([
      [a, [b]],
      [b, [c]],
      [c, [a]],
    ]);
    expect(cycles(bad)).toEqual([["forward/a.ts", "data/b.ts", "data/c.ts", "forward/a.ts"]]);
    expect(FORBIDDEN[floor(a)]).toContain(floor(b));
  });
});
