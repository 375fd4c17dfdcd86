/**
 * `kubegate kube-token --cluster NAME`: the exec credential plugin kubectl runs on every
 * call (client.authentication.k8s.io/v1). With a warm cache it reads one file and prints;
 * Connect is loaded only when a token has to be minted.
 */
import { CliError, usageError } from "./cli-error.ts";
import { parseFlags } from "./flags.ts";
import { cacheDir, loadSession } from "./session.ts";
import { fresh, readCachedToken, tokenCacheFile, writeCachedToken, type CachedToken } from "./token-cache.ts";

function execCredential(entry: CachedToken): string {
  return (
    JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      spec: { interactive: false },
      status: { expirationTimestamp: entry.expiresAt, token: entry.token },
    }) + "\n"
  );
}

/**
 * Whether kubectl says a person can answer (ExecCredential spec.interactive, given in
 * KUBERNETES_EXEC_INFO; kubeconfig entries ask for interactiveMode IfAvailable).
 */
export function execInteractive(env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    return (JSON.parse(env["KUBERNETES_EXEC_INFO"] ?? "{}") as { spec?: { interactive?: unknown } }).spec?.interactive === true;
  } catch {
    return false;
  }
}

async function mint(session: Awaited<ReturnType<typeof loadSession>>, cluster: string): Promise<CachedToken> {
  const [{ clientsFor }, { timestampDate }, { GrantState }, { explain }] = await Promise.all([
    import("./connect.ts"),
    import("@bufbuild/protobuf/wkt"),
    import("../../gen/kubegate/v1/grant_pb.ts"),
    import("./explain.ts"),
  ]);
  const clients = clientsFor(session, { interactive: execInteractive() });
  try {
    const res = await clients.tokens.mintToken({ cluster });
    const grants = await Promise.all(res.grantIds.map((id) => clients.grants.getGrant({ id }).then((g) => g.grant)));
    if (grants.length > 0 && grants.every((g) => g?.state === GrantState.PENDING))
      throw new CliError(`your grant on ${cluster} is still being applied; try again in a few seconds`);
    return { token: res.token, expiresAt: timestampDate(res.expireTime!).toISOString(), issuedAt: new Date().toISOString() };
  } catch (err) {
    throw explain(err);
  }
}

export async function runKubeToken(argv: string[]): Promise<number> {
  const { values } = parseFlags("kube-token", argv, { cluster: { type: "string" } });
  const cluster = values.cluster;
  if (cluster === undefined || cluster === "") throw usageError("kubegate kube-token: --cluster NAME is required");
  const session = await loadSession();
  const file = tokenCacheFile(cacheDir(), session, cluster);
  let entry = await readCachedToken(file);
  if (entry === undefined || !fresh(entry)) {
    // One process mints; the others waiting on the lock find its token in the cache.
    const { withFileLock } = await import("./file-lock.ts");
    entry = await withFileLock(`${file}.lock`, async () => {
      const cached = await readCachedToken(file);
      if (cached !== undefined && fresh(cached)) return cached;
      const minted = await mint(session, cluster);
      await writeCachedToken(file, minted);
      return minted;
    });
  }
  process.stdout.write(execCredential(entry));
  return 0;
}
