/**
 * nginx from Debian as a benchmark upstream or reference proxy: one instance per call,
 * its config, pid file, logs and temp paths in a temp dir, listening on 127.0.0.1 only,
 * run in the foreground (`daemon off`) as our child, and stopped by that handle.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureCommand } from "./apt.mjs";
import { spawnChild } from "./child.mjs";
import { childPids, cpuSeconds, rssKiB } from "./proc.mjs";
import { waitForPort } from "./ports.mjs";

/** A TLS listener for HTTP/2 and HTTP/1.1 (ALPN), nginx 1.22 syntax (`listen … ssl http2`). */
function tlsListen(port, tls) {
  return [
    `listen 127.0.0.1:${port} ssl http2;`,
    `ssl_certificate ${tls.certFile};`,
    `ssl_certificate_key ${tls.keyFile};`,
    `ssl_protocols TLSv1.2 TLSv1.3;`,
  ].join("\n    ");
}

/**
 * A server block answering `files`: { "<exact path>": "<file to send>" }, each as
 * application/json, over TLS on `port`.
 */
export function staticServer({ port, tls, files }) {
  const locations = Object.entries(files)
    .map(([path, file]) => `location = ${path} {\n      default_type application/json;\n      alias ${file};\n    }`)
    .join("\n    ");
  return `server {\n    ${tlsListen(port, tls)}\n    ${locations}\n    location / { return 404; }\n  }`;
}

/**
 * A server block proxying everything over HTTPS (HTTP/1.1, keep-alive pool of `keepalive`
 * connections) to 127.0.0.1:`upstreamPort`, verifying it against `upstreamCaFile`.
 */
export function proxyServer({ port, tls, upstreamPort, upstreamCaFile, keepalive = 64 }) {
  return `upstream member {\n    server 127.0.0.1:${upstreamPort};\n    keepalive ${keepalive};\n    keepalive_requests 1000000;\n  }
  server {
    ${tlsListen(port, tls)}
    location / {
      proxy_pass https://member;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_trusted_certificate ${upstreamCaFile};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
    }
  }`;
}

/**
 * Starts nginx with the given server blocks and `workers` worker processes. Resolves to
 * { pid (master), workers(), cpuSeconds() (master + workers), rssKiB(), stop() } once every
 * port in `ports` accepts connections.
 */
export async function startNginx({ dir, servers, ports, workers = 1, log = () => {} }) {
  const nginx = ensureCommand("nginx", "nginx", log);
  await mkdir(join(dir, "tmp"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  const t = (name) => join(dir, "tmp", name);
  await writeFile(
    conf,
    `# written by bench/lib/nginx.mjs
daemon off;
master_process on;
worker_processes ${workers};
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
${process.getuid?.() === 0 ? "user root root;" : ""}
events { worker_connections 16384; }
http {
  access_log off;
  types { }
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path ${t("body")};
  proxy_temp_path ${t("proxy")};
  fastcgi_temp_path ${t("fastcgi")};
  uwsgi_temp_path ${t("uwsgi")};
  scgi_temp_path ${t("scgi")};
  ${servers.join("\n  ")}
}
`,
  );
  const proc = spawnChild(nginx, ["-p", dir, "-c", conf, "-e", join(dir, "error.log")], { stderrFile: join(dir, "stderr.log") });
  let workerPids = [];
  const stop = async () => {
    // SIGTERM: nginx's fast shutdown; the master ends its workers before it exits.
    const code = await proc.stop("SIGTERM");
    // If the master had to be killed, its workers are orphans we still own: end them by pid.
    for (const pid of workerPids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    return code;
  };
  try {
    for (const port of ports) await waitForPort(port, 10_000, proc.alive);
    workerPids = childPids(proc.pid);
  } catch (err) {
    await stop();
    throw new Error(`nginx did not start: ${err.message}\n${proc.stderrTail()}`);
  }
  return {
    pid: proc.pid,
    conf,
    workers: () => workerPids,
    cpuSeconds: () => [proc.pid, ...workerPids].reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    rssKiB: () => [proc.pid, ...workerPids].reduce((sum, pid) => sum + rssKiB(pid), 0),
    stop,
  };
}
