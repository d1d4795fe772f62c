import type { EvaluationMetrics, GateResult, ModelValidationReport } from "./report.js";

/**
 * The Markdown summary of a model validation: what a reviewer reads in the job summary and in
 * the promotion pull request. GitHub renders the Mermaid blocks as charts.
 */

const MAIN_METRICS = ["accuracy", "balanced_accuracy", "macro_f1"] as const;

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return "—";
  return Number.isFinite(x) ? Number(x.toFixed(digits)).toString() : String(x);
}

function delta(challenger: number, champion: number | null | undefined): string {
  if (champion === null || champion === undefined) return "—";
  const d = challenger - champion;
  return `${d > 0 ? "+" : ""}${num(d)}`;
}

function icon(g: GateResult): string {
  return g.skipped ? "⏭️" : g.passed ? "✅" : "❌";
}

function mermaidLabel(s: string): string {
  return `"${s.replace(/"/g, "'")}"`;
}

function metricsRows(challenger: EvaluationMetrics, champion: EvaluationMetrics | null): string[] {
  const rows: [string, number, number | null, boolean][] = [
    ["accuracy", challenger.accuracy, champion?.accuracy ?? null, true],
    ["balanced accuracy", challenger.balanced_accuracy, champion?.balanced_accuracy ?? null, true],
    ["macro-F1", challenger.macro_f1, champion?.macro_f1 ?? null, true],
    ["log loss", challenger.log_loss, champion?.log_loss ?? null, false],
    ["calibration error (ECE)", challenger.ece, champion?.ece ?? null, false],
  ];
  for (const [cls, p] of Object.entries(challenger.per_class)) {
    const c = champion?.per_class[cls];
    rows.push([`recall: ${cls}`, p.recall, c?.recall ?? null, true]);
    rows.push([`F1: ${cls}`, p.f1, c?.f1 ?? null, true]);
  }
  return rows.map(([name, a, b, higher]) => {
    const better = b === null ? "" : (higher ? a > b : a < b) ? " ▲" : a === b ? "" : " ▼";
    return `| ${cell(name)} | ${num(b)} | ${num(a)} | ${delta(a, b)}${better} |`;
  });
}

