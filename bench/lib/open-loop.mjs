/**
 * Open-loop load at a fixed rate (requests leave on schedule whether or not earlier ones
 * have answered), for latency at a light load: what one request costs, not a queue.
 * HTTP/2 over one session, or HTTP/1.1 over a keep-alive pool; every body is read.
 */
import http2 from "node:http2";
import https from "node:https";
import { summarize } from "./stats.mjs";

function h2Client(url, caPem) {
  const session = http2.connect(new URL(url).origin, { ca: caPem });
  session.on("error", () => {});
  return {
    get(path, headers, timeoutMs) {
      return new Promise((resolve, reject) => {
        const stream = session.request({ ":path": path, ...headers });
        stream.setTimeout(timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        let status = 0;
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", () => {});
        stream.on("end", () => resolve(status));
        stream.on("error", reject);
        stream.on("close", () => (status === 0 ? reject(new Error(`stream closed (${stream.rstCode})`)) : undefined));
        stream.end();
      });
    },
    close: () => new Promise((resolve) => session.close(resolve)),
  };
}

function h1Client(url, caPem) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: caPem });
  const origin = new URL(url).origin;
  return {
    get(path, headers, timeoutMs) {
      return new Promise((resolve, reject) => {
        const req = https.get(`${origin}${path}`, { agent, headers, timeout: timeoutMs }, (res) => {
          res.on("data", () => {});
          res.on("end", () => resolve(res.statusCode));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
    },
    close: async () => agent.destroy(),
  };
}

/**
 * `count` GETs of `url` at `rate` per second after `warmup` unmeasured ones at the same rate;
 * resolves to { latencyMs: summarize(), failed, late } (`late`: sends more than 5 ms behind
 * schedule, i.e. the generator itself fell behind).
 */
export async function runOpenLoop({ url, caPem, headers = {}, proto = "h2", rate = 100, count = 1_000, warmup = 100, timeoutMs = 10_000 }) {
  const client = proto === "h2" ? h2Client(url, caPem) : h1Client(url, caPem);
  const { pathname, search } = new URL(url);
  const path = pathname + search;
  const intervalMs = 1000 / rate;
  const samples = [];
  let failed = 0;
  let late = 0;
  const pending = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < warmup + count; i++) {
      const due = t0 + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sent = performance.now();
      const measured = i >= warmup;
      if (measured && sent - due > 5) late++;
      pending.push(
        client.get(path, headers, timeoutMs).then(
          (status) => {
            if (!measured) return;
            if (status >= 200 && status < 300) samples.push(performance.now() - sent);
            else failed++;
          },
          () => {
            if (measured) failed++;
          },
        ),
      );
    }
    await Promise.all(pending);
  } finally {
    await client.close();
  }
  return { latencyMs: summarize(samples), failed, late };
}
