/**
 * Composes the planes for each way kubegate runs: both in one process (the embedded
 * default), the control plane alone, or a data-plane replica syncing from a control plane.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError, type ServeConfig } from "../config/serve-config.ts";
import type { Logger } from "../log.ts";
import { loadTlsMaterial } from "../tls/material.ts";
import { startControlPlane, type ControlPlane } from "./control-plane.ts";
import { startDataPlane, type DataPlane } from "./data-plane.ts";

export type ServeMode = "all" | "control" | "data";

export interface Kubegate {
  control: ControlPlane | undefined;
  data: DataPlane | undefined;
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
  };
}

export async function startKubegate(mode: ServeMode, config: ServeConfig, log: Logger): Promise<Kubegate> {
  const banner: string[] = [];
  let control: ControlPlane | undefined;
  let data: DataPlane | undefined;
  try {
    if (mode === "data") {
      if (config.controlUrl === undefined || config.controlTokenFile === undefined)
        throw new ConfigError("serve data needs --control <control-plane URL> and --control-token-file <file with a data-plane API key>");
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      const tls = await loadTlsMaterial({
        dataDir: config.dataDir,
        hosts: [config.dataListen.host].filter((h) => h !== "0.0.0.0" && h !== "::"),
        certFile: config.tlsCertFile,
        keyFile: config.tlsKeyFile,
        caFile: config.tlsCaFile,
      });
      data = await startDataPlane({
        ...dataPlaneSettings(config),
        tls,
        controlUrl: config.controlUrl.replace(/\/$/, ""),
        controlCaPem: await readFile(config.controlCaFile ?? join(config.dataDir, "ca.crt"), "utf8"),
        credential: (await readFile(config.controlTokenFile, "utf8")).trim(),
        log,
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
        data = await startDataPlane({
          ...dataPlaneSettings(config),
          tls: control.tls,
          controlUrl: control.url,
          controlCaPem: control.tls.caPem,
          credential: control.internalDataPlaneSecret,
          log,
        });
        control.setDataUrl(data.url);
      }
      banner.push(`CA certificate: ${join(config.dataDir, "ca.crt")}`);
    }
    if (data !== undefined) banner.push(`data plane listening on ${data.url}`);
  } catch (err) {
    await data?.close(0);
    await control?.close(0);
    throw err;
  }
  return {
    control,
    data,
    banner,
    async close(graceMs) {
      await data?.close(graceMs);
      await control?.close(graceMs);
    },
  };
}
