/**
 * Output for people (aligned tables) and for scripts (-o json | yaml).
 */
import { stringify } from "yaml";
import { usageError } from "./cli-error.ts";

export type OutputFormat = "table" | "json" | "yaml";

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === "table" || value === "wide") return "table";
  if (value === "json" || value === "yaml") return value;
  throw usageError(`-o must be json or yaml (got ${JSON.stringify(value)})`);
}

/** An aligned table with a header row, as kubectl prints. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** Prints records for scripts, or a table for people. */
export function render(format: OutputFormat, data: unknown, headers: string[], rows: () => string[][]): string {
  if (format === "json") return JSON.stringify(data, null, 2) + "\n";
  if (format === "yaml") return stringify(data);
  return rows().length === 0 ? "No resources found.\n" : table(headers, rows());
}

/**
 * A command's result: for scripts the API's own response (as JSON or YAML, secrets shown
 * once included), for people a sentence.
 */
export function result(format: OutputFormat, data: unknown, sentence: () => string): string {
  if (format === "json") return JSON.stringify(data, null, 2) + "\n";
  if (format === "yaml") return stringify(data);
  return sentence();
}

/** How long ago, as kubectl's AGE column: 5s, 3m, 2h, 4d. */
export function age(from: Date | undefined, now = Date.now()): string {
  if (from === undefined) return "<unknown>";
  const s = Math.max(0, Math.floor((now - from.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
