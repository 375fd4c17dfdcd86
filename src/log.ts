/**
 * The root pino logger. Secrets never reach a log line: authorization headers, tokens,
 * keys and credentials are redacted wherever they appear in a logged object.
 */
import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/** Paths pino blanks out, at any depth we log them. */
export const redactPaths = [
  "req.headers.authorization",
  "req.headers[\"proxy-authorization\"]",
  "req.headers.cookie",
  "req.headers[\"sec-websocket-protocol\"]",
  "headers.authorization",
  "authorization",
  "token",
  "*.token",
  "secret",
  "*.secret",
  "password",
  "*.password",
  "keyPem",
  "*.keyPem",
  "credential",
  "*.credential",
  "privateJwk",
  "*.privateJwk",
  "bearerToken",
  "*.bearerToken",
];

/** Creates the root logger; `destination` lets tests capture lines. */
export function createLogger(opts: { level?: string; name?: string } = {}, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env["KUBEGATE_LOG_LEVEL"] ?? "info",
    redact: { paths: redactPaths, censor: "[redacted]" },
    base: opts.name === undefined ? undefined : { component: opts.name },
  };
  // Logs go to stderr so stdout stays for what a person reads (URLs, the bootstrap key).
  return pino(options, destination ?? pino.destination({ fd: 2, sync: false }));
}
