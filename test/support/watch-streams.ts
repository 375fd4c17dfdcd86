/**
 * Watch streams under load, shared by the tests that flood a member past a watch whose
 * client stops reading: direct mode (test/gateway/member-h2.test.ts) and through an
 * agent's tunnel (test/agent/head-of-line.test.ts). Both prove the same thing about
 * different paths to the member, so they must flood, measure and catch up the same way;
 * what each path adds (tunnel counts, small reads timed, its log line) stays in its test.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type http2 from "node:http2";
import https from "node:https";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { expect } from "vitest";
import { http2Connect, rawRequest } from "./raw-client.ts";

export type WatchEvent = { type: string; object: { metadata: { name: string } } };

/** Reads a stream's body as newline-separated watch events, calling `onEvent` with each. */
export function readEvents(stream: http2.ClientHttp2Stream, onEvent: (e: WatchEvent) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line !== "") onEvent(JSON.parse(line) as WatchEvent);
    }
  });
}

/** Polls `check` (which may be async) every 20 ms; throws naming `what` once `timeoutMs` has passed. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * ESTABLISHED TCP connections to 127.0.0.1:port from this machine (client ends only): how
 * a test sees that every request to a member rode one connection, which no API reports.
 */
export function connectionsTo(port: number): number {
  let n = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === "01" && parseInt(f[2]!.split(":")[1]!, 16) === port) n++;
    }
  }
  return n;
}

/**
 * Live bytes in this process (the gateway's, and the agent's when it runs here): heap plus
 * Buffers, the least of a few samples after full collections, since freed Buffers are
 * swept concurrently. (`external` also counts the strings the test's clients decode from
 * 40 MB lists, so it is left out.)
 */
async function retained(gc: () => void): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const m = process.memoryUsage();
    least = Math.min(least, m.heapUsed + m.arrayBuffers);
  }
  return least;
}

/**
 * A fake member in its own process, so that what it queues for a stalled watch is not
 * counted as this process's (the gateway's) memory. `admin` calls it directly as its
 * admin, over a fresh connection each time (not counted as the gateway's connection).
 */
export interface MemberProcess {
  url: string;
  port: number;
  caPem: string;
  adminToken: string;
  gatewayToken: string;
  admin(method: string, path: string, body?: unknown): Promise<void>;
  close(): void;
}

