import { z } from "zod";
import { ClassificationMetricsSchema, SliceMetricsSchema } from "./metrics.js";

/**
 * metrics.json (for machines: the promotion PR, the model card, the matrix job that picks the best
 * candidate) and report.md (for people), both written by the train step.
 */

export const METRICS_REPORT_VERSION = 1;

export const CandidateScoreSchema = z
  .object({
    candidate: z.string(),
    algorithm: z.enum(["decision_tree", "random_forest", "gradient_boosting"]),
    metric: z.enum(["macro_f1", "accuracy", "balanced_accuracy"]),
    /** Score of each cross-validation fold (on the training part). */
    folds: z.array(z.number()),
    mean: z.number(),
    std: z.number(),
    fit_seconds: z.number(),
    /** The same folds without the derived physics features (dataset.physics with compare_without). */
    without_physics: z.object({ folds: z.array(z.number()), mean: z.number(), std: z.number() }).strict().optional(),
    /** With training.tune_decision_weights: the same folds with plain argmax. */
    argmax: z.object({ folds: z.array(z.number()), mean: z.number(), std: z.number() }).strict().optional(),
    /** With training.tune_decision_weights: the tuned rule's nested estimate (each fold scored with weights tuned on the others). */
    tuned: z.object({ folds: z.array(z.number()), mean: z.number(), std: z.number() }).strict().optional(),
    /** Which rule the candidate keeps: the one with the better CV figure (`folds`/`mean` are its). */
    decision_rule: z.enum(["tuned", "argmax"]).optional(),
  })
  .strict();
export type CandidateScore = z.infer<typeof CandidateScoreSchema>;

export const MetricsReportSchema = z
  .object({
    version: z.literal(METRICS_REPORT_VERSION),
    model: z.string(),
    candidate: z.string(),
    algorithm: z.enum(["decision_tree", "random_forest", "gradient_boosting"]),
    selection_metric: z.enum(["macro_f1", "accuracy", "balanced_accuracy"]),
    classes: z.array(z.string()),
    split: z
      .object({
        method: z.string(),
        test_share: z.number(),
        train_rows: z.number().int(),
        test_rows: z.number().int(),
        /** Training rows after the training-only preprocessing (drop, outlier removal, duplicates). */
        fitted_rows: z.number().int(),
        cv_folds: z.number().int(),
        grouped_by: z.string().nullable(),
      })
      .strict(),
    /** Held-out (test split) evaluation of the refitted candidate. */
    test: ClassificationMetricsSchema,
    cv: z.array(CandidateScoreSchema),
    importance: z
      .object({
        impurity: z.record(z.string(), z.number()),
        permutation: z.record(z.string(), z.object({ mean: z.number(), std: z.number() }).strict()),
      })
      .strict(),
    slices: SliceMetricsSchema,
    /** The chosen class per row is argmax of probability × weight (training.tune_decision_weights), classes order. */
    decision_weights: z.array(z.number().positive()).optional(),
  })
  .strict();
export type MetricsReport = z.infer<typeof MetricsReportSchema>;

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : String(x));

