/**
 * Pure edits of a kubeconfig's text that touch only kubegate's own entries (names starting
 * with `kubegate-`). Edits are splices at the source ranges the `yaml` parser reports, so
 * every byte outside kubegate's entries — other people's entries, comments, quoting, key
 * order, unknown fields — stays exactly as it was. Only files in shapes a splice cannot
 * handle (flow-style lists, an indented top level) are first rewritten once in kubectl's
 * own style.
 */
import { isMap, isScalar, isSeq, parseDocument, stringify, type Document, type Pair, type ParsedNode, type YAMLMap, type YAMLSeq } from "yaml";
import { ENTRY_PREFIX, type NamedEntries } from "./kubeconfig.ts";

/** A kubeconfig that cannot be read as one; the message names the file and what is wrong. */
export class KubeconfigFileError extends Error {
  override name = "KubeconfigFileError";
}

/** How kubectl writes YAML: block sequences not indented under their key, no folding. */
export const KUBECTL_STYLE = { indentSeq: false, lineWidth: 0, flowCollectionPadding: false } as const;

/** What an empty or missing file becomes, in kubectl's key order. */
const EMPTY_KUBECONFIG = 'apiVersion: v1\nclusters: []\ncontexts: []\ncurrent-context: ""\nkind: Config\npreferences: {}\nusers: []\n';

const LISTS = ["clusters", "contexts", "users"] as const;
type ListKey = (typeof LISTS)[number];
const ENTRY_OF: Record<ListKey, keyof NamedEntries> = { clusters: "cluster", contexts: "context", users: "user" };

type Doc = Document.Parsed<ParsedNode, true>;
interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Parses and checks the text is a kubeconfig; `source` names the file in errors. */
export function parseKubeconfig(text: string, source = "the kubeconfig"): Doc {
  const doc = parseDocument(text);
  const problem = doc.errors[0];
  if (problem !== undefined) throw new KubeconfigFileError(`${source} is not valid YAML: ${problem.message.split("\n")[0]}`);
  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return doc;
  const notKubeconfig = (why: string) => new KubeconfigFileError(`${source} is not a kubeconfig: ${why}`);
  if (!isMap(top)) throw notKubeconfig(`it holds ${isSeq(top) ? "a list" : "a single value"}, not a mapping of clusters, users and contexts`);
  const kind = top.get("kind", true) as ParsedNode | undefined;
  if (kind !== undefined && !(isScalar(kind) && (kind.value === null || kind.value === "Config")))
    throw notKubeconfig(`its kind is ${isScalar(kind) ? JSON.stringify(kind.value) : "not a name"}, not "Config"`);
  for (const key of LISTS) {
    const value = top.get(key, true);
    if (value === undefined || (isScalar(value) && value.value === null)) continue;
    if (!isSeq(value)) throw notKubeconfig(`${key} must be a list`);
    for (const item of value.items) {
      if (!isMap(item) || typeof item.get("name") !== "string") throw notKubeconfig(`every entry in ${key} must be a mapping with a name`);
    }
  }
  const current = top.get("current-context", true);
  if (current !== undefined && !(isScalar(current) && (current.value === null || typeof current.value === "string")))
    throw notKubeconfig("current-context must be a name");
  return doc;
}

/** Adds or replaces kubegate's entries: same-named ones are replaced in place, new ones appended. */
export function upsertEntries(text: string, entries: NamedEntries[], source?: string): string {
  for (const e of entries)
    for (const key of LISTS)
      if (!e[ENTRY_OF[key]].name.startsWith(ENTRY_PREFIX)) throw new Error(`refusing to write ${JSON.stringify(e[ENTRY_OF[key]].name)}: not a kubegate entry`);
  return splice(text, source, (doc, src) => {
    const top = doc.contents as YAMLMap<ParsedNode, ParsedNode>;
    const edits: Splice[] = [];
    let appended = "";
    for (const key of LISTS) {
      const wanted = new Map(entries.map((e) => [e[ENTRY_OF[key]].name, e[ENTRY_OF[key]]] as const));
      const pair = findPair(top, key);
      const seq = pair?.value;
      if (pair === undefined) {
        appended += `${key}:\n${[...wanted.values()].map((v) => renderItem(v, 0)).join("")}`;
      } else if (!isSeq(seq) || seq.items.length === 0) {
        // `clusters: null`, `clusters:` or `clusters: []`: the value becomes a block list.
        const items = [...wanted.values()].map((v) => renderItem(v, 0)).join("");
        edits.push({ start: keyEnd(pair), end: valueEnd(src, pair), text: `:\n${items.slice(0, -1)}` });
      } else {
        const regions = seq.items.map((item) => itemRegion(src, item as ParsedNode));
        const replaced = new Set<string>();
        seq.items.forEach((item, i) => {
          const name = (item as YAMLMap).get("name") as string;
          const entry = wanted.get(name);
          if (entry === undefined) return;
          const r = regions[i]!;
          // Replaced in place; a second entry of the same name is dropped.
          edits.push({ start: r.start, end: r.end, text: replaced.has(name) ? "" : renderItem(entry, r.col) });
          replaced.add(name);
        });
        const added = [...wanted].filter(([name]) => !replaced.has(name)).map(([, v]) => renderItem(v, regions[0]!.col));
        if (added.length > 0) {
          const end = regions.at(-1)!.end;
          edits.push({ start: end, end, text: (src.slice(0, end).endsWith("\n") ? "" : "\n") + added.join("") });
        }
      }
    }
    if (appended !== "") edits.push(appendAtEnd(src, top, appended));
    return edits;
  });
}

