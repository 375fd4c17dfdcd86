/**
 * A real PostgreSQL, started exactly as the store tests start it (test/support/postgres.ts,
 * run here by Node's type stripping): own temp data directory, own free port, as root
 * through a "postgres" user, stopped by its own handle. Resolves to
 * { port, pid, url(database), createDatabase(name), stop() }; stop() is idempotent.
 */
export async function startPostgres() {
  const { startPostgres: start } = await import("../../test/support/postgres.ts");
  return start("kubegate-bench");
}
