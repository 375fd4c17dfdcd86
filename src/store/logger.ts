/**
 * The slice of a pino logger the store uses, so it can take the app's logger without
 * depending on pino, and stay silent in tests.
 */
export interface StoreLogger {
  info(objOrMsg: unknown, msg?: string): void;
  warn(objOrMsg: unknown, msg?: string): void;
  error(objOrMsg: unknown, msg?: string): void;
}

export const silentLogger: StoreLogger = {
  info() {},
  warn() {},
  error() {},
};
