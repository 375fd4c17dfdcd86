/**
 * How to run this kubegate again from anywhere: the absolute path of the Node that runs
 * it and of its entry script. Written into kubeconfig exec entries, so kubectl finds the
 * plugin from any shell, whatever PATH and whatever `node` that shell has.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The package root: the nearest directory above this file holding bin/kubegate.js. */
export function packageRoot(from = import.meta.dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "bin", "kubegate.js")) && existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find kubegate's bin/kubegate.js above ${from}`);
    dir = up;
  }
}

export interface ExecCommand {
  command: string;
  /** Arguments before the kubegate subcommand (the entry script). */
  args: string[];
}

/** `--exec-command PATH` if given (a kubegate executable), else this Node plus bin/kubegate.js. */
export function selfCommand(execCommand?: string): ExecCommand {
  if (execCommand !== undefined && execCommand !== "") return { command: execCommand, args: [] };
  return { command: process.execPath, args: [join(packageRoot(), "bin", "kubegate.js")] };
}
