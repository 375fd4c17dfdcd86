/** What a failing RPC answered, for tests that check the code and the words a person reads. */
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

/** The call's ConnectError; throws when the call succeeded. */
export async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

export async function expectError(p: Promise<unknown>, code: Code, message: string | RegExp): Promise<void> {
  const err = await failure(p);
  expect(Code[err.code]).toBe(Code[code]);
  if (typeof message === "string") expect(err.rawMessage).toBe(message);
  else expect(err.rawMessage).toMatch(message);
}