/**
 * Removes kubegate's entries for the named clusters (or all of them), and clears
 * current-context when it named a removed context. Returns the clusters whose entries
 * were found.
 */
export function removeEntries(text: string, clusters: string[] | "all", source?: string): { text: string; removed: string[] } {
  const names = clusters === "all" ? undefined : new Set(clusters.map((c) => ENTRY_PREFIX + c));
  const ours = (name: string) => name.startsWith(ENTRY_PREFIX) && (names === undefined || names.has(name));
  const removed = new Set<string>();
  const result = splice(text, source, (doc, src) => {
    const top = doc.contents as YAMLMap<ParsedNode, ParsedNode>;
    const edits: Splice[] = [];
    for (const key of LISTS) {
      const pair = findPair(top, key);
      const seq = pair?.value;
      if (pair === undefined || !isSeq(seq)) continue;
      const doomed = seq.items.map((item) => ours((item as YAMLMap).get("name") as string));
      doomed.forEach((d, i) => d && removed.add(((seq.items[i] as YAMLMap).get("name") as string).slice(ENTRY_PREFIX.length)));
      if (!doomed.includes(true)) continue;
      const regions = seq.items.map((item) => itemRegion(src, item as ParsedNode));
      if (doomed.every(Boolean)) {
        const end = regions.at(-1)!.end;
        edits.push({ start: keyEnd(pair), end, text: src.slice(0, end).endsWith("\n") ? ": []\n" : ": []" });
      } else {
        regions.forEach((r, i) => doomed[i] && edits.push({ start: r.start, end: r.end, text: "" }));
      }
    }
    const current = findPair(top, "current-context");
    const currentName = current === undefined ? undefined : (current.value as { value?: unknown } | null)?.value;
    if (current !== undefined && typeof currentName === "string" && ours(currentName)) edits.push(scalarEdit(src, current, '""'));
    return edits;
  }, false);
  return { text: result, removed: [...removed].sort() };
}

/** Sets current-context ("" clears it). */
export function setCurrentContext(text: string, context: string, source?: string): string {
  return splice(text, source, (doc, src) => {
    const top = doc.contents as YAMLMap<ParsedNode, ParsedNode>;
    const value = context === "" ? '""' : stringify(context, { lineWidth: 0 }).trimEnd();
    const pair = findPair(top, "current-context");
    return [pair === undefined ? appendAtEnd(src, top, `current-context: ${value}\n`) : scalarEdit(src, pair, value)];
  });
}

/** One kubegate context as `kubegate kubeconfig list` shows it. */
export interface ListedEntry {
  context: string;
  cluster: string;
  server: string;
  namespace: string;
  auth: "exec" | "token" | "none";
  current: boolean;
}

/** kubegate's contexts in file order, with their cluster's server and their user's kind of credential. */
export function listEntries(text: string, source?: string): ListedEntry[] {
  const config = (parseKubeconfig(text, source).toJS() ?? {}) as Record<string, unknown>;
  const byName = (key: ListKey) => new Map(((config[key] ?? []) as Record<string, unknown>[]).map((e) => [e["name"] as string, e] as const));
  const clusters = byName("clusters");
  const users = byName("users");
  return [...byName("contexts").values()]
    .filter((c) => (c["name"] as string).startsWith(ENTRY_PREFIX))
    .map((c) => {
      const ctx = (c["context"] ?? {}) as Record<string, unknown>;
      const cluster = (clusters.get(String(ctx["cluster"]))?.["cluster"] ?? {}) as Record<string, unknown>;
      const user = (users.get(String(ctx["user"]))?.["user"] ?? {}) as Record<string, unknown>;
      return {
        context: c["name"] as string,
        cluster: (c["name"] as string).slice(ENTRY_PREFIX.length),
        server: typeof cluster["server"] === "string" ? cluster["server"] : "",
        namespace: typeof ctx["namespace"] === "string" ? ctx["namespace"] : "",
        auth: user["exec"] ? "exec" : user["token"] ? "token" : "none",
        current: config["current-context"] === c["name"],
      };
    });
}

