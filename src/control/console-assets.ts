/**
 * The web console's files, served by the control plane on its own port under /console/:
 * read once from dist/console (built by `npm run build`), from memory afterwards, under a
 * Content-Security-Policy that allows no inline script and nothing from elsewhere.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { packageRoot } from "../package-root.ts";

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** What the files need of a request and its response, on HTTP/1.1 and HTTP/2 alike. */
interface Req {
  method?: string | undefined;
}
interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(): unknown;
  end(body: Buffer | string): unknown;
}

export interface ConsoleAssets {
  /** Answers GET/HEAD under /console/ (and / itself); false when the path is not the console's. */
  serve(req: Req, res: Res, path: string): boolean;
}

/** dist/console of this kubegate, when `npm run build` has built it. */
export function builtConsoleDir(): string | undefined {
  const out = join(packageRoot(), "dist", "console");
  return existsSync(join(out, "index.html")) ? out : undefined;
}

export function loadConsoleAssets(dir: string | undefined): ConsoleAssets {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (dir !== undefined)
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type !== undefined) files.set(name, { body: readFileSync(join(dir, name)), type });
    }
  const headers = (type: string, length: number) => ({
    "content-type": type,
    "content-length": String(length),
    "content-security-policy": CONSOLE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
  });
  return {
    serve(req, res, path) {
      if (path === "/" || path === "/console") {
        res.writeHead(302, { location: "/console/" });
        res.end();
        return true;
      }
      if (!path.startsWith("/console/")) return false;
      const name = path.slice("/console/".length) || "index.html";
      const file = files.get(name);
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
        res.end("the console's files are read with GET\n");
      } else if (files.size === 0) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("the console is not built: run `npm run build`\n");
      } else if (file === undefined) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("not found\n");
      } else {
        res.writeHead(200, headers(file.type, file.body.length));
        if (req.method === "HEAD") res.end();
        else res.end(file.body);
      }
      return true;
    },
  };
}
