/**
 * The official Python client (Debian's python3-kubernetes) against the fake:
 * another HTTP stack (urllib3, HTTP/1.1) reading the same kubeconfig, listing
 * and watching with its own query conventions (`watch=True`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeApiserver, startFakeApiserver } from "../index.ts";
import { PYTHON, clientEnv, hasPythonKubernetes, requireProgram, stream } from "../../programs.ts";

const available = requireProgram(hasPythonKubernetes(), `python3-kubernetes (${PYTHON} -c 'import kubernetes')`);

const SCRIPT = join(import.meta.dirname, "..", "..", "python", "list-and-watch.py");

describe.skipIf(!available)("python3-kubernetes against the fake apiserver", () => {
  let fake: FakeApiserver;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "python-client-"));
    fake = await startFakeApiserver({ objects: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "before" } }] });
  });
  afterAll(async () => {
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists pods and sees a configmap change through a watch", async () => {
    const kubeconfig = await fake.kubeconfig();
    const p = stream(PYTHON, [SCRIPT, kubeconfig], clientEnv(kubeconfig, dir));
    try {
      await p.waitFor((l) => l.includes("EVENT ADDED py-cm before"), 15_000);
      expect(p.lines[0]).toBe("POD fake-pod Running");
      fake.seed({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "py-cm", namespace: "default" }, data: { k: "after" } });
      const lines = await p.waitFor((l) => l.includes("DONE"));
      expect(lines).toContain("EVENT MODIFIED py-cm after");
      const watchReq = fake.requests.find((r) => r.path === "/api/v1/namespaces/default/configmaps" && r.query["watch"]);
      expect(watchReq?.httpVersion).toBe("1.1");
      expect(watchReq?.user?.name).toBe("admin");
    } finally {
      await p.stop();
    }
  });
});
