/**
 * How to run this kubegate again from anywhere: the absolute path of the Node that runs
 * it and of its entry script. Written into kubeconfig exec entries, so kubectl finds the
 * plugin from any shell, whatever PATH and whatever `node` that shell has.
 */
import { join } from "node:path";
import { packageRoot } from "../package-root.ts";

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
