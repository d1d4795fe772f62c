import type { PipelineConfig } from "../config/schema.js";
import { SCHEMA_VIOLATION_POLICY } from "../data/violations.js";
import type { Table } from "../data/table.js";
import type { Issue } from "./report.js";

/** What the schema check needs of the reader's result (pipeline/data/csv.ts ReadResult). */
export interface DatasetRead {
  table: Table;
  path: string;
  sha256: string;
  bytes: number;
  violations: { row: number; line: number; column: string; value: string; reason: string }[];
  violationCount: number;
  violationsByColumn: Record<string, number>;
  headerMap: Record<string, string>;
  missingColumns: string[];
  extraColumns: string[];
}

/**
 * Turns the reader's findings (cells that break a type, range, category or label rule; configured
 * columns that are absent) into issues. The violation share is violations / rows: an upper bound
 * on the share of rows with a violation, exact when no row has two.
 */
export function checkSchema(read: DatasetRead, config: PipelineConfig): { issues: Issue[]; violationShare: number } {
  const { dataset, validation } = config;
  const issues: Issue[] = [];
  const rows = read.table.rowCount;
  if (rows < validation.min_rows) {
    issues.push({
      check: "rows",
      severity: "error",
      message: `${rows} rows, fewer than validation.min_rows = ${validation.min_rows}`,
      value: rows,
      threshold: validation.min_rows,
      recommendation: "collect more data before training",
    });
  }
  const violationShare = rows > 0 ? read.violationCount / rows : read.violationCount > 0 ? 1 : 0;
  if (read.violationCount > 0) {
    const over = violationShare > validation.max_violation_share;
    const worst = Object.entries(read.violationsByColumn)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([c, k]) => `${c} ${k}`)
      .join(", ");
    issues.push({
      check: "schema_violations",
      severity: over ? "error" : "warning",
      message: `${read.violationCount} values break the schema (${(100 * violationShare).toFixed(2)}% of rows; ${worst})`,
      value: violationShare,
      threshold: validation.max_violation_share,
      recommendation: `fix the listed rows at the source; until then ${SCHEMA_VIOLATION_POLICY}`,
    });
  }
  const needed = new Set([...dataset.features, dataset.label.column, ...(dataset.group ? [dataset.group] : [])]);
  for (const name of read.missingColumns) {
    const spec = dataset.columns[name];
    const hard = needed.has(name) || spec?.required === true;
    const aliases = spec?.aliases.length ? ` (or one of its aliases: ${spec.aliases.join(", ")})` : "";
    issues.push({
      check: "missing_column",
      column: name,
      severity: hard ? "error" : "warning",
      message: `configured column "${name}" is not in the file`,
      value: null,
      threshold: null,
      recommendation: hard ? `add a "${name}" column${aliases}` : `add "${name}"${aliases} or remove it from dataset.columns`,
    });
  }
  return { issues, violationShare };
}
