/**
 * A minimal RFC 6455 WebSocket server endpoint over an upgraded socket:
 * handshake, frame parsing (client frames must be masked), fragmentation,
 * ping/pong and the close handshake. Server frames are never masked.
 */
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Opcodes used here. */
export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** The Sec-WebSocket-Accept value for a key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** The 101 response that completes the handshake. */
export function handshakeResponse(key: string, protocol: string | undefined): string {
  return (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
    "\r\n"
  );
}

/** Encodes one unfragmented frame; `mask` is for clients (tests), servers send unmasked. */
export function encodeFrame(opcode: number, payload: Buffer, mask?: Buffer): Buffer {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(len, 2);
  if (lenBytes === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  mask.copy(head, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, body]);
}

/** A parsed frame. */
export interface Frame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parses as many whole frames as the buffer holds; returns them and the unused rest. */
export function decodeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    let len = b1 & 0x7f;
    let pos = off + 2;
    if (len === 126) {
      if (buf.length < pos + 2) break;
      len = buf.readUInt16BE(pos);
      pos += 2;
    } else if (len === 127) {
      if (buf.length < pos + 8) break;
      len = Number(buf.readBigUInt64BE(pos));
      pos += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const maskStart = pos;
    if (masked) pos += 4;
    if (buf.length < pos + len) break;
    const payload = Buffer.from(buf.subarray(pos, pos + len));
    if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskStart + (i % 4)]!;
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
    off = pos + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** Callbacks of a server-side connection. */
export interface WebSocketHandlers {
  onMessage(data: Buffer, binary: boolean): void;
  onClose(code: number): void;
}

/** A server-side WebSocket connection. */
export interface WebSocketConnection {
  send(data: Buffer, binary?: boolean): void;
  close(code?: number, reason?: string): void;
  readonly closed: boolean;
}

/** Runs the WebSocket protocol over an already-upgraded socket (after the 101 was written). */
export function serveWebSocket(socket: Duplex, head: Buffer, handlers: WebSocketHandlers): WebSocketConnection {
  let buffered: Buffer = Buffer.from(head);
  let fragments: Buffer[] = [];
  let fragmentOpcode = 0;
  let closed = false;

  const finish = (code: number) => {
    if (closed) return;
    closed = true;
    handlers.onClose(code);
  };
  const conn: WebSocketConnection = {
    get closed() {
      return closed;
    },
    send(data, binary = true) {
      if (!closed && socket.writable) socket.write(encodeFrame(binary ? OPCODE.binary : OPCODE.text, data));
    },
    close(code = 1000, reason = "") {
      if (closed) return;
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
      if (socket.writable) socket.write(encodeFrame(OPCODE.close, payload));
      finish(code);
      socket.end();
    },
  };

  const onData = (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : Buffer.from(chunk);
    const { frames, rest } = decodeFrames(buffered);
    buffered = Buffer.from(rest);
    for (const f of frames) {
      if (!f.masked) return conn.close(1002, "client frames must be masked");
      if (f.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, f.payload));
      else if (f.opcode === OPCODE.pong) continue;
      else if (f.opcode === OPCODE.close) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        if (!closed) socket.write(encodeFrame(OPCODE.close, f.payload.subarray(0, 2)));
        finish(code);
        socket.end();
        return;
      } else {
        if (f.opcode !== OPCODE.continuation) fragmentOpcode = f.opcode;
        fragments.push(f.payload);
        if (f.fin) {
          const msg = Buffer.concat(fragments);
          fragments = [];
          handlers.onMessage(msg, fragmentOpcode === OPCODE.binary);
        }
      }
    }
  };
  socket.on("data", onData);
  socket.on("close", () => finish(1006));
  socket.on("error", () => finish(1006));
  if (buffered.length) queueMicrotask(() => onData(Buffer.alloc(0)));
  return conn;
}