export async function startMemberProcess(): Promise<MemberProcess> {
  const main = fileURLToPath(new URL("./fake-apiserver/main.ts", import.meta.url));
  const child = spawn(process.execPath, [main], { stdio: ["pipe", "pipe", "inherit"] });
  const close = () => {
    child.stdin?.end();
    child.kill();
  };
  let info: { url: string; port: number; caFile: string; adminToken: string; gatewayToken: string };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`fake apiserver exited with ${code}`)));
    });
    info = JSON.parse(line) as typeof info;
  } catch (err) {
    close();
    throw err;
  }
  const { url, port, adminToken, gatewayToken } = info;
  const caPem = readFileSync(info.caFile, "utf8");
  const admin = (method: string, path: string, body?: unknown) =>
    new Promise<void>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(`${url}${path}`, {
        method,
        ca: caPem,
        agent: false,
        headers: { authorization: `Bearer ${adminToken}`, connection: "close", ...(data ? { "content-type": "application/json" } : {}) },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode}`))));
      });
      req.end(data);
    });
  return { url, port, caPem, adminToken, gatewayToken, admin, close };
}

/** How many configmaps the flood creates: 100 KB each, so 40 MB of events for each watch. */
export const FLOOD_COUNT = 400;
const FLOOD_VALUE = "x".repeat(100_000);

/** What a flood measured, for the test to judge; `stalled` has still not been read. */
export interface Flood {
  /** The watch whose client read its headers and nothing more. */
  stalled: http2.ClientHttp2Stream;
  /** Full lists completed while the member flooded both watches. */
  lists: number;
  /** How long each small read took (empty unless `smallReads` was given). */
  smallMs: number[];
  /** From the flood's start until the fast watch saw every configmap. */
  watchMs: number;
  /** Items in one more full list after the flood (only the count is kept). */
  listed: number;
  /** From the flood's start until that list was in. */
  totalMs: number;
  /** How much this process's live memory grew from before the flood to after it. */
  grewMiB: number;
  /** Starts reading the stalled watch and waits until it has every configmap. */
  catchUp(): Promise<void>;
}

/**
 * The stalled-watch scenario: two HTTP/2 client sessions to the gateway, one with a watch
 * on `path` (the member's default-namespace configmaps as the gateway serves them) whose
 * body is never read, one with a watch read at full speed. Then the member gets
 * FLOOD_COUNT large configmaps while a client lists `path` in a loop (and reads
 * `smallReads` every 20 ms, timing each, when given), until the fast watch has seen them
 * all. `check` judges the result while the stalled watch is still unread; the streams and
 * sessions are closed after it, whatever happens.
 */
export async function floodPastStalledWatch(
  opts: { dataUrl: string; caPem: string; path: string; auth: Record<string, string>; member: MemberProcess; smallReads?: string },
  check: (flood: Flood) => Promise<void>,
): Promise<void> {
  const { dataUrl, caPem, path, auth, member, smallReads } = opts;
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const slowSession = await http2Connect(dataUrl, caPem);
  const fastSession = await http2Connect(dataUrl, caPem);
  const watches: http2.ClientHttp2Stream[] = [];
  try {
    // The stalled watch: headers read, body never.
    const stalled = slowSession.request({ ":path": `${path}?watch=1`, ...auth });
    watches.push(stalled);
    await new Promise((r) => stalled.once("response", r));
    const fastNames = new Set<string>();
    const fast = fastSession.request({ ":path": `${path}?watch=1`, ...auth });
    watches.push(fast);
    readEvents(fast, (e) => e.type === "ADDED" && fastNames.add(e.object.metadata.name));
    await new Promise((r) => fast.once("response", r));
    const before = await retained(gc);

    // Lists at full speed (and small reads, when asked) while the member floods both watches.
    let busy = true;
    let lists = 0;
    const smallMs: number[] = [];
    const lister = (async () => {
      while (busy) {
        const res = await rawRequest("HTTP/2", dataUrl, caPem, { path, headers: auth, timeoutMs: 20_000 });
        expect(res.status).toBe(200);
        lists++;
      }
    })();
    const reader = (async () => {
      while (busy && smallReads !== undefined) {
        const t0 = performance.now();
        const res = await rawRequest("HTTP/2", dataUrl, caPem, { path: smallReads, headers: auth, timeoutMs: 10_000 });
        smallMs.push(performance.now() - t0);
        expect(res.status).toBe(200);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const started = performance.now();
    for (let i = 0; i < FLOOD_COUNT; i += 10)
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          member.admin("POST", "/api/v1/namespaces/default/configmaps", {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: `flood-${i + j}` },
            data: { v: FLOOD_VALUE },
          }),
        ),
      );
    await until(() => fastNames.size === FLOOD_COUNT, `the fast watch to see ${FLOOD_COUNT} configmaps (saw ${fastNames.size})`, 30_000);
    const watchMs = performance.now() - started;
    busy = false;
    await Promise.all([lister, reader]);
    // (Only the count is kept: the 40 MB list itself must not be counted as gateway memory.)
    const listed = await rawRequest("HTTP/2", dataUrl, caPem, { path, headers: auth, timeoutMs: 20_000 }).then((r) => (r.json?.["items"] as unknown[]).length);
    const totalMs = performance.now() - started;
    const grewMiB = ((await retained(gc)) - before) / 2 ** 20;

    const catchUp = async () => {
      const stalledNames = new Set<string>();
      readEvents(stalled, (e) => e.type === "ADDED" && stalledNames.add(e.object.metadata.name));
      await until(() => stalledNames.size === FLOOD_COUNT, `the stalled watch to catch up (saw ${stalledNames.size})`, 30_000);
    };
    await check({ stalled, lists, smallMs, watchMs, listed, totalMs, grewMiB, catchUp });
  } finally {
    for (const w of watches) {
      w.on("error", () => undefined);
      w.close();
    }
    slowSession.close();
    fastSession.close();
  }
}
