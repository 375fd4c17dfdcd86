/**
 * Where the benchmarks find the project: they run the compiled code in dist/ (built by
 * `npm run bench`), never the TypeScript sources.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const DIST = join(ROOT, "dist");
export const KUBEGATE_BIN = join(ROOT, "bin", "kubegate.js");
export const RESULTS_DIR = join(ROOT, "bench", "results");

/** Imports a compiled module by its path under dist/, e.g. "src/serve/control-plane.js". */
export async function importDist(path) {
  const file = join(DIST, path);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (or use \`npm run bench\`, which builds first)`);
  return import(file);
}
