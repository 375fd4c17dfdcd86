/**
 * Sends the RBAC reconciler's grant outcomes (APPLIED, or FAILED with the member's words)
 * to the control plane through ReportGrantStatus, coalesced per grant and in order like the
 * cluster status reports, so a grant that flips FAILED → APPLIED never ends on the old one.
 */
import type { Client } from "@connectrpc/connect";
import { grantStateToProto } from "../grant-state.ts";
import type { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import type { Logger } from "../log.ts";
import type { GrantReport } from "./rbac-reconciler.ts";
import { createReporter, type Reporter } from "./reporter.ts";

export function createGrantReporter(sync: Pick<Client<typeof DataPlaneSyncService>, "reportGrantStatus">, log: Logger): Reporter<GrantReport> {
  return createReporter<GrantReport>({
    log,
    what: "grant RBAC status",
    send: async (reports) => {
      await sync.reportGrantStatus({
        reports: reports.map((r) => ({ grantId: r.grantId, state: grantStateToProto(r.state), message: r.message })),
      });
    },
  });
}
