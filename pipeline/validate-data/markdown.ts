import type { DataValidationReport } from "./report.js";

/** Markdown for people (job summary, PR body, terminal): tables, and Mermaid bars where they help. */

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const pct = (x: number) => `${(100 * x).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%`;
const num = (x: number | null, d = 3) => (x === null || !Number.isFinite(x) ? "–" : Math.abs(x) >= 1e5 ? x.toExponential(2) : x > 0 && x < 1e-3 ? x.toExponential(1) : Number(x.toFixed(d)).toString());
const icon = { error: "❌", warning: "⚠️", info: "ℹ️" } as const;

function barChart(title: string, axis: string, labels: string[], values: number[], max: number): string {
  return [
    "```mermaid",
    "xychart-beta",
    `  title "${title.replace(/"/g, "'")}"`,
    `  x-axis [${labels.map((l) => `"${l.replace(/"/g, "'")}"`).join(", ")}]`,
    `  y-axis "${axis}" 0 --> ${Number(max.toFixed(3))}`,
    `  bar [${values.map((v) => Number(v.toFixed(4))).join(", ")}]`,
    "```",
  ].join("\n");
}

export function renderDataReportMarkdown(report: DataValidationReport): string {
  const out: string[] = [];
  out.push(`## Data validation: ${report.passed ? "✅ passed" : "❌ failed"}`, "");
  out.push("| | |", "|---|---|");
  out.push(`| data | \`${cell(report.data.path)}\` (${report.data.rows.toLocaleString("en-US")} rows, ${report.data.columns} columns) |`);
  out.push(`| sha256 | \`${report.data.sha256.slice(0, 12)}\` |`);
  out.push(`| score | **${report.score.toFixed(3)}** (minimum ${report.min_score}) |`);
  out.push(`| issues | ${report.counts.error} errors, ${report.counts.warning} warnings, ${report.counts.info} notes |`);
  out.push(`| schema violations | ${report.schema.violation_count} (${pct(report.schema.violation_share)} of rows; limit ${pct(report.schema.max_violation_share)}) |`);
  out.push(`| duplicate rows | ${report.duplicates.count} (${pct(report.duplicates.share)}) |`);
  const strong = report.drift.strong?.columns ?? [];
  const strongText = strong.length > 0 ? `; strong drift in ${strong.map(cell).join(", ")} (fails by itself)` : "";
  out.push(`| drift | ${report.drift.skipped ? `not checked: ${cell(report.drift.skipped)}` : `${report.drift.drifted} of ${report.drift.compared} features drifted (limit ${pct(report.drift.max_drifted_share)})${strongText}`} |`, "");

  out.push("Score = " + Object.entries(report.score_components).map(([k, c]) => `${c.weight} × ${k} ${c.value.toFixed(3)}`).join(" + "), "");

  if (report.issues.length) {
    out.push("### Issues", "", "| | check | column | finding | recommendation |", "|---|---|---|---|---|");
    for (const i of report.issues) out.push(`| ${icon[i.severity]} | ${i.check} | ${cell(i.column ?? "")} | ${cell(i.message)} | ${cell(i.recommendation ?? "")} |`);
    out.push("");
  }

  if (report.schema.violations.length) {
    const shown = report.schema.violations.slice(0, 20);
    out.push(`### Schema violations (first ${shown.length} of ${report.schema.violation_count})`, "", "| row | line | column | value | reason |", "|---|---|---|---|---|");
    for (const v of shown) out.push(`| ${v.row} | ${v.line} | ${cell(v.column)} | \`${cell(v.value.slice(0, 40))}\` | ${cell(v.reason)} |`);
    out.push("");
  }

  out.push("### Columns", "", "| column | kind | missing | min | mean | max | outliers (IQR / z) |", "|---|---|---|---|---|---|---|");
  for (const c of report.columns) {
    const outliers = c.outliers_iqr === null ? "" : `${c.outliers_iqr} / ${c.outliers_z}`;
    const date = (x: number | null) => (x === null ? "–" : new Date(x).toISOString().slice(0, 10));
    const [min, mean, max] = c.kind === "date" ? [date(c.min), "", date(c.max)] : [num(c.min), num(c.mean), num(c.max)];
    out.push(`| ${cell(c.name)}${c.identifier ? " (id)" : ""} | ${c.kind} | ${pct(c.missing_share)} | ${min} | ${mean} | ${max} | ${outliers} |`);
  }
  out.push("");
  const withMissing = report.columns.filter((c) => c.missing_share > 0);
  if (withMissing.length) {
    const max = Math.max(...withMissing.map((c) => 100 * c.missing_share));
    out.push(barChart("Missing values per column (%)", "missing %", withMissing.map((c) => c.name), withMissing.map((c) => 100 * c.missing_share), Math.max(1, Math.ceil(max))), "");
  }

  if (report.label) {
    out.push(`### Label \`${cell(report.label.column)}\``, "", "| class | rows | share |", "|---|---|---|");
    for (const c of report.label.classes) out.push(`| ${cell(c.name)} | ${c.count} | ${pct(c.share)} |`);
    if (report.label.missing || report.label.unknown) out.push(`| (missing) | ${report.label.missing} | |`, `| (no class) | ${report.label.unknown} | |`);
    out.push("");
  }

  const d = report.drift;
  if (!d.skipped) {
    out.push(`### Drift against ${cell(d.reference ?? "the reference")}`, "");
    out.push(
      `Numeric columns are judged by **${d.numeric_method === "ks" ? "Kolmogorov-Smirnov" : "PSI"}**, categorical ones by **${d.categorical_method === "chi2" ? "chi-square" : "PSI"}**; all statistics are shown. ` +
        `PSI ≥ ${d.psi_threshold} counts as drift. KS and chi-square flag a column only when p < ${d.alpha} **and** the effect is large enough ` +
        `(KS D ≥ ${d.ks_min_effect}, Cramér's V ≥ ${d.chi2_min_effect}): with ${d.reference_rows?.toLocaleString("en-US") ?? "many"} reference rows and ${report.data.rows.toLocaleString("en-US")} new ones, ` +
        "a p-value alone would call even a trivial shift significant.",
      "",
    );
    if (d.calibration) out.push(`**Calibration** (${d.calibration.method.replace("_", " ")}): ${cell(d.calibration.description)}. Each column's threshold is the larger of the fixed one and the calibrated one.`, "");
    out.push("| column | method | PSI | KS D / χ² | p | effect | threshold | calibrated | drifted |", "|---|---|---|---|---|---|---|---|---|");
    for (const c of d.columns) {
      out.push(
        `| ${cell(c.column)} | ${c.method} | ${num(c.psi)} | ${num(c.statistic)} | ${num(c.p_value)} | ${num(c.effect)} | ${num(c.threshold ?? null)} | ${num(c.calibrated_threshold ?? null)} | ${c.drifted ? "**yes**" : "no"}${c.note ? ` (${cell(c.note)})` : ""} |`,
      );
    }
    out.push("");
    for (const note of d.notes) out.push(`- ${note}`);
    if (d.notes.length) out.push("");
    const scored = d.columns.filter((c) => c.psi !== null);
    if (scored.length) {
      const max = Math.max(d.psi_threshold * 1.5, ...scored.map((c) => c.psi!));
      out.push(barChart(`PSI per feature (drift at ≥ ${d.psi_threshold})`, "PSI", scored.map((c) => c.column), scored.map((c) => c.psi!), max), "");
    }
  }
  return out.join("\n");
}
