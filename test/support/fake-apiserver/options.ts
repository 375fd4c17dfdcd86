/** Options of startFakeApiserver, with their defaults filled in one place. */
import type { TokenUser } from "./authn.ts";
import { DEFAULT_VERSION, type VersionInfo } from "./discovery.ts";
import type { KubeObject } from "./object.ts";

/** What a test can configure. */
export interface FakeApiserverOptions {
  /** Extra bearer tokens: token → user (and groups). */
  tokens?: Record<string, TokenUser>;
  /** Objects to create at start (any served kind; missing namespaces are created). */
  objects?: KubeObject[];
  /**
   * Seed a gateway identity allowed to impersonate users, groups, uids and extras
   * (ClusterRole kubegate-impersonator bound to it). `true` uses user
   * "kubegate-gateway" with a random token; the token is `handle.gatewayToken`.
   */
  gateway?: boolean | { user?: string; token?: string };
  /** Seed pod "fake-pod" (container "main") in namespace default. Default true. */
  seedPod?: boolean;
  /** What /version reports. */
  version?: VersionInfo;
  /** BOOKMARK interval for watches that allow bookmarks. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Interval between followed log lines. Default 150 ms. */
  logLineIntervalMs?: number;
  /**
   * Request-header authentication (the aggregation layer's front proxy), as kube-apiserver's
   * --requestheader-* flags configure it. `ca: "own"` (default) creates a front-proxy CA apart
   * from the client CA; `"client"` reuses the client CA (the pitfall docs/front-proxy.md warns
   * about). Header names default to X-Remote-User, X-Remote-Group and X-Remote-Extra-.
   */
  requestHeader?: {
    ca?: "own" | "client";
    allowedNames?: string[];
    usernameHeaders?: string[];
    groupHeaders?: string[];
    extraHeaderPrefixes?: string[];
  };
}

/** The resolved request-header settings (without the CA, which the server creates). */
export interface ResolvedRequestHeader {
  ca: "own" | "client";
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

/** Options with every default applied. */
export interface ResolvedOptions {
  tokens: Record<string, TokenUser>;
  objects: KubeObject[];
  gateway: { user: string; token: string } | undefined;
  seedPod: boolean;
  version: VersionInfo;
  bookmarkIntervalMs: number;
  logLineIntervalMs: number;
  requestHeader: ResolvedRequestHeader | undefined;
}

/** Applies defaults and checks values. */
export function resolveOptions(o: FakeApiserverOptions = {}, randomToken: () => string): ResolvedOptions {
  const positive = (name: string, v: number) => {
    if (!(v > 0)) throw new RangeError(`fake apiserver option ${name} must be > 0, got ${v}`);
    return v;
  };
  const gw = o.gateway === true ? {} : o.gateway || undefined;
  return {
    tokens: o.tokens ?? {},
    objects: o.objects ?? [],
    gateway: gw ? { user: gw.user ?? "kubegate-gateway", token: gw.token ?? randomToken() } : undefined,
    seedPod: o.seedPod ?? true,
    version: o.version ?? DEFAULT_VERSION,
    bookmarkIntervalMs: positive("bookmarkIntervalMs", o.bookmarkIntervalMs ?? 1000),
    logLineIntervalMs: positive("logLineIntervalMs", o.logLineIntervalMs ?? 150),
    requestHeader:
      o.requestHeader === undefined
        ? undefined
        : {
            ca: o.requestHeader.ca ?? "own",
            allowedNames: o.requestHeader.allowedNames ?? [],
            usernameHeaders: o.requestHeader.usernameHeaders ?? ["X-Remote-User"],
            groupHeaders: o.requestHeader.groupHeaders ?? ["X-Remote-Group"],
            extraHeaderPrefixes: o.requestHeader.extraHeaderPrefixes ?? ["X-Remote-Extra-"],
          },
  };
}
