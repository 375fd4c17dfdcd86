/**
 * Builds dist/ once before the suite, so tests that run the real `kubegate` command
 * (bin/kubegate.js) exercise exactly what `npm start` runs.
 */
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
