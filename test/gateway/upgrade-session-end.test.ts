/**
 * An upgrade session ends on kubegate when its client is done, not seconds later: after
 * kubectl exec exits (WebSocket, kubectl 1.32's default), or a SPDY/3.1 client closes its
 * connection, the session's end is audited and its slot in the sessions registry is free
 * within a second, in direct mode and through an agent's tunnel. The exec's last output
 * and its exit code still reach kubectl.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KUBECTL, hasFile, requireProgram } from "../support/programs.ts";
import { rawUpgrade } from "../support/raw-client.ts";
import { kubectlAsAlice } from "../support/gateway.ts";

const enabled = requireProgram(hasFile(KUBECTL), "kubectl 1.32 (/usr/bin/kubectl)");
const EXEC_PATH = "/clusters/member/api/v1/namespaces/default/pods/fake-pod/exec";

describe.runIf(enabled).each(["direct", "agent"] as const)("an upgrade session's end (%s mode)", (mode) => {
  const s = kubectlAsAlice(mode);
  const { kubectl } = s;
  const upgrades = () => s.gw.kubegate.data!.sessions.count("upgrade");
  /** The session lines logged since `from` (an index into the logs). */
  const sessionLines = (from: number, event: "start" | "end") => s.gw.logs.slice(from).filter((l) => l["audit"] === `session.${event}` && l["resource"] === "pods/exec");

  /** Waits for the one exec session started since `from` to be over, and says how long that took after `since`. */
  async function sessionEndsAfter(from: number, since: number): Promise<number> {
    const [start, ...others] = sessionLines(from, "start");
    expect(others).toEqual([]);
    const ended = () => sessionLines(from, "end").some((l) => l["requestId"] === start?.["requestId"]);
    // Waits past the 5 s flush bound, so a late end fails on the time it took, not on a timeout.
    await s.gw.until(() => ended() && upgrades() === 0, 10_000);
    return Date.now() - since;
  }

  it("kubectl exec over WebSocket: the session ends as kubectl exits, after its output and exit code", async () => {
    const input = "last words\n".repeat(100);
    const from = s.gw.logs.length;
    const cat = await kubectl(["exec", "-i", "fake-pod", "--", "cat"], input);
    const exited = Date.now();
    expect(cat.stderr).toBe("");
    expect(cat.stdout).toBe(input);
    expect(sessionLines(from, "start")[0]).toMatchObject({ user: "alice", protocol: "websocket" });
    expect(await sessionEndsAfter(from, exited)).toBeLessThan(1000);

    const from3 = s.gw.logs.length;
    const exit3 = await kubectl(["exec", "fake-pod", "--", "sh", "-c", "echo bye; exit 3"]);
    const exited3 = Date.now();
    expect(exit3.stdout).toBe("bye\n");
    expect(exit3.code).toBe(3);
    expect(await sessionEndsAfter(from3, exited3)).toBeLessThan(1000);
  });

  it("a SPDY/3.1 client that sends its last bytes and closes: the session ends at once", async () => {
    const from = s.gw.logs.length;
    const up = await rawUpgrade(s.gw.dataUrl, s.gw.caPem, {
      path: `${EXEC_PATH}?command=cat&stdin=true&stdout=true`,
      headers: [
        ["Authorization", `Bearer ${await s.alice.token()}`],
        ["Connection", "Upgrade"],
        ["Upgrade", "SPDY/3.1"],
        ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
      ],
    });
    try {
      expect(up.status).toBe(101);
      const sent = randomBytes(4096);
      up.socket.write(sent);
      expect((await up.read(sent.length)).equals(sent)).toBe(true);
      // As kubectl does when its streams are done: a last frame, then it closes its side. The
      // member (an echo) still answers it, too late for the client, and ends.
      up.socket.end(randomBytes(64));
      await up.closed;
      expect(await sessionEndsAfter(from, Date.now())).toBeLessThan(1000);
    } finally {
      up.destroy();
    }
  });
});
