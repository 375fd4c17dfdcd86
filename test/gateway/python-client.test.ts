/**
 * Debian's python3-kubernetes through the gateway, with a kubeconfig from MintKubeconfig:
 * another HTTP stack (urllib3, HTTP/1.1) listing and watching as the user.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON, clientEnv, hasPythonKubernetes, requireProgram, stream } from "../support/programs.ts";
import { startTestGateway, type TestGateway } from "../support/gateway.ts";

const available = requireProgram(hasPythonKubernetes(), `python3-kubernetes (${PYTHON} -c 'import kubernetes')`);

const SCRIPT = join(import.meta.dirname, "..", "support", "python", "list-and-watch.py");

describe.runIf(available)("python3-kubernetes through kubegate", () => {
  let gw: TestGateway;
  let dir: string;
  beforeAll(async () => {
    gw = await startTestGateway({ fake: { objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "before" } }] } });
    dir = await mkdtemp(join(tmpdir(), "kubegate-python-"));
  });
  afterAll(async () => {
    await gw.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists pods and watches configmaps", async () => {
    const user = await gw.user("pat", { role: "view" });
    const kubeconfig = await user.kubeconfig();
    const p = stream(PYTHON, [SCRIPT, kubeconfig], clientEnv(kubeconfig, dir));
    try {
      await p.waitFor((l) => l.includes("EVENT ADDED py-cm before"), 15_000);
      expect(p.lines[0]).toBe("POD fake-pod Running");
      gw.fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "after" } });
      expect(await p.waitFor((l) => l.includes("DONE"))).toContain("EVENT MODIFIED py-cm after");
      const watched = gw.fake.requests.find((r) => r.path === "/api/v1/namespaces/default/configmaps" && r.query["watch"]);
      expect(watched?.impersonatedUser?.name).toBe("kubegate:pat");
    } finally {
      await p.stop();
    }
  });
});
