// Builds the web console into dist/console: console/src/app.ts bundled by esbuild (with the
// generated gen/ types and @connectrpc/connect-web), beside index.html and style.css.
// Type errors are caught by `npm run lint` (tsc -p console/tsconfig.json); esbuild only strips.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "console");
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(root, "console", "src", "app.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "style.css", "favicon.svg"]) await copyFile(join(root, "console", file), join(out, file));
