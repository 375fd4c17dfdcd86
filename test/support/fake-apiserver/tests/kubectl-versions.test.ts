/**
 * Older and newer kubectl releases against the fake: they ask for different
 * discovery formats (aggregated v2beta1 vs v2) and use different apply paths,
 * and a gateway will meet all of them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeApiserver, startFakeApiserver } from "../index.ts";
import { VERSIONED_KUBECTL_DIR, clientEnv, hasFile, requireProgram, run } from "../../programs.ts";

const VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.33"];
const present = VERSIONS.filter((v) => hasFile(join(VERSIONED_KUBECTL_DIR, `kubectl.${v}`)));
for (const v of VERSIONS.filter((x) => !present.includes(x))) requireProgram(false, `kubectl ${v} at ${VERSIONED_KUBECTL_DIR}/kubectl.${v}`);

describe.skipIf(present.length === 0)("versioned kubectl against the fake apiserver", () => {
  let fake: FakeApiserver;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubectl-versions-"));
    fake = await startFakeApiserver();
    kubeconfig = await fake.kubeconfig();
  });
  afterAll(async () => {
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.concurrent.each(present)("kubectl %s: api-resources, apply, get, delete", async (version) => {
    const bin = join(VERSIONED_KUBECTL_DIR, `kubectl.${version}`);
    const home = join(dir, version);
    const env = clientEnv(kubeconfig, home);
    const name = `cm-${version.replace(".", "-")}`;
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  version: "${version}"\n`);

    let r = await run(bin, ["api-resources"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^configmaps\s+cm\s+v1\s+true\s+ConfigMap$/m);
    expect(r.stdout).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);

    r = await run(bin, ["apply", "-f", file], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`configmap/${name} created`);
    r = await run(bin, ["get", "cm", name], env);
    expect(r.stdout).toMatch(new RegExp(`^NAME\\s+DATA\\s+AGE\\n${name}\\s+1\\s`));
    r = await run(bin, ["delete", "cm", name], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`configmap "${name}" deleted`);
    expect(fake.getObject("v1", "ConfigMap", "default", name)).toBeUndefined();
  });
});
