/**
 * Control-plane clients for the logged-in session. Imported lazily by commands that call
 * kubegate, so `kube-token` with a warm cache never loads Connect.
 */
import { createKubegateClients, type KubegateClients } from "../client/clients.ts";
import type { Session } from "./session.ts";

export function clientsFor(session: Session): KubegateClients {
  return createKubegateClients({
    baseUrl: session.server,
    ...(session.caPem === undefined ? {} : { caPem: session.caPem }),
    credential: session.apiKey,
  });
}
