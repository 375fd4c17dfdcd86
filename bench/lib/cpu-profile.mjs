/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) by where the busy time went:
 * kubegate's own JavaScript, its dependencies, Node's JavaScript internals (node:http2,
 * TLS, streams), native code and V8 (program), GC, and idle. Self time only, so the parts
 * add up; the top functions of each part name what to look at.
 *
 *   node bench/lib/cpu-profile.mjs <file.cpuprofile> [top]
 */
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

/** The part of the program a profile node's self time belongs to. */
function partOf(frame) {
  const { functionName: fn, url } = frame;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(program)" || fn === "(root)") return "native and V8";
  if (url === "") return "native and V8";
  if (url.startsWith("node:")) return "node internals";
  if (url.includes("/node_modules/")) return "dependencies";
  if (url.includes("/dist/") || url.includes("/src/")) return "kubegate";
  return "other";
}

/** Where inside node internals or dependencies: the module, for the per-part breakdown. */
function moduleOf(frame) {
  const { url } = frame;
  if (url.startsWith("node:")) return url;
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + 14).split("/").slice(0, url.slice(nm + 14).startsWith("@") ? 2 : 1).join("/");
  const dist = url.indexOf("/dist/");
  return dist >= 0 ? url.slice(dist + 6) : url;
}

/** { totalMs, busyMs, parts: [{ part, ms, pctBusy, top: [{ name, ms }] }], modules: [...] } */
export function summarize(profile, top = 8) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
  }
  const parts = new Map();
  const modules = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    const part = partOf(node.callFrame);
    total += us;
    const p = parts.get(part) ?? { us: 0, fns: new Map() };
    p.us += us;
    const line = node.callFrame.lineNumber >= 0 ? `:${node.callFrame.lineNumber + 1}` : "";
    const name = `${node.callFrame.functionName || "(anonymous)"} ${moduleOf(node.callFrame)}${line}`;
    p.fns.set(name, (p.fns.get(name) ?? 0) + us);
    parts.set(part, p);
    if (part === "node internals" || part === "dependencies" || part === "kubegate") {
      const m = `${part}: ${moduleOf(node.callFrame)}`;
      modules.set(m, (modules.get(m) ?? 0) + us);
    }
  }
  const idle = parts.get("idle")?.us ?? 0;
  const busy = total - idle;
  const pct = (us) => Math.round((us / busy) * 1000) / 10;
  return {
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    idlePct: Math.round((idle / total) * 1000) / 10,
    parts: [...parts]
      .filter(([part]) => part !== "idle")
      .sort((a, b) => b[1].us - a[1].us)
      .map(([part, p]) => ({
        part,
        ms: Math.round(p.us / 1000),
        pctBusy: pct(p.us),
        top: [...p.fns].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, pctBusy: pct(us) })),
      })),
    modules: [...modules].sort((a, b) => b[1] - a[1]).slice(0, top * 2).map(([name, us]) => ({ name, pctBusy: pct(us) })),
  };
}

export function formatSummary(s) {
  const lines = [`total ${s.totalMs} ms, busy ${s.busyMs} ms (idle ${s.idlePct} %)`, ""];
  for (const p of s.parts) {
    lines.push(`${p.pctBusy.toFixed(1).padStart(5)} %  ${p.part}`);
    for (const f of p.top) lines.push(`         ${f.pctBusy.toFixed(1).padStart(5)} %  ${f.name}`);
  }
  lines.push("", "by module:");
  for (const m of s.modules) lines.push(`${m.pctBusy.toFixed(1).padStart(5)} %  ${m.name}`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error("usage: node bench/lib/cpu-profile.mjs <file.cpuprofile> [top]");
    process.exit(2);
  }
  console.log(formatSummary(summarize(JSON.parse(await readFile(file, "utf8")), Number(top ?? 8))));
}
