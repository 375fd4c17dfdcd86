/**
 * Control-plane clients for the logged-in session. Imported lazily by commands that call
 * kubegate, so `kube-token` with a warm cache never loads Connect.
 */
import { createKubegateClients, type KubegateClients } from "../client/clients.ts";
import { sessionCredential, type CredentialOptions } from "./login-refresh.ts";
import type { Session } from "./session.ts";

/** Clients that send the session's credential (none for a session not yet logged in). */
export function clientsFor(session: Pick<Session, "server" | "caPem"> & Partial<Session>, opts?: CredentialOptions): KubegateClients {
  const credential = sessionCredential(session as Session, opts);
  return createKubegateClients({
    baseUrl: session.server,
    ...(session.caPem === undefined ? {} : { caPem: session.caPem }),
    ...(credential === undefined ? {} : { credential }),
  });
}