/** Mermaid labels are quoted strings; a quote inside would end them. */
const mm = (s: string) => s.replace(/"/g, "'");

function barChart(title: string, labels: string[], values: number[], yLabel: string): string[] {
  const max = Math.max(0, ...values);
  const min = Math.min(0, ...values);
  return [
    "```mermaid",
    "xychart-beta",
    `  title "${mm(title)}"`,
    `  x-axis [${labels.map((l) => `"${mm(l)}"`).join(", ")}]`,
    `  y-axis "${mm(yLabel)}" ${f3(min)} --> ${f3(max > min ? max * 1.05 : min + 1)}`,
    `  bar [${values.map(f3).join(", ")}]`,
    "```",
  ];
}

export function renderTrainReport(report: MetricsReport, modelPath: string): string {
  const t = report.test;
  const out: string[] = [];
  out.push(`# Training report: ${report.model}`, "");
  out.push(`Selected candidate **${report.candidate}** (${report.algorithm}) by cross-validated ${report.selection_metric}; artifact \`${modelPath}\`.`, "");
  out.push(
    `Split: ${report.split.method}${report.split.grouped_by ? ` by \`${report.split.grouped_by}\`` : ""}, test share ${report.split.test_share}: ${report.split.train_rows} training rows (${report.split.fitted_rows} after preprocessing), ${report.split.test_rows} test rows; ${report.split.cv_folds}-fold cross-validation on the training part.`,
    "",
  );

  out.push("## Held-out metrics", "", "| metric | value |", "|---|---|");
  for (const key of ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece"] as const) out.push(`| ${key} | ${f3(t[key])} |`);
  out.push(`| rows | ${t.n} |`, "");

  out.push("## Candidates (cross-validation)", "", `| candidate | algorithm | ${report.selection_metric} mean | std | folds | fit s |`, "|---|---|---|---|---|---|");
  for (const c of report.cv) out.push(`| ${c.candidate}${c.candidate === report.candidate ? " ✅" : ""} | ${c.algorithm} | ${f3(c.mean)} | ${f3(c.std)} | ${c.folds.map(f3).join(", ")} | ${c.fit_seconds.toFixed(1)} |`);
  out.push("");
  if (report.cv.length > 1) out.push(...barChart(`CV ${report.selection_metric} by candidate`, report.cv.map((c) => c.candidate), report.cv.map((c) => c.mean), report.selection_metric), "");

  const compared = report.cv.filter((c) => c.without_physics);
  if (compared.length > 0) {
    out.push("## Physics features (cross-validation with and without)", "", `Same folds and preprocessing; the derived features of \`dataset.physics\` left out of the second fit.`, "");
    out.push(`| candidate | ${report.selection_metric} with | without | change |`, "|---|---|---|---|");
    for (const c of compared) {
      const change = c.mean - c.without_physics!.mean;
      out.push(`| ${c.candidate} | ${f3(c.mean)} ± ${f3(c.std)} | ${f3(c.without_physics!.mean)} ± ${f3(c.without_physics!.std)} | ${change >= 0 ? "+" : ""}${f3(change)} |`);
    }
    out.push("");
  }

  const tuned = report.cv.filter((c) => c.argmax && c.tuned);
  if (tuned.length > 0) {
    out.push("## Decision weights (cross-validation tuned and plain argmax)", "");
    out.push(
      report.decision_weights
        ? `The chosen class maximises probability × weight: ${report.classes.map((c, i) => `${c} ${f3(report.decision_weights![i]!)}`).join(", ")} (tuned on the out-of-fold predictions of the selected candidate).`
        : "The selected candidate keeps plain argmax: tuned weights did not beat it out of sample.",
      "Tuned figures score each fold with weights tuned on the other folds; each candidate keeps the rule with the better figure.",
      "",
    );
    out.push(`| candidate | ${report.selection_metric} tuned | argmax | kept |`, "|---|---|---|---|");
    for (const c of tuned) out.push(`| ${c.candidate} | ${f3(c.tuned!.mean)} ± ${f3(c.tuned!.std)} | ${f3(c.argmax!.mean)} ± ${f3(c.argmax!.std)} | ${c.decision_rule} |`);
    out.push("");
  }

  out.push("## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|");
  for (const cls of report.classes) {
    const p = t.per_class[cls]!;
    out.push(`| ${cls} | ${f3(p.precision)} | ${f3(p.recall)} | ${f3(p.f1)} | ${p.support} |`);
  }
  out.push("");

  out.push("## Confusion matrix (rows: true, columns: predicted)", "", `| true \\ predicted | ${report.classes.join(" | ")} |`, `|---|${report.classes.map(() => "---").join("|")}|`);
  t.confusion_matrix.forEach((row, i) => out.push(`| **${report.classes[i]}** | ${row.join(" | ")} |`));
  out.push("");
  // Recall per true class as a chart: the diagonal of the row-normalised confusion matrix.
  out.push(...barChart("Recall per true class", report.classes, report.classes.map((c) => t.per_class[c]!.recall), "recall"), "");

  const perm = Object.entries(report.importance.permutation).sort((a, b) => b[1].mean - a[1].mean);
  const imp = Object.entries(report.importance.impurity).sort((a, b) => b[1] - a[1]);
  out.push("## Feature importance", "", "| feature | permutation (macro-F1 drop) | impurity |", "|---|---|---|");
  const order = perm.length > 0 ? perm.map(([f]) => f) : imp.map(([f]) => f);
  for (const f of order) {
    const p = report.importance.permutation[f];
    out.push(`| ${f} | ${p ? `${f3(p.mean)} ± ${f3(p.std)}` : "-"} | ${f3(report.importance.impurity[f] ?? 0)} |`);
  }
  out.push("");
  if (perm.length > 0) out.push(...barChart("Permutation importance (macro-F1 drop)", perm.map(([f]) => f), perm.map(([, v]) => v.mean), "macro-F1 drop"), "");
  else if (imp.length > 0) out.push(...barChart("Impurity importance", imp.map(([f]) => f), imp.map(([, v]) => v), "importance"), "");

  const sliceColumns = Object.keys(report.slices);
  if (sliceColumns.length > 0) {
    out.push("## Slices", "", "| column | value | rows | accuracy | macro-F1 |", "|---|---|---|---|---|");
    for (const column of sliceColumns) for (const [value, s] of Object.entries(report.slices[column]!)) out.push(`| ${column} | ${value} | ${s.n} | ${f3(s.accuracy)} | ${f3(s.macro_f1)} |`);
    out.push("");
  }
  return out.join("\n");
}
