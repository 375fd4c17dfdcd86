/**
 * Fault injection for tests: make matching requests slow, fail, redirect, drop
 * mid-stream, or refuse an upgrade. Each hook applies to the next `times`
 * matching requests (default 1), then expires.
 */
import type { StatusBody } from "./status.ts";

/** Which requests a hook applies to. */
export interface HookMatch {
  /** How many matching requests it applies to (default 1; Infinity for all). */
  times?: number;
  /** Exact path, a pattern over the path, or a predicate. */
  path?: string | RegExp | ((path: string) => boolean);
  method?: string;
}

/** What a hook does. */
export type HookAction =
  | { kind: "delay"; ms: number }
  | { kind: "fail"; code: number; status?: StatusBody }
  | { kind: "redirect"; code: number; location: string }
  | { kind: "drop"; afterBytes?: number; afterWrites?: number }
  | { kind: "rejectUpgrade"; code: number; status?: StatusBody };

/** A registered hook; `hits` counts the requests it applied to. */
export interface Hook {
  readonly action: HookAction;
  readonly hits: number;
  readonly remaining: number;
  cancel(): void;
}

/** The actions that apply to one request, already consumed. */
export interface MatchedActions {
  delayMs: number;
  fail?: Extract<HookAction, { kind: "fail" }>;
  redirect?: Extract<HookAction, { kind: "redirect" }>;
  drop?: Extract<HookAction, { kind: "drop" }>;
  rejectUpgrade?: Extract<HookAction, { kind: "rejectUpgrade" }>;
}

/** The hook registry on the handle. */
export interface Hooks {
  /** Delay the response (before any byte is sent) by `ms`. */
  delay(ms: number, match?: HookMatch): Hook;
  /** Answer with `code` and a Status body (default: a Status with reason InternalError / the code's reason). */
  fail(code: number, match?: HookMatch, status?: StatusBody): Hook;
  /** Answer 3xx with a Location header. */
  redirect(location: string, match?: HookMatch, code?: number): Hook;
  /** Let the response start, then destroy the connection after `afterBytes` body bytes or `afterWrites` writes (watch events). */
  drop(opts?: { afterBytes?: number; afterWrites?: number }, match?: HookMatch): Hook;
  /** Refuse an upgrade (exec, attach, port-forward, SPDY) with a non-101 status (default 403). */
  rejectUpgrade(code?: number, match?: HookMatch, status?: StatusBody): Hook;
  /** Remove every hook. */
  clear(): void;
  /** Consumes the hooks matching a request (used by the server). */
  take(method: string, path: string, isUpgrade: boolean): MatchedActions;
}

type Entry = { action: HookAction; match: HookMatch; hits: number; remaining: number };

function matches(m: HookMatch, method: string, path: string): boolean {
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false;
  if (m.path === undefined) return true;
  if (typeof m.path === "string") return m.path === path;
  if (m.path instanceof RegExp) return m.path.test(path);
  return m.path(path);
}

/** Creates an empty hook registry. */
export function createHooks(): Hooks {
  const entries: Entry[] = [];
  function add(action: HookAction, match: HookMatch = {}): Hook {
    const e: Entry = { action, match, hits: 0, remaining: match.times ?? 1 };
    entries.push(e);
    return {
      action,
      get hits() {
        return e.hits;
      },
      get remaining() {
        return e.remaining;
      },
      cancel() {
        e.remaining = 0;
      },
    };
  }
  return {
    delay: (ms, match) => add({ kind: "delay", ms }, match),
    fail: (code, match, status) => add(status ? { kind: "fail", code, status } : { kind: "fail", code }, match),
    redirect: (location, match, code = 302) => add({ kind: "redirect", code, location }, match),
    drop: (opts = {}, match) => add({ kind: "drop", ...(opts.afterBytes === undefined && opts.afterWrites === undefined ? { afterBytes: 0 } : opts) }, match),
    rejectUpgrade: (code = 403, match, status) => add(status ? { kind: "rejectUpgrade", code, status } : { kind: "rejectUpgrade", code }, match),
    clear() {
      entries.length = 0;
    },
    take(method, path, isUpgrade) {
      const out: MatchedActions = { delayMs: 0 };
      for (const e of entries) {
        if (e.remaining <= 0 || !matches(e.match, method, path)) continue;
        const a = e.action;
        if (a.kind === "rejectUpgrade" && !isUpgrade) continue;
        if (a.kind === "delay") out.delayMs += a.ms;
        else if (a.kind === "fail" && !out.fail) out.fail = a;
        else if (a.kind === "redirect" && !out.redirect) out.redirect = a;
        else if (a.kind === "drop" && !out.drop) out.drop = a;
        else if (a.kind === "rejectUpgrade" && !out.rejectUpgrade) out.rejectUpgrade = a;
        else continue;
        e.hits++;
        e.remaining--;
      }
      for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.remaining <= 0) entries.splice(i, 1);
      return out;
    },
  };
}
