import type { PipelineConfig } from "../config/schema.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import type { ModelVersion } from "../registry/schema.js";
import { formatMetric } from "../registry/query.js";
import { headlineMetrics, type MetricsView } from "./metrics-view.js";

export interface CardInput {
  config: PipelineConfig;
  artifact: ModelArtifact;
  entry: ModelVersion;
  view: MetricsView;
  /** The production version this one replaces, if any. */
  champion: ModelVersion | null;
}

const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** `card.md`: what a reader needs to decide whether to trust this version, in the order they ask. */
export function renderModelCard({ config, artifact, entry, view, champion }: CardInput): string {
  const l = artifact.lineage;
  const out: string[] = [];
  out.push(`# Model card: ${artifact.name} v${entry.version}`, "");
  out.push("## Intended use", "");
  out.push(config.model.description ?? `Classifies \`${artifact.label.column}\` into ${artifact.classes.join(", ")}.`, "");
  out.push(
    `Predicts one of **${artifact.classes.join(", ")}** from ${artifact.features.map((f) => `\`${f.name}\``).join(", ")}. ` +
      "It is meant for inputs drawn from the same population as the training data (see Data and Slices); " +
      "it is not a substitute for measurement, and it should not drive decisions about an individual's health or safety.",
    "",
  );
  out.push("## Data", "");
  out.push("| | |", "|---|---|");
  out.push(`| dataset | \`${esc(l.data_path)}\` |`, `| sha256 | \`${l.data_sha256}\` |`, `| rows | ${l.data_rows} |`);
  out.push(`| split | ${esc(l.split.method)}: ${l.split.train_rows} train / ${l.split.test_rows} test rows (test share ${l.split.test_share}) |`);
  out.push(`| label | \`${esc(artifact.label.column)}\` → ${artifact.classes.join(", ")} |`, "");
  out.push("Features:", "");
  out.push("| feature | type | valid range / categories |", "|---|---|---|");
  for (const f of artifact.features) {
    out.push(`| \`${esc(f.name)}\` | ${f.type} | ${f.type === "number" ? (f.range ? `${f.range[0]} … ${f.range[1]}` : "any") : esc(f.categories.join(", "))} |`);
  }
  out.push("");
  out.push("## Metrics (held-out set)", "");
  const names = headlineMetrics(view.scalars, champion?.metrics ?? {});
  if (names.length) {
    out.push(champion ? `| metric | v${entry.version} | production v${champion.version} |` : `| metric | v${entry.version} |`, champion ? "|---|---:|---:|" : "|---|---:|");
    for (const m of names) out.push(champion ? `| ${esc(m)} | ${formatMetric(view.scalars[m])} | ${formatMetric(champion.metrics[m])} |` : `| ${esc(m)} | ${formatMetric(view.scalars[m])} |`);
    out.push("");
  } else out.push("No scalar metrics were recorded.", "");
  if (Object.keys(view.perClass).length) {
    const cols = [...new Set(Object.values(view.perClass).flatMap((m) => Object.keys(m)))];
    out.push(`| class | ${cols.join(" | ")} |`, `|---|${cols.map(() => "---:").join("|")}|`);
    for (const [cls, m] of Object.entries(view.perClass)) out.push(`| ${esc(cls)} | ${cols.map((c) => formatMetric(m[c])).join(" | ")} |`);
    out.push("");
  }
  out.push("## Slices", "");
  if (view.slices.length) {
    const cols = [...new Set(view.slices.flatMap((s) => Object.keys(s.metrics)))].slice(0, 4);
    out.push(`| column | value | rows | ${cols.join(" | ")} |`, `|---|---|---:|${cols.map(() => "---:").join("|")}|`);
    for (const s of view.slices) out.push(`| ${esc(s.column)} | ${esc(s.value)} | ${s.rows ?? "-"} | ${cols.map((c) => formatMetric(s.metrics[c])).join(" | ")} |`);
  } else out.push("No per-slice metrics were recorded for this version.");
  out.push("");
  out.push("## Limitations", "");
  const weak = Object.entries(view.perClass).filter(([, m]) => m.recall !== undefined && m.recall < 0.5);
  for (const [cls, m] of weak) out.push(`- Class **${esc(cls)}** has recall ${formatMetric(m.recall)}: it is often missed.`);
  const overall = view.scalars.macro_f1;
  if (overall !== undefined) {
    for (const sl of view.slices) {
      const f1 = sl.metrics.macro_f1;
      if (f1 !== undefined && f1 < overall - 0.1) out.push(`- Slice **${esc(sl.column)} = ${esc(sl.value)}** scores macro-F1 ${formatMetric(f1)} against ${formatMetric(overall)} overall${sl.rows !== null ? ` (${sl.rows} test rows)` : ""}.`);
    }
  }
  const numeric = artifact.features.filter((f) => f.type === "number" && f.range);
  if (numeric.length) out.push(`- Inputs outside the valid ranges above (${numeric.map((f) => `\`${f.name}\``).join(", ")}) are extrapolations: trees predict the edge value's class.`);
  out.push(
    `- Trained on ${l.data_rows} rows of \`${esc(l.data_path)}\`; data collected differently (other sites, seasons, instruments or survey practice) may behave differently: watch the drift report.`,
    `- The label \`${esc(artifact.label.column)}\` is a human judgement with its own noise, which bounds the accuracy any model can reach.`,
    "",
  );
  out.push("## Lineage", "");
  out.push("| | |", "|---|---|");
  out.push(`| artifact | \`${esc(entry.artifact.path)}\` (sha256 \`${entry.artifact.sha256}\`) |`);
  out.push(`| algorithm | ${artifact.model.algorithm} (${artifact.model.trees.length} tree${artifact.model.trees.length === 1 ? "" : "s"}) |`);
  out.push(`| candidate | ${esc(l.candidate)} |`, `| trainer | ${esc(l.trainer)} |`, `| seed | ${l.seed} |`);
  out.push(`| config sha256 | \`${l.config_sha256}\` |`, `| git sha | ${l.git_sha ? `\`${l.git_sha}\`` : "-"} |`, `| trained at | ${esc(l.created_at)} |`);
  out.push(`| registered at | ${entry.created_at} |`, "");
  return out.join("\n");
}
