import type { ModelArtifact } from "../model/artifact-schema.js";
import type { ModelVersion } from "../registry/schema.js";
import { formatMetric } from "../registry/query.js";
import { headlineMetrics, lowerIsBetter, type MetricsView } from "./metrics-view.js";
import type { ValidationReportView } from "./source.js";

export interface PrBodyInput {
  name: string;
  kind: "promotion" | "rollback";
  /** The version that becomes production. */
  challenger: ModelVersion;
  challengerView: MetricsView;
  artifact: ModelArtifact | null;
  /** The production version it replaces. */
  champion: ModelVersion | null;
  validation: ValidationReportView | null;
  /** A drift section (validate-model's, else validate-data's report). */
  drift: unknown;
  /** Versions this PR registers besides the challenger (a superseded promotion stacked underneath). */
  alsoRegistered?: number[];
  reason?: string;
}

/** GitHub refuses bodies over 65,536 characters. */
export const MAX_BODY_CHARS = 65_000;

/** Marker that lets a later run recognise the PR as the pipeline's own. */
export function prMarker(name: string, version: number, kind: "promotion" | "rollback"): string {
  return `<!-- gitops-ml-pipeline:${kind} model=${name} version=${version} -->`;
}

export function prTitle(input: { name: string; kind: "promotion" | "rollback"; challenger: ModelVersion; champion: ModelVersion | null }): string {
  const from = input.champion ? ` (from v${input.champion.version})` : "";
  return input.kind === "rollback"
    ? `Roll back ${input.name} to v${input.challenger.version}${from}`
    : `Promote ${input.name} v${input.challenger.version} to production${from}`;
}

