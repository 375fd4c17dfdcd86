/**
 * Where kubegate is installed or checked out: the nearest directory above this file that
 * holds bin/kubegate.js and package.json. The CLI writes its entry script from here into
 * kubeconfigs; the control plane finds the built web console here.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

export function packageRoot(from = import.meta.dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "bin", "kubegate.js")) && existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find kubegate's bin/kubegate.js above ${from}`);
    dir = up;
  }
}
