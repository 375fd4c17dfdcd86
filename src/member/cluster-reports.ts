/**
 * Sends what this data plane observed of clusters to the control plane through
 * ReportClusterStatus, tagged with its id: agent tunnels up or down here, and direct members
 * answering the health probe from here or not. The control plane combines the reports of
 * every data plane, so one replica's view never decides alone.
 */
import type { Client } from "@connectrpc/connect";
import { ClusterPhase } from "../../gen/kubegate/v1/cluster_pb.ts";
import type { DataPlaneSyncService } from "../../gen/kubegate/v1/sync_pb.ts";
import type { Logger } from "../log.ts";
import { createReporter, type Reporter } from "./reporter.ts";

/** One cluster as this data plane sees it. */
export interface ClusterStatusReport {
  cluster: string;
  phase: "READY" | "OFFLINE";
  kubernetesVersion: string;
  /** Agent mode: the version the agent announced; "" otherwise. */
  agentVersion: string;
  message: string;
}

export function createClusterReporter(
  sync: Pick<Client<typeof DataPlaneSyncService>, "reportClusterStatus">,
  dataPlaneId: string,
  log: Logger,
): Reporter<ClusterStatusReport> {
  return createReporter<ClusterStatusReport>({
    log,
    what: "cluster status",
    send: async (reports) => {
      await sync.reportClusterStatus({
        reports: reports.map((r) => ({
          cluster: r.cluster,
          phase: r.phase === "READY" ? ClusterPhase.READY : ClusterPhase.OFFLINE,
          kubernetesVersion: r.kubernetesVersion,
          agentVersion: r.agentVersion,
          message: r.message,
          dataPlaneId,
        })),
      });
    },
  });
}
