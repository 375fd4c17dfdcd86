#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (npm run build writes dist/). kubegate
// needs Node.js 24 (node:sqlite among others), pinned in this package as the devDependency
// `node`; started by an older Node (the machine's own, as after `npm link`), it runs
// itself again with the pinned one, so every way of calling it behaves the same.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REQUIRED_MAJOR = 24;

if (Number(process.versions.node.split(".")[0]) < REQUIRED_MAJOR) {
  const pinned = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`kubegate: needs Node.js ${REQUIRED_MAJOR} or later, and this is ${process.version}; run \`npm install\` in the kubegate checkout (it installs Node.js ${REQUIRED_MAJOR}), or install Node.js ${REQUIRED_MAJOR}\n`);
    process.exit(1);
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
} else {
  const entry = new URL("../dist/src/cli/main.js", import.meta.url);
  if (!existsSync(entry)) {
    process.stderr.write("kubegate: not built yet: run `npm run build` (or `npm start`) in the kubegate checkout\n");
    process.exit(1);
  }
  const { main } = await import(entry.href);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`kubegate: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