export function renderModelValidationMarkdown(report: ModelValidationReport): string {
  const out: string[] = [];
  const failed = report.gates.filter((g) => !g.passed && !g.skipped);
  out.push(`## Model validation: ${report.passed ? "✅ passed" : `❌ failed (${failed.length} gate${failed.length === 1 ? "" : "s"})`}`);
  out.push("");
  const ch = report.challenger;
  out.push(`- **Challenger:** \`${cell(ch.path)}\` — ${cell(ch.name)}, candidate \`${cell(ch.candidate)}\` (${ch.algorithm}), sha256 \`${ch.sha256.slice(0, 12)}\``);
  if (report.champion) {
    const c = report.champion;
    const from = c.registry_version !== null ? `v${c.registry_version} (${cell(c.source)}) ` : c.source !== c.path ? `${cell(c.source)} ` : "";
    out.push(`- **Champion:** ${from}\`${cell(c.path)}\` — candidate \`${cell(c.candidate)}\`, sha256 \`${c.sha256.slice(0, 12)}\``);
  } else {
    out.push(`- **Champion:** none — ${cell(report.champion_note ?? "no production model")}; champion gates skipped`);
  }
  const d = report.data;
  out.push(
    `- **Held-out set:** ${d.test_rows} of ${d.rows} rows of \`${cell(d.path)}\` (${d.split.method} split, test share ${d.split.test_share}, seed ${d.split.seed}), data sha256 \`${d.sha256.slice(0, 12)}\` ${d.matches_challenger_lineage ? "matches" : "**differs from**"} the challenger's training data`,
  );
  out.push("");

  out.push("### Gates");
  out.push("");
  out.push("| | Gate | Value | Baseline | Bound | Detail |");
  out.push("|---|---|---|---|---|---|");
  for (const g of report.gates) {
    out.push(`| ${icon(g)} | ${cell(g.name)} | ${num(g.value)} | ${num(g.baseline)} | ${num(g.threshold)} | ${cell(g.message)} |`);
  }
  out.push("");

  const m = report.metrics;
  out.push("### Champion vs challenger");
  out.push("");
  out.push("| Metric | Champion | Challenger | Δ |");
  out.push("|---|---|---|---|");
  out.push(...metricsRows(m.challenger, m.champion));
  out.push("");
  out.push("```mermaid");
  out.push("xychart-beta");
  // xychart-beta draws bar series on top of each other, so the champion is a line over the challenger's bars.
  out.push(`  title "Held-out metrics: challenger (bars)${m.champion ? " vs champion (line)" : ""}"`);
  out.push(`  x-axis [${MAIN_METRICS.map((k) => mermaidLabel(k.replace(/_/g, " "))).join(", ")}]`);
  out.push('  y-axis "score" 0 --> 1');
  out.push(`  bar [${MAIN_METRICS.map((k) => num(m.challenger[k])).join(", ")}]`);
  if (m.champion) out.push(`  line [${MAIN_METRICS.map((k) => num(m.champion![k])).join(", ")}]`);
  out.push("```");
  out.push("");

  if (report.slices.length > 0) {
    out.push(`### Slices (${report.slices[0]!.metric})`);
    out.push("");
    out.push("| | Slice | Rows | Champion | Challenger | Drop |");
    out.push("|---|---|---|---|---|---|");
    for (const s of report.slices) {
      const mark = s.passed === null ? "·" : s.passed ? "✅" : "❌";
      out.push(`| ${mark} | ${cell(`${s.column}=${s.value}`)} | ${s.rows} | ${num(s.champion)} | ${num(s.challenger)} | ${num(s.drop)} |`);
    }
    out.push("");
    out.push("· = reported only (fewer rows than the gate's minimum, or no champion).");
    out.push("");
  }

  if (report.sanity.cases.length > 0 || report.sanity.monotonic.length > 0) {
    out.push("### Sanity checks");
    out.push("");
    if (report.sanity.cases.length > 0) {
      out.push("| | Case | Predicted | Expected |");
      out.push("|---|---|---|---|");
      for (const c of report.sanity.cases) {
        const wanted = [c.expect !== undefined ? c.expect : null, c.expect_not?.length ? `not ${c.expect_not.join(", ")}` : null].filter(Boolean).join("; ");
        out.push(`| ${c.passed ? "✅" : "❌"} | ${cell(c.name)} | ${cell(c.predicted)} | ${cell(wanted)} |`);
      }
      out.push("");
    }
    for (const r of report.sanity.monotonic) {
      out.push(`${r.passed ? "✅" : "❌"} ${cell(r.message)}`);
      out.push("");
      out.push("```mermaid");
      out.push("xychart-beta");
      out.push(`  title ${mermaidLabel(`Mean expected class index vs ${r.feature} (${r.rows} held-out rows)`)}`);
      out.push(`  x-axis [${r.values.map((v) => mermaidLabel(num(v, 2))).join(", ")}]`);
      out.push(`  y-axis "score" 0 --> ${Math.max(1, Math.ceil(Math.max(...r.scores)))}`);
      out.push(`  line [${r.scores.map((s) => num(s)).join(", ")}]`);
      out.push("```");
      out.push("");
    }
  }

  const budget: string[] = [];
  if (report.latency) budget.push(`inference ${num(report.latency.ms_per_row, 5)} ms/row (budget ${report.latency.budget_ms_per_row}, median of ${report.latency.runs_ms.length} runs over ${report.latency.rows} rows)`);
  budget.push(`artifact ${report.artifact.bytes} bytes (budget ${report.artifact.budget_bytes})`);
  out.push(`**Budgets:** ${budget.join("; ")}`);
  out.push("");

  if (report.warnings.length > 0) {
    out.push("### Warnings");
    out.push("");
    for (const w of report.warnings) out.push(`- ${cell(w)}`);
    out.push("");
  }
  return out.join("\n");
}
