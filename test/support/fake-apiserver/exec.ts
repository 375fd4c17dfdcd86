/**
 * exec and attach over WebSocket with Kubernetes' channel protocol
 * (v5.channel.k8s.io, v4.channel.k8s.io): binary messages whose first byte is
 * the channel — 0 stdin, 1 stdout, 2 stderr, 3 error (a Status), 4 resize —
 * and, in v5, 255 to close one channel (how the client signals end of stdin).
 */
import type { Duplex } from "node:stream";
import { createByteQueue } from "./channel-stream.ts";
import { runCommand } from "./shell.ts";
import type { StreamRegistry } from "./streams.ts";
import { handshakeResponse, serveWebSocket } from "./websocket.ts";

/** Channel numbers. */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Subprotocols served, in order of preference. */
export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/** Picks the subprotocol from the client's Sec-WebSocket-Protocol offers. */
export function chooseExecProtocol(offered: string[]): string | undefined {
  const list = offered.flatMap((v) => v.split(",")).map((s) => s.trim());
  return EXEC_PROTOCOLS.find((p) => list.includes(p));
}

/** The error-channel Status for an exit code, worded as the kubelet does. */
export function exitStatus(argv: string[], code: number): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${argv.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/** What the session runs and which streams it has. */
export interface ExecSessionOptions {
  socket: Duplex;
  head: Buffer;
  key: string;
  protocol: string;
  /** The command (exec) or undefined for attach. */
  argv: string[] | undefined;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  hostname: string;
  env: Record<string, string>;
  streams: StreamRegistry;
}

/** Completes the handshake and runs the command; the socket closes when it exits. */
export function runExecSession(o: ExecSessionOptions): void {
  o.socket.write(handshakeResponse(o.key, o.protocol));
  const stdin = createByteQueue();
  if (!o.stdin) stdin.end();
  const abort = new AbortController();
  const v5 = o.protocol.startsWith("v5.");
  const conn = serveWebSocket(o.socket, o.head, {
    onMessage(data) {
      const channel = data[0];
      if (channel === CHANNEL.stdin) stdin.push(Buffer.from(data.subarray(1)));
      else if (v5 && channel === CHANNEL.close && data[1] === CHANNEL.stdin) stdin.end();
      // Resize (4) needs no action: the fake terminal has no size.
    },
    onClose() {
      stdin.end();
      abort.abort();
      unregister();
    },
  });
  const unregister = o.streams.add("exec", () => conn.close(1001, "server shutting down"));
  const out = (channel: number) => (data: string | Buffer) => conn.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  const argv = o.argv ?? ["cat"];
  const io = {
    stdout: o.stdout ? out(CHANNEL.stdout) : () => {},
    stderr: o.tty ? out(CHANNEL.stdout) : o.stderr ? out(CHANNEL.stderr) : () => {},
    stdin,
    env: o.env,
    hostname: o.hostname,
    signal: abort.signal,
  };
  // attach without stdin has nothing to echo: it stays attached until the client leaves.
  const run = o.argv === undefined && !o.stdin ? new Promise<number>((r) => abort.signal.addEventListener("abort", () => r(0))) : runCommand(argv, io);
  run.then(
    (code) => {
      if (conn.closed) return;
      conn.send(Buffer.concat([Buffer.from([CHANNEL.error]), Buffer.from(JSON.stringify(exitStatus(argv, code)))]));
      conn.close(1000);
    },
    (err: Error) => {
      conn.send(Buffer.concat([Buffer.from([CHANNEL.error]), Buffer.from(JSON.stringify({ metadata: {}, status: "Failure", message: err.message, reason: "InternalError" }))]));
      conn.close(1011);
    },
  );
}
