/**
 * What the real control plane would have filled in by the time a client reads
 * an object: pods are scheduled and Running (so describe, logs and exec work),
 * deployments report ready replicas, services get a cluster IP.
 */
import { type KubeObject, meta, timestamp } from "./object.ts";
import type { ResourceType } from "./resources.ts";

/** The node every fake pod runs on. */
export const FAKE_NODE = "fake-node";

let ipCounter = 10;

function nextIp(prefix: string): string {
  ipCounter = (ipCounter % 250) + 1;
  return `${prefix}.${ipCounter}`;
}

type Container = { name: string; image: string; [k: string]: unknown };

function defaultPod(pod: KubeObject): void {
  const spec = (pod["spec"] ??= {}) as { containers?: Container[]; nodeName?: string; restartPolicy?: string; [k: string]: unknown };
  spec.nodeName ??= FAKE_NODE;
  spec.restartPolicy ??= "Always";
  const status = (pod["status"] ??= {}) as Record<string, unknown>;
  if (status["phase"]) return;
  const started = timestamp();
  status["phase"] = "Running";
  status["hostIP"] = "10.0.0.2";
  status["podIP"] = nextIp("10.244.0");
  status["startTime"] = started;
  status["qosClass"] = "BestEffort";
  status["conditions"] = ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: started }));
  status["containerStatuses"] = (spec.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image,
    imageID: `docker.io/library/${c.image}@sha256:${"0".repeat(64)}`,
    containerID: `containerd://${c.name.padEnd(64, "0").slice(0, 64)}`,
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: started } },
    lastState: {},
  }));
}

function defaultDeployment(d: KubeObject): void {
  const spec = (d["spec"] ??= {}) as { replicas?: number };
  spec.replicas ??= 1;
  const n = spec.replicas;
  d["status"] = { observedGeneration: meta(d).generation ?? 1, replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n };
}

function defaultService(s: KubeObject): void {
  const spec = (s["spec"] ??= {}) as { type?: string; clusterIP?: string; clusterIPs?: string[] };
  spec.type ??= "ClusterIP";
  if (!spec.clusterIP) {
    spec.clusterIP = nextIp("10.96.0");
    spec.clusterIPs = [spec.clusterIP];
  }
  s["status"] ??= { loadBalancer: {} };
}

/** Fills in server-side defaults for a newly created object (in place). */
export function applyCreateDefaults(t: ResourceType, obj: KubeObject): void {
  switch (t.resource) {
    case "pods":
      return defaultPod(obj);
    case "deployments":
      return defaultDeployment(obj);
    case "services":
      return defaultService(obj);
    case "namespaces": {
      const name = meta(obj).name ?? "";
      meta(obj).labels = { ...(meta(obj).labels ?? {}), "kubernetes.io/metadata.name": name };
      obj["spec"] ??= { finalizers: ["kubernetes"] };
      obj["status"] = { phase: "Active" };
      return;
    }
    case "secrets":
      obj["type"] ??= "Opaque";
      return;
  }
}

/** Keeps derived status consistent after an update (in place). */
export function applyUpdateDefaults(t: ResourceType, obj: KubeObject): void {
  if (t.resource === "deployments") defaultDeployment(obj);
  if (t.resource === "pods") defaultPod(obj);
}