const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const label = (s: string) => JSON.stringify(s.replace(/"/g, "'"));
const round = (x: number) => Number(x.toFixed(4));

function delta(metric: string, now: number | undefined, before: number | undefined): string {
  if (now === undefined || before === undefined) return "-";
  const d = now - before;
  if (Math.abs(d) < 5e-5) return "±0";
  const better = lowerIsBetter(metric) ? d < 0 : d > 0;
  return `${d > 0 ? "+" : "−"}${Math.abs(d).toFixed(4)} ${better ? "🟢" : "🔴"}`;
}

export function renderPrBody(input: PrBodyInput): string {
  const { name, challenger: ch, champion: cp, challengerView: view } = input;
  const out: string[] = [prMarker(name, ch.version, input.kind), ""];
  if (input.kind === "rollback") {
    out.push(`Rolls **${name}** back: \`production\` moves from v${cp?.version ?? "?"} to **v${ch.version}**, and v${cp?.version ?? "?"} is archived.`);
    if (input.reason) out.push("", `Reason: ${input.reason}`);
  } else {
    out.push(
      cp
        ? `Promotes **${name} v${ch.version}** to production. It replaces v${cp.version}, which this PR tags \`archived\`.`
        : `Registers **${name} v${ch.version}** as the first production version.`,
    );
  }
  out.push("", "Merging this pull request is the promotion: the push to the base branch deploys the version tagged `production`.", "");
  if (input.alsoRegistered?.length) {
    out.push(`> This PR supersedes an earlier open promotion; it also registers ${input.alsoRegistered.map((v) => `v${v}`).join(", ")} (validated, not production) so no version is lost.`, "");
  }

  out.push(`## ${cp ? "Champion vs challenger" : "Metrics"}`, "");
  const names = headlineMetrics(ch.metrics, cp?.metrics ?? {});
  if (cp) {
    out.push(`| metric | production v${cp.version} | ${input.kind === "rollback" ? "target" : "challenger"} v${ch.version} | Δ |`, "|---|---:|---:|---:|");
    for (const m of names) out.push(`| ${esc(m)} | ${formatMetric(cp.metrics[m])} | ${formatMetric(ch.metrics[m])} | ${delta(m, ch.metrics[m], cp.metrics[m])} |`);
  } else {
    out.push(`| metric | v${ch.version} |`, "|---|---:|");
    for (const m of names) out.push(`| ${esc(m)} | ${formatMetric(ch.metrics[m])} |`);
  }
  out.push("");
  const unitMetrics = names.filter((m) => !lowerIsBetter(m) && !/std|stderr/.test(m) && [ch.metrics[m], cp?.metrics[m]].every((x) => x === undefined || (x >= 0 && x <= 1)) && ch.metrics[m] !== undefined).slice(0, 8);
  if (unitMetrics.length) {
    out.push("```mermaid", "xychart-beta", `  title "Held-out metrics${cp ? `: v${cp.version} (first bar) vs v${ch.version}` : ""}"`);
    out.push(`  x-axis [${unitMetrics.map(label).join(", ")}]`, '  y-axis "score" 0 --> 1');
    if (cp) out.push(`  bar [${unitMetrics.map((m) => round(cp.metrics[m] ?? 0)).join(", ")}]`);
    out.push(`  bar [${unitMetrics.map((m) => round(ch.metrics[m] ?? 0)).join(", ")}]`, "```", "");
  }

  if (view.confusion) {
    const { labels, matrix } = view.confusion;
    out.push(`## Confusion matrix (v${ch.version}, held-out set)`, "", `| actual ↓ / predicted → | ${labels.map(esc).join(" | ")} |`, `|---|${labels.map(() => "---:").join("|")}|`);
    matrix.forEach((row, i) => out.push(`| **${esc(labels[i] ?? String(i))}** | ${row.join(" | ")} |`));
    out.push("");
  }
  if (view.importance.length) {
    const top = view.importance.slice(0, 10);
    const max = Math.max(...top.map((t) => t.value), 1e-9);
    // Permutation importance can be slightly negative (noise): the axis must include it.
    const min = Math.min(0, ...top.map((t) => t.value));
    out.push(`## Feature importance (v${ch.version})`, "", "```mermaid", "xychart-beta", '  title "Top features"');
    out.push(`  x-axis [${top.map((t) => label(t.feature)).join(", ")}]`, `  y-axis "importance" ${round(min * 1.1)} --> ${round(max * 1.1)}`, `  bar [${top.map((t) => round(t.value)).join(", ")}]`, "```", "");
  }
  const gatedSlices = input.validation?.slices ?? [];
  if (gatedSlices.length) {
    const metric = gatedSlices[0]!.metric ?? "metric";
    out.push(`## Slices (${esc(metric)}, champion vs challenger)`, "", "| column | value | rows | production | challenger | drop | gate |", "|---|---|---:|---:|---:|---:|---|");
    for (const s of gatedSlices.slice(0, 40)) {
      const gate = s.passed === true ? "✅" : s.passed === false ? "❌" : "-";
      out.push(`| ${esc(s.column)} | ${esc(s.value)} | ${s.rows ?? "-"} | ${formatMetric(s.champion ?? undefined)} | ${formatMetric(s.challenger ?? undefined)} | ${formatMetric(s.drop ?? undefined)} | ${gate} |`);
    }
    out.push("");
  } else if (view.slices.length) {
    const metric = view.slices.some((s) => s.metrics.macro_f1 !== undefined) ? "macro_f1" : Object.keys(view.slices[0]!.metrics)[0];
    if (metric) {
      out.push(`## Slices (${metric})`, "", "| column | value | rows | " + metric + " |", "|---|---|---:|---:|");
      for (const s of view.slices.slice(0, 40)) out.push(`| ${esc(s.column)} | ${esc(s.value)} | ${s.rows ?? "-"} | ${formatMetric(s.metrics[metric])} |`);
      out.push("");
    }
  }

  out.push("## Drift", "", ...renderDrift(input.drift), "");
  out.push("## Gates", "");
  if (input.validation && input.validation.gates.length) {
    const failed = input.validation.gates.filter((g) => !g.passed && !g.skipped).length;
    out.push(`validate-model: **${input.validation.passed === false || failed ? `failed (${failed} gate${failed === 1 ? "" : "s"})` : "passed"}**`, "", "| gate | result | detail |", "|---|---|---|");
    for (const g of input.validation.gates) out.push(`| ${esc(g.name)} | ${g.skipped ? "⏭️ skipped" : g.passed ? "✅ pass" : "❌ fail"} | ${esc(g.message ?? "")} |`);
  } else out.push(input.kind === "rollback" ? `v${ch.version} passed its gates when it was validated; the registry check on this PR re-verifies the artifact.` : "No validate-model report was given to promote.");
  out.push("");

  out.push("## Lineage", "", "| | |", "|---|---|");
  out.push(`| artifact | \`${esc(ch.artifact.path)}\` |`, `| artifact sha256 | \`${ch.artifact.sha256}\` |`);
  out.push(`| data | \`${esc(ch.data.path)}\` (${ch.data.rows} rows, sha256 \`${ch.data.sha256.slice(0, 12)}…\`) |`);
  out.push(`| config sha256 | \`${ch.config_sha256.slice(0, 12)}…\` |`, `| git sha | ${ch.git_sha ? `\`${ch.git_sha}\`` : "-"} |`);
  out.push(`| trainer | ${esc(ch.trainer.name)} ${esc(ch.trainer.version)}, candidate \`${esc(ch.trainer.candidate)}\`, seed ${ch.trainer.seed} |`);
  if (input.artifact) {
    const n = input.artifact.model.trees.length;
    out.push(`| algorithm | ${input.artifact.model.algorithm} (${n} tree${n === 1 ? "" : "s"}) |`);
  }
  out.push("");

  out.push("## Review checklist", "");
  out.push(
    "- [ ] The metric deltas are acceptable for the use of this model, not only above the gates",
    "- [ ] No slice (season, building type, …) got meaningfully worse",
    "- [ ] Drift between the training data and recent data is understood",
    "- [ ] The data and config in the lineage are the intended ones",
    `- [ ] The model card (\`models/${name}/v${ch.version}/card.md\`) describes the limitations honestly`,
    "- [ ] `pipeline registry check` passed on this PR",
    "",
  );
  let body = out.join("\n");
  if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS - 60) + "\n\n… (truncated: see the model card)\n";
  return body;
}

