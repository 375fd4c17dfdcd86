/**
 * Exec throughput over WebSocket (v5.channel.k8s.io), the way kubectl 1.30+ runs exec: TLS,
 * an HTTP/1.1 upgrade, then binary messages whose first byte is the channel (0 stdin,
 * 1 stdout, 3 the exit Status, 255 + 0 closes stdin). Runs `cat` in the pod, pushes `bytes`
 * of stdin and counts them coming back on stdout, with at most `windowBytes` sent and not
 * yet echoed, so no hop has to buffer more than that (the fake's `cat` has no back-pressure).
 */
import { randomBytes } from "node:crypto";
import tls from "node:tls";

const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const CHANNEL_STDIN = 0;
const CHANNEL_STDOUT = 1;
const CHANNEL_ERROR = 3;
const CHANNEL_CLOSE = 255;

/**
 * One masked client frame. The mask key is zero, so the payload goes out as it is: the
 * client spends nothing on masking and the data path carries the same bytes (a real client
 * picks a random key; every hop but the server treats the payload as opaque bytes anyway).
 */
function clientFrame(opcode, payload) {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + 4);
  head[0] = 0x80 | opcode;
  head[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([head, payload]);
}

/**
 * Reads the server's (unmasked) frames as they arrive without joining payloads: stdout
 * bytes are only counted. A message's channel is its first payload byte; the exit Status
 * (channel 3) is collected; `onClose(code, reason)` at the close frame.
 */
function createFrameReader({ onStdout, onStatus, onClose }) {
  const header = Buffer.alloc(14);
  let headerLength = 0;
  let inHeader = true;
  let remaining = 0; // payload bytes left in the current frame
  let opcode = 0;
  let channel = -1; // -1: the next payload byte is the message's channel
  let statusParts = [];
  let closeParts = [];
  const endOfFrame = () => {
    if (opcode === OPCODE_CLOSE) {
      const payload = Buffer.concat(closeParts);
      onClose(payload.length >= 2 ? payload.readUInt16BE(0) : 1005, payload.subarray(2).toString("utf8"));
    }
    else if (channel === CHANNEL_ERROR) onStatus(Buffer.concat(statusParts).toString("utf8"));
    inHeader = true;
  };
  return (chunk) => {
    let off = 0;
    while (off < chunk.length) {
      if (inHeader) {
        header[headerLength++] = chunk[off++];
        if (headerLength < 2) continue;
        const len7 = header[1] & 0x7f;
        const size = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (header[1] & 0x80 ? 4 : 0);
        if (headerLength < size) continue;
        remaining = len7 === 126 ? header.readUInt16BE(2) : len7 === 127 ? Number(header.readBigUInt64BE(2)) : len7;
        opcode = header[0] & 0x0f;
        headerLength = 0;
        inHeader = false;
        // A continuation frame keeps its message's channel.
        if (opcode !== 0) {
          channel = -1;
          statusParts = [];
          closeParts = [];
        }
        if (remaining === 0) endOfFrame();
        continue;
      }
      const take = Math.min(remaining, chunk.length - off);
      let data = chunk.subarray(off, off + take);
      off += take;
      remaining -= take;
      if (opcode === OPCODE_BINARY || opcode === 0) {
        if (channel === -1) {
          channel = data[0];
          data = data.subarray(1);
        }
        if (channel === CHANNEL_STDOUT) onStdout(data.length);
        else if (channel === CHANNEL_ERROR) statusParts.push(Buffer.from(data));
      } else if (opcode === OPCODE_CLOSE) closeParts.push(Buffer.from(data));
      // Pings and pongs: none are expected from the server; their payload is skipped.
      if (remaining === 0) endOfFrame();
    }
  };
}

/**
 * Runs one exec of `cat` over `url` (https://host:port of the server, `path` the exec path
 * with ?command=cat&stdin=true&stdout=true). Resolves to { bytes, seconds, status } where
 * seconds runs from the first stdin byte sent to the last stdout byte received. A stream
 * that closes before every byte came back rejects with `err.partial` = { bytes, seconds, sent }.
 */
export function execCat({ url, path, caPem, headers = {}, bytes, chunkBytes = 64 * 1024, windowBytes = 8 * 1024 * 1024, timeoutMs = 120_000 }) {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: target.hostname, port: Number(target.port), ca: caPem, ALPNProtocols: ["http/1.1"] });
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`exec: ${received} of ${bytes} bytes echoed after ${timeoutMs} ms`)), timeoutMs);
    const data = randomBytes(chunkBytes);
    const stdinFrame = (n) => clientFrame(OPCODE_BINARY, Buffer.concat([Buffer.from([CHANNEL_STDIN]), data.subarray(0, n)]));
    // Every full chunk is the same frame: the client allocates nothing per message.
    const frame = stdinFrame(chunkBytes);
    let sent = 0;
    let received = 0;
    let started = 0;
    let lastByteAt = 0;
    let status;
    let upgraded = false;
    let head = Buffer.alloc(0);
    let waitingForDrain = false;
    let closedStdin = false;

    const pump = () => {
      while (sent < bytes && sent - received < windowBytes && !waitingForDrain) {
        const n = Math.min(chunkBytes, bytes - sent);
        sent += n;
        if (!socket.write(n === chunkBytes ? frame : stdinFrame(n))) {
          waitingForDrain = true;
          socket.once("drain", () => {
            waitingForDrain = false;
            pump();
          });
        }
      }
      if (sent >= bytes && !closedStdin) {
        closedStdin = true;
        socket.write(clientFrame(OPCODE_BINARY, Buffer.from([CHANNEL_CLOSE, CHANNEL_STDIN])));
      }
    };

    let closedWith = "no close frame";
    const finish = () => {
      if (settled) return;
      if (received !== bytes) {
        // What did arrive is still a throughput sample; the caller decides what a lost tail means.
        const err = new Error(`exec: the stream closed after ${received} of ${bytes} bytes echoed (${sent} sent; status ${status ?? "none"}; ${closedWith})`);
        return fail(Object.assign(err, { partial: { bytes: received, seconds: (lastByteAt - started) / 1000, sent } }));
      }
      if (!/"status":"Success"/.test(status ?? "")) return fail(new Error(`exec: cat ended with ${status ?? "no status"}`));
      settled = true;
      clearTimeout(timer);
      socket.end(clientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8])));
      resolve({ bytes: received, seconds: (lastByteAt - started) / 1000, status });
    };
    const read = createFrameReader({
      onStdout(n) {
        received += n;
        lastByteAt = performance.now();
        if (!closedStdin) pump();
      },
      onStatus(text) {
        status = text;
      },
      onClose(code, reason) {
        closedWith = `close frame ${code}${reason ? ` ${JSON.stringify(reason)}` : ""}`;
        finish();
      },
    });

    socket.setNoDelay(true);
    socket.once("secureConnect", () => {
      let request = `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n`;
      request += `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n`;
      for (const [k, v] of Object.entries(headers)) request += `${k}: ${v}\r\n`;
      socket.write(`${request}\r\n`);
    });
    socket.on("data", (chunk) => {
      if (upgraded) return read(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      const statusLine = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      if (!/^HTTP\/1\.1 101/.test(statusLine)) return fail(new Error(`exec: the upgrade was answered ${statusLine}: ${head.subarray(end + 4, end + 300).toString("utf8")}`));
      upgraded = true;
      const rest = head.subarray(end + 4);
      head = Buffer.alloc(0);
      started = performance.now();
      pump();
      if (rest.length > 0) read(rest);
    });
    socket.on("error", fail);
    socket.on("close", () => (settled ? undefined : finish()));
  });
}
