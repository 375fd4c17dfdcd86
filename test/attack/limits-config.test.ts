// The limits' defaults are the documented ones wherever kubegate is started from, and a
// bad value is refused naming its flag.
import { describe, expect, it } from "vitest";
import { ConfigError, resolveServeConfig } from "../../src/config/serve-config.ts";
import { DEFAULT_EDGE_LIMITS } from "../../src/data/edge.ts";

describe("data port limits", () => {
  it("default to DEFAULT_EDGE_LIMITS and the stream caps", () => {
    const c = resolveServeConfig({}, {});
    expect(c.edge).toEqual(DEFAULT_EDGE_LIMITS);
    expect([c.maxStreamsPerUser, c.maxStreamsPerCluster]).toEqual([1_000, 10_000]);
  });

  it("take flags and env vars", () => {
    const c = resolveServeConfig({ "data-max-concurrent-streams": "100", "data-idle-timeout": "30s" }, { KUBEGATE_MAX_STREAMS_PER_USER: "7" });
    expect(c.edge.maxConcurrentStreams).toBe(100);
    expect(c.edge.idleTimeoutMs).toBe(30_000);
    expect(c.maxStreamsPerUser).toBe(7);
  });

  it.each([
    ["data-max-concurrent-streams", "0"],
    ["data-max-resets-per-second", "1.5"],
    ["max-streams-per-cluster", "lots"],
    ["data-handshake-timeout", "soon"],
  ])("refuses --%s %s", (flag, value) => {
    expect(() => resolveServeConfig({ [flag]: value }, {})).toThrow(ConfigError);
    expect(() => resolveServeConfig({ [flag]: value }, {})).toThrow(`--${flag}`);
  });
});