function renderDrift(drift: unknown): string[] {
  if (drift === undefined || drift === null) return ["No drift report was given (pass the validate-data report with --data-report)."];
  if (typeof drift !== "object") return [`Drift: ${esc(String(drift))}`];
  const d = drift as Record<string, unknown>;
  if (typeof d.skipped === "string" && d.skipped) return [`Drift was not computed: ${esc(d.skipped)}`];
  const lines: string[] = [];
  if (typeof d.reference === "string") lines.push(`Reference: ${esc(d.reference)}.`);
  if (typeof d.drifted === "boolean") lines.push(d.drifted ? "**Drift detected.**" : "No significant drift.");
  if (typeof d.drifted === "number") lines.push(`${d.drifted} of ${typeof d.compared === "number" ? d.compared : "?"} compared columns drifted.`);
  const share = d.drifted_share ?? d.share;
  if (typeof share === "number") lines.push(`Share of drifted columns: ${(share * 100).toFixed(1)}%${typeof d.max_drifted_share === "number" ? ` (limit ${(d.max_drifted_share * 100).toFixed(1)}%)` : ""}.`);
  if (typeof d.passed === "boolean") lines.push(d.passed ? "Drift check: passed." : "**Drift check: failed.**");
  const cols = d.columns ?? d.features;
  const rows: { column: string; drifted: boolean; detail: string }[] = [];
  const add = (column: string, c: unknown) => {
    if (typeof c !== "object" || c === null) return;
    const r = c as Record<string, unknown>;
    const stats = ["method", "psi", "statistic", "p_value", "effect"].filter((k) => r[k] !== undefined && r[k] !== null).map((k) => `${k} ${typeof r[k] === "number" ? round(r[k] as number) : String(r[k])}`);
    rows.push({ column, drifted: r.drifted === true, detail: stats.join(", ") });
  };
  if (Array.isArray(cols)) for (const c of cols) add(String((c as Record<string, unknown>)?.column ?? (c as Record<string, unknown>)?.name ?? "?"), c);
  else if (cols && typeof cols === "object") for (const [k, c] of Object.entries(cols)) add(k, c);
  if (rows.length) {
    lines.push("", "| column | drifted | statistics |", "|---|---|---|");
    for (const r of rows.sort((a, b) => Number(b.drifted) - Number(a.drifted)).slice(0, 30)) lines.push(`| ${esc(r.column)} | ${r.drifted ? "⚠️ yes" : "no"} | ${esc(r.detail)} |`);
  }
  return lines.length ? lines : ["The drift section has no recognised fields."];
}
