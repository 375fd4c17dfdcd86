/**
 * The SPDY/3.1 stand-in: accept the upgrade with 101 and the protocol version
 * the client offered first, then echo every byte. It does not speak SPDY; it
 * proves a proxy carries an upgraded connection byte for byte, both directions.
 */
import type { Duplex } from "node:stream";
import { headerValues } from "./http-io.ts";
import type { StreamRegistry } from "./streams.ts";

/** Picks the X-Stream-Protocol-Version to answer with (the first offered). */
export function chooseStreamProtocol(headers: Record<string, string | string[]>): string | undefined {
  return headerValues(headers, "x-stream-protocol-version").flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean)[0];
}

/** Answers 101 and echoes. */
export function runSpdyEcho(socket: Duplex, head: Buffer, headers: Record<string, string | string[]>, streams: StreamRegistry): void {
  const protocol = chooseStreamProtocol(headers);
  socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" + (protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : "") + "\r\n");
  if (head.length) socket.write(head);
  const unregister = streams.add("spdy", () => socket.destroy());
  socket.on("data", (chunk: Buffer) => socket.write(chunk));
  socket.on("end", () => socket.end());
  socket.on("close", unregister);
  socket.on("error", unregister);
}
