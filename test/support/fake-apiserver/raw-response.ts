/** Writing an HTTP/1.1 response by hand on an upgrade socket (no ServerResponse exists there). */
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";
import type { StatusBody } from "./status.ts";

/** Writes a complete JSON (Status) response and closes the socket. */
export function writeRawStatus(socket: Duplex, code: number, body: StatusBody | Record<string, unknown>, extraHeaders: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  const headers = { "Content-Type": "application/json", "Content-Length": String(data.length), Connection: "close", ...extraHeaders };
  const head = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? "Unknown"}\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  socket.end(Buffer.concat([Buffer.from(head), data]));
}
