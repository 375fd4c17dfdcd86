/**
 * Through an agent's tunnel, a watch whose client stops reading holds a bounded buffer
 * while another client lists, reads and watches at full speed: every request rides one
 * HTTP/2 session over the agent's one outbound connection, and HTTP/2's per-stream flow
 * control, not a shared byte pipe, decides who waits. The flood is direct mode's (see
 * test/gateway/member-h2.test.ts); what this path adds is asserted here: one tunnel before
 * and after the catch-up, and small reads that stay prompt during the flood.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterRoleBinding } from "../support/fake-apiserver/index.ts";
import { renderKubeconfig } from "../support/fake-apiserver/kubeconfig.ts";
import { MEMBER, startTestGateway, type TestGateway } from "../support/gateway.ts";
import { connectionsTo, FLOOD_COUNT, floodPastStalledWatch, startMemberProcess, type MemberProcess } from "../support/watch-streams.ts";

describe("a watch whose client never reads, through the agent's tunnel", () => {
  // The member runs in its own process, so what it queues for the stalled watch is not
  // counted in this one, which holds the gateway and the in-process agent.
  let member: MemberProcess | undefined;
  let gw: TestGateway | undefined;

  beforeAll(async () => {
    member = await startMemberProcess();
    gw = await startTestGateway({ mode: "agent", startAgent: false });
    // The agent reaches the out-of-process member as the gateway identity, allowed to impersonate.
    const kubeconfig = join(gw.dir, "flood-member-kubeconfig.json");
    await writeFile(kubeconfig, renderKubeconfig(member.url, member.caPem, { token: member.gatewayToken }), { mode: 0o600 });
    await gw.restartAgent!({ apiserver: { kubeconfig } });
    await member.admin("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", clusterRoleBinding("kubegate-flo", "view", [{ kind: "User", name: "kubegate:flo" }]));
  });
  afterAll(async () => {
    await gw?.close();
    member?.close();
  });

  it("keeps small requests prompt and the gateway's memory bounded while the stalled watch has 40 MB pending, all on one tunnel", async () => {
    const user = await gw!.user("flo", { role: "view", bindRbac: false });
    const auth = { authorization: `Bearer ${await user.token()}` };
    const { dataUrl, caPem } = gw!;
    const path = `/clusters/${MEMBER}/api/v1/namespaces/default/configmaps`;
    // Unlike direct mode, one small object is also read over and over, timed, during the flood.
    const smallReads = `/clusters/${MEMBER}/api/v1/namespaces/default`;

    await floodPastStalledWatch({ dataUrl, caPem, path, auth, member: member!, smallReads }, async ({ stalled, lists, smallMs, watchMs, listed, totalMs, grewMiB, catchUp }) => {
      expect(listed).toBe(FLOOD_COUNT);
      // Every request rode the agent's one tunnel, and the agent's one connection to the member.
      expect(gw!.kubegate.data!.tunnels.count(MEMBER)).toBe(1);
      expect(connectionsTo(member!.port)).toBe(1);
      const slowest = Math.max(...smallMs);
      console.log(
        `through the tunnel: fast watch saw ${FLOOD_COUNT} × 100 KB events in ${Math.round(watchMs)} ms, ${lists} lists and ${smallMs.length} small reads meanwhile ` +
          `(slowest ${Math.round(slowest)} ms), final 40 MB list by ${Math.round(totalMs)} ms; gateway + agent grew ${grewMiB.toFixed(1)} MiB while the stalled watch had 40 MB pending`,
      );
      expect(smallMs.length).toBeGreaterThan(5);
      // Blocked behind the stalled watch, a read would wait for it (forever); this bound only allows for a busy machine.
      expect(slowest).toBeLessThan(5_000);
      expect(grewMiB).toBeLessThan(10);
      expect(stalled.readableLength).toBeLessThanOrEqual(64 * 1024);

      // Nothing was lost: once it reads, the stalled watch gets every event, still on the one tunnel.
      await catchUp();
      expect(gw!.kubegate.data!.tunnels.count(MEMBER)).toBe(1);
    });
  }, 120_000);
});
