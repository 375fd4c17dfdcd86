/**
 * Creates that a client may retry safely. A create carrying a request_id records its
 * answer in its own transaction (store `remember`); a later call by the same caller with
 * the same request_id and the same request gets that answer again, secrets included,
 * instead of creating a second object. The same request_id with a different request is
 * refused. Answers are kept for IDEMPOTENCY_WINDOW_MS.
 */
import { createHash } from "node:crypto";
import { create as createMessage, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { errors } from "../errors.ts";
import type { IdempotentResult, Store } from "../store/types.ts";

export const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

export interface IdempotentCall<Req extends DescMessage, Res extends DescMessage> {
  /** e.g. "AccessGrants.CreateGrant": one request id may serve each method once. */
  method: string;
  caller: string;
  requestSchema: Req;
  request: MessageShape<Req> & { requestId: string };
  responseSchema: Res;
}

/**
 * Runs `create` once per (caller, method, request id). `create` gets `remember`, which turns
 * its response into what the store records beside the object (undefined without a request id).
 */
export async function idempotent<Req extends DescMessage, Res extends DescMessage>(
  deps: { store: Store; clock: () => Date },
  call: IdempotentCall<Req, Res>,
  create: (remember: (response: MessageInitShape<Res>) => IdempotentResult | undefined) => Promise<MessageInitShape<Res>>,
): Promise<MessageInitShape<Res>> {
  const requestId = call.request.requestId;
  if (requestId === "") return create(() => undefined);
  if (!REQUEST_ID.test(requestId)) throw errors.invalid("request_id", "must be 1 to 128 of A-Z a-z 0-9 . _ : -");
  const key = sha256(`${call.method}\0${call.caller}\0${requestId}`);
  const fingerprint = sha256(toBinary(call.requestSchema, { ...call.request, requestId: "" }));
  const earlier = async () => {
    const found = await deps.store.idempotentResults.get(key);
    if (found === null) return undefined;
    if (found.fingerprint !== fingerprint)
      throw errors.precondition(`request_id ${JSON.stringify(requestId)} was already used for a different ${call.method} request; use a new request_id`);
    return fromBinary(call.responseSchema, found.response);
  };
  const first = await earlier();
  if (first !== undefined) return first;
  try {
    return await create((response) => ({
      key,
      fingerprint,
      response: toBinary(call.responseSchema, createMessage(call.responseSchema, response)),
      createdAt: deps.clock(),
    }));
  } catch (err) {
    // A twin of this call may have committed between our look and our write.
    const twin = await earlier();
    if (twin !== undefined) return twin;
    throw err;
  }
}