/** The namespace a kubegate context has now, so re-adding without --namespace keeps it. */
export function contextNamespace(text: string, context: string, source?: string): string | undefined {
  const ns = listEntries(text, source).find((e) => e.context === context)?.namespace;
  return ns === "" ? undefined : ns;
}

// — splicing —

/** Parses (an empty file becomes an empty kubeconfig), normalizes odd shapes, applies the edits. */
function splice(text: string, source: string | undefined, plan: (doc: Doc, src: string) => Splice[], createIfEmpty = true): string {
  let doc = parseKubeconfig(text, source);
  let src = text;
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    if (!createIfEmpty) return text;
    // Keep whatever comments the empty file had, then start a kubeconfig.
    src = (text === "" || text.endsWith("\n") ? text : text + "\n") + EMPTY_KUBECONFIG;
    doc = parseKubeconfig(src, source);
  }
  if (!spliceable(doc, src)) {
    src = normalize(doc);
    doc = parseKubeconfig(src, source);
  }
  const edits = plan(doc, src).sort((a, b) => b.start - a.start);
  if (edits.length === 0) return text;
  let out = src;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** Whether edits can be spliced: a block top level at column 0, block lists whose items start their lines. */
function spliceable(doc: Doc, src: string): boolean {
  const top = doc.contents;
  if (!isMap(top) || top.flow || column(src, top.range[0]) !== 0) return false;
  for (const key of LISTS) {
    const seq = findPair(top as YAMLMap<ParsedNode, ParsedNode>, key)?.value;
    if (!isSeq(seq) || seq.items.length === 0) continue;
    if (seq.flow) return false;
    for (const item of seq.items) if (itemRegion(src, item as ParsedNode).col < 0) return false;
  }
  return true;
}

/** Rewrites the document in kubectl's style with block-style top level and lists. */
function normalize(doc: Doc): string {
  const top = doc.contents as YAMLMap<ParsedNode, ParsedNode>;
  top.flow = false;
  for (const key of LISTS) {
    const seq = findPair(top, key)?.value;
    if (isSeq(seq) && seq.items.length > 0) (seq as YAMLSeq).flow = false;
  }
  return doc.toString(KUBECTL_STYLE);
}

function findPair(top: YAMLMap<ParsedNode, ParsedNode>, key: string): Pair<ParsedNode, ParsedNode | null> | undefined {
  return top.items.find((p) => isScalar(p.key) && p.key.value === key);
}

function keyEnd(pair: Pair<ParsedNode, ParsedNode | null>): number {
  return pair.key.range[1];
}

/** Replaces a top-level scalar's value, keeping the key and anything after the value. */
function scalarEdit(src: string, pair: Pair<ParsedNode, ParsedNode | null>, value: string): Splice {
  return { start: keyEnd(pair), end: valueEnd(src, pair), text: `: ${value}` };
}

/** Where a top-level value ends (just after the `:` when it is empty). */
function valueEnd(src: string, pair: Pair<ParsedNode, ParsedNode | null>): number {
  return pair.value === null ? src.indexOf(":", keyEnd(pair)) + 1 : pair.value.range[1];
}

/** New top-level keys go after the last one, before any trailing comment or `...`. */
function appendAtEnd(src: string, top: YAMLMap<ParsedNode, ParsedNode>, text: string): Splice {
  const at = top.range![2];
  return { start: at, end: at, text: (src.slice(0, at).endsWith("\n") || at === 0 ? "" : "\n") + text };
}

/** The lines of one list item, from its `-` to the end of its last line; col -1 when it does not start its line. */
function itemRegion(src: string, item: ParsedNode): { start: number; end: number; col: number } {
  const lineStart = src.lastIndexOf("\n", item.range[0] - 1) + 1;
  const prefix = src.slice(lineStart, item.range[0]);
  const col = /^ *- +$/.test(prefix) ? prefix.indexOf("-") : -1;
  return { start: lineStart, end: item.range[2], col };
}

function column(src: string, offset: number): number {
  return offset - (src.lastIndexOf("\n", offset - 1) + 1);
}

/** One list item as kubectl writes it (keys sorted), indented to the list's column. */
function renderItem(entry: object, col: number): string {
  return stringify([sortKeys(entry)], KUBECTL_STYLE).replace(/^(?=.)/gm, " ".repeat(col));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
