# Lists pods in "default", then watches configmaps there until py-cm is MODIFIED.
# Usage: list-and-watch.py KUBECONFIG
import sys
from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
for pod in v1.list_namespaced_pod("default").items:
    print("POD", pod.metadata.name, pod.status.phase, flush=True)
w = watch.Watch()
for event in w.stream(v1.list_namespaced_config_map, "default", timeout_seconds=20):
    cm = event["object"]
    print("EVENT", event["type"], cm.metadata.name, (cm.data or {}).get("k", "-"), flush=True)
    if event["type"] == "MODIFIED" and cm.metadata.name == "py-cm":
        w.stop()
print("DONE", flush=True)
