/** One-off HTTPS calls to loopback servers (readiness polls, the fake apiserver's REST API). */
import https from "node:https";

/** Sends one request and buffers the answer: { status, headers, body }. */
export function httpsRequest(url, { method = "GET", headers = {}, body, caPem, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = https.request(
      url,
      {
        method,
        ca: caPem,
        agent: false,
        headers: { ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }), ...headers },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Repeats `httpsRequest` until `ok(res)` or the deadline; resolves to the last answer. */
export async function pollUntil(url, ok, options = {}, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await httpsRequest(url, options);
      if (ok(last)) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${url} did not become ready in ${timeoutMs} ms; last: ${last instanceof Error ? last.message : `${last.status} ${last.body.slice(0, 300)}`}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
