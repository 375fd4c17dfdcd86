// npm run lint: buf lint (STANDARD), buf breaking against main where it has proto/, tsc.
import { execFileSync, spawnSync } from "node:child_process";

const run = (cmd, args) => {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit" });
};

run("buf", ["lint"]);
const hasMain = spawnSync("git", ["rev-parse", "--verify", "--quiet", "main:proto"], { stdio: "ignore" }).status === 0;
if (hasMain) run("buf", ["breaking", "--against", ".git#branch=main"]);
else console.log("buf breaking: skipped, main has no proto/ yet");
run("tsc", ["-p", "tsconfig.json"]);
run("tsc", ["-p", "console/tsconfig.json"]);
