/**
 * Builds dist/ once before the suite, so tests that run the real `kubegate` command
 * (bin/kubegate.js) exercise exactly what `npm start` runs, the web console included. A type
 * error fails the suite.
 * KUBEGATE_TEST_PREBUILT=1 skips the build when dist/ was just built by hand.
 */
import { execFileSync } from "node:child_process";

export default function setup(): void {
  if (process.env["KUBEGATE_TEST_PREBUILT"] === "1") return;
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "console/tsconfig.json"], { stdio: "inherit" });
  execFileSync(process.execPath, ["scripts/build-console.mjs"], { stdio: "inherit" });
}
