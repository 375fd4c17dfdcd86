/**
 * Shutdown drains: an in-flight sync stream ends and close() returns promptly even when a
 * client holds the stream open and never reads further.
 */
import { expect, it } from "vitest";
import { startTestControlPlane } from "../support/control-plane.ts";

it("closes promptly with a sync stream open and an idle HTTP/1.1 client", async () => {
  const cp = await startTestControlPlane();
  const dp = cp.clients(await cp.apiKey("dp", ["kubegate:data-planes"]));
  const stream = dp.sync.watchState({})[Symbol.asyncIterator]();
  expect((await stream.next()).value.snapshot).toBe(true);
  await cp.clients(cp.adminKey, "grpc-web").identity.whoAmI({});
  const started = Date.now();
  await cp.close();
  expect(Date.now() - started).toBeLessThan(3000);
  // The stream ends cleanly or with an error; it must not hang.
  await stream.next().catch(() => undefined);
});
