/**
 * The CLI called as the README says, from the checkout: `npx kubegate …` prints kubegate's
 * output and nothing of npm's (the machine's npm runs on its own, older Node and used to
 * warn EBADENGINE on every call), and the entry point started by an older Node runs itself
 * with the pinned Node 24, keeping its output and exit code.
 */
import { execFileSync } from "node:child_process";
import { existsSync, statSync, utimesSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KUBEGATE_BIN } from "../support/kubegate-process.ts";
import { requireProgram, run } from "../support/programs.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/** The machine's own PATH, without node_modules/.bin that npm test puts first. */
const SYSTEM_PATH = (process.env.PATH ?? "").split(delimiter).filter((d) => !d.includes("node_modules")).join(delimiter);
const which = (cmd: string) => {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { env: { PATH: SYSTEM_PATH }, encoding: "utf8" }).trim();
  } catch {
    return "";
  }
};
const NPX = which("npx");
const SYSTEM_NODE = which("node");
const systemNodeMajor = SYSTEM_NODE === "" ? 0 : Number(execFileSync(SYSTEM_NODE, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }));
const VERSION = /^kubegate \d+\.\d+\.\d+\S*\n$/;

let home: string;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "kubegate-launch-"));
});
afterAll(() => rm(home, { recursive: true, force: true }));

const env = () => ({ PATH: SYSTEM_PATH, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") });

describe.runIf(requireProgram(NPX !== "", "npx (the machine's npm)"))("npx kubegate in the checkout", () => {
  it("prints only kubegate's output, even when npm reads the whole tree", async () => {
    // npm checks every package's engines when it cannot trust its hidden lockfile (a
    // package folder newer than it): make that so, as after a fresh npm install.
    const hidden = join(ROOT, "node_modules", ".package-lock.json");
    const before = existsSync(hidden) ? statSync(hidden) : undefined;
    if (before) utimesSync(hidden, new Date(0), new Date(0));
    try {
      const version = await run(NPX, ["kubegate", "--version"], env(), undefined, 60_000, ROOT);
      expect(version.stderr).toBe("");
      expect(version.stdout).toMatch(VERSION);
      const whoami = await run(NPX, ["kubegate", "whoami"], env(), undefined, 60_000, ROOT);
      expect(whoami.code).toBe(1);
      expect(whoami.stdout).toBe("");
      expect(whoami.stderr).toBe("error: not logged in: run `kubegate login --server <control-plane URL>`\n");
    } finally {
      if (before) utimesSync(hidden, before.atime, before.mtime);
    }
  });
});

describe.runIf(requireProgram(SYSTEM_NODE !== "" && systemNodeMajor < 24, "a machine Node older than 24 (to start the entry point with)"))("bin/kubegate.js under an older Node", () => {
  it("runs with the pinned Node 24: same output, same exit code", async () => {
    const version = await run(SYSTEM_NODE, [KUBEGATE_BIN, "--version"], env());
    expect(version.stderr).toBe("");
    expect(version.stdout).toMatch(VERSION);
    const whoami = await run(SYSTEM_NODE, [KUBEGATE_BIN, "whoami"], env());
    expect(whoami.code).toBe(1);
    expect(whoami.stderr).toContain("not logged in");
  });
});
