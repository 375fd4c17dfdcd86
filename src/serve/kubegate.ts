/**
 * Composes the planes for each way kubegate runs: both in one process (the embedded
 * default), the control plane alone, or a data-plane replica syncing from a control plane.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type ServeConfig } from "../config/serve-config.ts";
import type { Logger } from "../log.ts";
import { loadTlsMaterial } from "../tls/material.ts";
import { startControlPlane, type ControlPlane } from "./control-plane.ts";
import { startDataPlane, type DataPlane, type DataPlaneOptions } from "./data-plane.ts";
import { prepareDataDir } from "./data-dir.ts";
import { startDataWorkers, type DataWorkers } from "./workers.ts";

export type ServeMode = "all" | "control" | "data";

export interface Kubegate {
  control: ControlPlane | undefined;
  /** The in-process data plane (absent with --data-workers > 1). */
  data: DataPlane | undefined;
  /** Where the data plane listens, in-process or in workers. */
  dataUrl: string | undefined;
  /** What `kubegate serve` prints: one line per listener, and the bootstrap key once. */
  banner: string[];
  close(graceMs?: number): Promise<void>;
}

function dataPlaneSettings(config: ServeConfig) {
  return {
    listen: config.dataListen,
    issuer: config.issuer,
    stalenessMs: config.syncStalenessMs,
    impersonationPrefix: config.impersonationPrefix,
    cutStreamsOnTokenExpiry: config.cutStreamsOnTokenExpiry,
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    responseTimeoutMs: config.upstreamResponseTimeoutMs,
    requestRate: config.requestRate,
    requestBurst: config.requestBurst,
    agentHeartbeatMs: config.agentHeartbeatMs,
    memberProbeIntervalMs: config.memberProbeIntervalMs,
    edge: config.edge,
    maxStreamsPerUser: config.maxStreamsPerUser,
    maxStreamsPerCluster: config.maxStreamsPerCluster,
    auditFlushMs: config.auditFlushMs,
  };
}

export async function startKubegate(mode: ServeMode, config: ServeConfig, log: Logger): Promise<Kubegate> {
  const banner: string[] = [];
  let control: ControlPlane | undefined;
  let data: DataPlane | undefined;
  let workers: DataWorkers | undefined;
  /** The data plane, in this process or, with --data-workers > 1, in worker processes. */
  const startData = async (o: Omit<DataPlaneOptions, "log" | keyof ReturnType<typeof dataPlaneSettings>>): Promise<string> => {
    if (config.dataWorkers > 1) {
      workers = await startDataWorkers(config.dataWorkers, { ...dataPlaneSettings(config), ...o, logLevel: config.logLevel }, log);
      return workers.url;
    }
    data = await startDataPlane({ ...dataPlaneSettings(config), ...o, log });
    return data.url;
  };
  let dataUrl: string | undefined;
  try {
    if (mode === "data") {
      if (config.controlUrl === undefined || config.controlTokenFile === undefined)
        throw new ConfigError("serve data needs --control <control-plane URL> and --control-token-file <file with a data-plane API key>");
      await prepareDataDir(config.dataDir);
      const tls = await loadTlsMaterial({
        dataDir: config.dataDir,
        hosts: [config.dataListen.host].filter((h) => h !== "0.0.0.0" && h !== "::"),
        certFile: config.tlsCertFile,
        keyFile: config.tlsKeyFile,
        caFile: config.tlsCaFile,
      });
      dataUrl = await startData({
        tls,
        controlUrl: config.controlUrl.replace(/\/$/, ""),
        controlCaPem: await readFile(config.controlCaFile ?? join(config.dataDir, "ca.crt"), "utf8"),
        credential: (await readFile(config.controlTokenFile, "utf8")).trim(),
      });
    } else {
      control = await startControlPlane(config, log);
      if (control.bootstrapAdminKey !== undefined) {
        banner.push(
          `bootstrap admin API key (shown once; also in ${join(config.dataDir, "bootstrap-admin.key")}, mode 0600):`,
          `  ${control.bootstrapAdminKey}`,
        );
      }
      banner.push(`control plane listening on ${control.url}`);
      if (mode === "all") {
        dataUrl = await startData({
          tls: control.tls,
          controlUrl: control.url,
          controlCaPem: control.tls.caPem,
          credential: control.internalDataPlaneSecret,
        });
        control.setDataUrl(dataUrl);
      }
      banner.push(`CA certificate: ${join(config.dataDir, "ca.crt")}`);
    }
    if (dataUrl !== undefined) banner.push(`data plane listening on ${dataUrl}${workers ? ` (${config.dataWorkers} workers)` : ""}`);
  } catch (err) {
    await data?.close(0);
    await workers?.close(0);
    await control?.close(0);
    throw err;
  }
  return {
    control,
    data,
    dataUrl,
    banner,
    async close(graceMs) {
      await data?.close(graceMs);
      await workers?.close(graceMs);
      if (data !== undefined || workers !== undefined) log.info("data plane stopped");
      await control?.close(graceMs);
      if (control !== undefined) log.info("control plane stopped");
    },
  };
}
