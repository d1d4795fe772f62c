import { writeFileAtomic } from "../core/atomic.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import type { MetricsReport } from "../train/report.js";
import type { DataValidationReport } from "../validate-data/report.js";
import type { ModelValidationReport } from "../validate-model/report.js";
import { escapeXml as esc, groupedBars, heatmap, horizontalBars, PALETTE, type BarRow } from "./svg.js";

/**
 * The HTML run report (`out/run/report.html`): one self-contained file for people, with inline CSS
 * and SVG and no scripts, fonts, images or links to load, so it opens offline, from a CI artifact
 * or an e-mail attachment, and leaks nothing about who reads it. URLs of services and pull
 * requests are printed as text, never fetched or linked.
 *
 * Every input is optional: a run that stopped at validate-data still gets a report saying where it
 * stopped. The shapes are the steps' own report schemas; promotion, image and deploy results are
 * read through the small views below so that their producers can grow without breaking this.
 */
export interface StageView {
  name: string;
  exitCode: number;
  seconds: number;
  output?: string;
  /** Why a stage did not run (e.g. "no buildah or docker"). */
  skipped?: string;
}

export interface PromotionView {
  name: string;
  version: number;
  /** False when the model was already registered: nothing to promote. */
  changed?: boolean;
  sameAs?: number | null;
  validated?: boolean;
  replaced: number | null;
  dir?: string;
  files?: string[];
  branch?: string | null;
  pullRequest?: { number: number; url: string; action?: string } | null;
}

export interface ImageView {
  reference: string;
  digest: string;
  engine?: string;
  seconds?: number;
  tags?: string[];
}

export interface CheckView {
  name: string;
  passed: boolean;
  detail: string;
}

/** pipeline/deploy's DeployResult, as far as the report reads it. */
export interface DeployView {
  environment: string;
  target?: string;
  outcome: string;
  reason?: string;
  model?: { name: string; version: number; contentSha256?: string };
  image?: string;
  revision?: string;
  serviceUrl?: string;
  tagUrl?: string;
  smoke?: { passed: boolean; checks: CheckView[]; reason?: string } | null;
  steps?: { percent: number; judgement: { passed: boolean; reason?: string; checks?: CheckView[] }; heldSeconds?: number }[];
  previousSplit?: { revision: string; percent: number; tag?: string }[] | null;
  finalSplit?: { revision: string; percent: number; tag?: string }[];
  timings?: { startedAt: number; fullTrafficAt?: number; failedAt?: number; restoredAt?: number; finishedAt: number };
}

export interface SkippedView {
  skipped: string;
}

export interface RunReportInput {
  title?: string;
  /** Shown in the header; pass it pinned (SOURCE_DATE_EPOCH) for a reproducible file. */
  generatedAt?: string;
  stages?: StageView[];
  /** The stage the loop stopped at, if it stopped early. */
  stoppedAt?: string | null;
  dataValidation?: DataValidationReport | null;
  /** The train step's metrics.json. */
  training?: MetricsReport | null;
  modelValidation?: ModelValidationReport | null;
  /** model.json's lineage. */
  lineage?: ModelArtifact["lineage"] | null;
  promotion?: PromotionView | SkippedView | null;
  image?: ImageView | SkippedView | null;
  deploy?: DeployView | SkippedView | null;
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(3));
const f4 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(4));
const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : `${(x * 100).toFixed(digits)}%`);
const isSkipped = (v: unknown): v is SkippedView => typeof v === "object" && v !== null && typeof (v as SkippedView).skipped === "string";

function badge(state: "pass" | "fail" | "skip" | "warn", text: string): string {
  return `<span class="badge ${state}">${esc(text)}</span>`;
}

function table(headers: string[], rows: string[][], options: { className?: string; numeric?: number[] } = {}): string {
  const numeric = new Set(options.numeric ?? []);
  const th = headers.map((h, i) => `<th scope="col"${numeric.has(i) ? ' class="num"' : ""}>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.has(i) ? ' class="num"' : ""}>${c}</td>`).join("")}</tr>`).join("");
  return `<table${options.className ? ` class="${options.className}"` : ""}><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${esc(title)}</h2>${body}</section>`;
}

function notRun(what: string, why: string): string {
  return `<p class="note">${esc(what)} did not run: ${esc(why)}.</p>`;
}

function code(s: string | null | undefined): string {
  return s ? `<code>${esc(s)}</code>` : "–";
}

/** Why a later section is empty: the stage the loop stopped at, if any. */
function whyMissing(input: RunReportInput, stage: string): string {
  return input.stoppedAt ? `the loop stopped at ${input.stoppedAt}` : `no ${stage} result was given`;
}

function summarySection(input: RunReportInput): string {
  const parts: string[] = [];
  if (input.stages && input.stages.length > 0) {
    parts.push(
      table(
        ["stage", "result", "seconds", "output"],
        input.stages.map((s) => [
          esc(s.name),
          s.skipped ? badge("skip", `skipped: ${s.skipped}`) : s.exitCode === 0 ? badge("pass", "passed") : badge("fail", `failed (exit ${s.exitCode})`),
          s.seconds.toFixed(1),
          code(s.output),
        ]),
        { className: "stages", numeric: [2] },
      ),
    );
  }
  const facts: string[] = [];
  const dv = input.dataValidation;
  if (dv) facts.push(`<li>Data quality score <strong>${f3(dv.score)}</strong> (minimum ${f3(dv.min_score)}), ${dv.data.rows.toLocaleString("en")} rows</li>`);
  const mv = input.modelValidation;
  if (mv) facts.push(`<li>${mv.gates.filter((g) => g.passed && !g.skipped).length} of ${mv.gates.filter((g) => !g.skipped).length} gates passed${mv.champion ? ` against production${mv.champion.registry_version ? ` v${mv.champion.registry_version}` : ""}` : ""}</li>`);
  const p = input.promotion;
  if (p && !isSkipped(p)) facts.push(`<li>${p.changed === false ? `Nothing to promote: the model is v${p.sameAs ?? p.version} already` : `Registered as v${p.version}${p.replaced ? `, replacing production v${p.replaced}` : ""}`}</li>`);
  const d = input.deploy;
  if (d && !isSkipped(d)) facts.push(`<li>Deploy to ${esc(d.environment)}: ${esc(d.outcome.replace(/_/g, " "))}</li>`);
  if (facts.length) parts.push(`<ul class="facts">${facts.join("")}</ul>`);
  return section("summary", "Summary", parts.join("") || `<p class="note">No stage results were given.</p>`);
}

function dataSection(input: RunReportInput): string {
  const dv = input.dataValidation;
  if (!dv) return section("data", "Data validation", notRun("Data validation", whyMissing(input, "data validation")));
  const parts: string[] = [];
  parts.push(
    `<p>${dv.passed ? badge("pass", "passed") : badge("fail", "failed")} <code>${esc(dv.data.path)}</code>: ${dv.data.rows.toLocaleString("en")} rows, ${dv.data.columns} columns, sha256 <code>${esc(dv.data.sha256.slice(0, 12))}</code>. ` +
      `${dv.counts.error} errors, ${dv.counts.warning} warnings, ${dv.counts.info} notes.</p>`,
  );
  const components = Object.entries(dv.score_components);
  if (components.length) {
    parts.push(
      horizontalBars({
        id: "quality",
        title: `Quality score ${f3(dv.score)} (minimum ${f3(dv.min_score)}): its components`,
        rows: [
          { label: "overall score", value: dv.score, flagged: dv.score < dv.min_score, note: `${f3(dv.score)} (min ${f3(dv.min_score)})`, threshold: dv.min_score },
          ...components.map(([name, c]) => ({ label: name, value: c.value, note: `${f3(c.value)} × ${c.weight}` })),
        ],
        max: 1,
        format: (v) => v.toFixed(2),
      }),
    );
  }
  if (dv.label && dv.label.classes.length) {
    parts.push(`<h3>Label: ${esc(dv.label.column)}</h3>`);
    parts.push(horizontalBars({ id: "label", title: "Share of each class", rows: dv.label.classes.map((c) => ({ label: c.name, value: c.share, note: `${pct(c.share)} (${c.count.toLocaleString("en")})` })), format: (v) => pct(v, 0) }));
  }
  if (dv.issues.length) {
    const shown = dv.issues.slice(0, 50);
    parts.push(`<h3>Findings</h3>`);
    parts.push(
      table(
        ["severity", "check", "column", "finding", "recommendation"],
        shown.map((i) => [badge(i.severity === "error" ? "fail" : i.severity === "warning" ? "warn" : "skip", i.severity), esc(i.check), i.column ? code(i.column) : "–", esc(i.message), esc(i.recommendation ?? "")]),
        { className: "issues" },
      ),
    );
    if (dv.issues.length > shown.length) parts.push(`<p class="note">${dv.issues.length - shown.length} more findings are in the JSON report.</p>`);
  }
  if (dv.columns.length) {
    parts.push(`<details><summary>Columns (${dv.columns.length})</summary>`);
    parts.push(
      table(
        ["column", "type", "missing", "distinct", "min", "max", "mean", "outliers (IQR)"],
        dv.columns.map((c) => [code(c.name), esc(c.kind), pct(c.missing_share), c.distinct === null ? "–" : String(c.distinct), f3(c.min), f3(c.max), f3(c.mean), c.outliers_iqr === null ? "–" : String(c.outliers_iqr)]),
        { numeric: [2, 3, 4, 5, 6, 7] },
      ),
    );
    parts.push(`</details>`);
  }
  return section("data", "Data validation", parts.join(""));
}

function driftSection(input: RunReportInput): string {
  const drift = input.dataValidation?.drift;
  if (!drift) return section("drift", "Drift", notRun("Drift", whyMissing(input, "data validation")));
  if (drift.skipped) return section("drift", "Drift", `<p class="note">Not computed: ${esc(drift.skipped)}.</p>`);
  const measured = drift.columns.filter((c) => c.method !== "skipped");
  const rows: BarRow[] = measured.map((c) => {
    // Each column is judged by its method's own statistic and limit.
    const [value, threshold, what] =
      c.method === "psi" ? [c.psi ?? 0, drift.psi_threshold, "PSI"] : c.method === "ks" ? [c.effect ?? 0, drift.ks_min_effect, "KS D"] : [c.effect ?? 0, drift.chi2_min_effect, "Cramér's V"];
    return { label: c.column, value, threshold, flagged: c.drifted, note: `${what} ${f3(value)}${c.drifted ? " drifted" : ""}` };
  });
  const parts = [
    `<p>${drift.passed ? badge("pass", "passed") : badge("fail", "failed")} ${drift.drifted} of ${drift.compared} features drifted (${pct(drift.drifted_share)}; at most ${pct(drift.max_drifted_share)}), against <code>${esc(drift.reference ?? "–")}</code>${drift.reference_rows ? ` (${drift.reference_rows.toLocaleString("en")} reference rows)` : ""}. Numbers by ${esc(drift.numeric_method.toUpperCase())}, categories by ${esc(drift.categorical_method.toUpperCase())}; the black tick is each feature's limit.</p>`,
  ];
  if (rows.length) parts.push(horizontalBars({ id: "drift", title: "Drift per feature against its threshold", rows, format: (v) => v.toFixed(2) }));
  const skipped = drift.columns.filter((c) => c.method === "skipped");
  if (skipped.length) parts.push(`<p class="note">Not compared: ${skipped.map((c) => `${esc(c.column)}${c.note ? ` (${esc(c.note)})` : ""}`).join(", ")}.</p>`);
  if (drift.notes.length) parts.push(`<ul class="notes">${drift.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`);
  return section("drift", "Drift", parts.join(""));
}

/** Metrics on a 0..1 scale where higher is better: drawn side by side with production's. */
const BAR_METRICS = ["accuracy", "balanced_accuracy", "macro_f1"] as const;
const TABLE_METRICS = ["accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece"] as const;
const LOWER_BETTER = new Set(["log_loss", "ece"]);

function metricsSection(input: RunReportInput): string {
  const mv = input.modelValidation;
  const challenger = mv?.metrics.challenger ?? input.training?.test;
  if (!challenger) return section("metrics", "Model metrics", notRun("Training", whyMissing(input, "training")));
  const champion = mv?.metrics.champion ?? null;
  const prodLabel = mv?.champion ? `production${mv.champion.registry_version ? ` v${mv.champion.registry_version}` : ""}` : "production";
  const parts: string[] = [];
  const t = input.training;
  if (t) parts.push(`<p>Best candidate <code>${esc(t.candidate)}</code> (${esc(t.algorithm.replace(/_/g, " "))}), chosen by cross-validated ${esc(t.selection_metric)}; held out: ${t.split.test_rows.toLocaleString("en")} rows (${esc(t.split.method)} split${t.split.grouped_by ? ` by ${esc(t.split.grouped_by)}` : ""}).</p>`);
  parts.push(
    groupedBars({
      id: "metrics",
      title: champion ? `Held-out metrics: candidate against ${prodLabel}, same rows` : "Held-out metrics of the candidate (no production model to compare with)",
      series: champion ? ["candidate", prodLabel] : ["candidate"],
      groups: BAR_METRICS.map((m) => ({ label: m, values: champion ? [challenger[m], champion[m]] : [challenger[m]] })),
      max: 1,
      format: (v) => v.toFixed(3),
    }),
  );
  parts.push(
    table(
      ["metric", "candidate", prodLabel, "change"],
      TABLE_METRICS.map((m) => {
        const a = challenger[m];
        const b = champion?.[m];
        const delta = b === undefined ? null : a - b;
        const better = delta === null ? null : LOWER_BETTER.has(m) ? delta < 0 : delta > 0;
        const change = delta === null ? "–" : Math.abs(delta) < 5e-5 ? "=" : `<span class="${better ? "better" : "worse"}">${delta > 0 ? "+" : "−"}${Math.abs(delta).toFixed(4)}</span>`;
        return [esc(m), f4(a), champion ? f4(b) : "–", change];
      }),
      { className: "metrics", numeric: [1, 2, 3] },
    ),
  );

  const classes = t?.classes ?? Object.keys(challenger.per_class);
  if (challenger.confusion_matrix.length === classes.length && classes.length > 0) {
    parts.push(`<h3>Confusion matrix</h3>`);
    parts.push(heatmap({ id: "confusion", title: "Confusion matrix of the candidate on the held-out rows (colour: share of the true class)", rowLabels: classes, colLabels: classes, matrix: challenger.confusion_matrix, rowTitle: "true class", colTitle: "predicted class" }));
    parts.push(
      table(
        ["class", "precision", "recall", "F1", "support"],
        classes.map((c) => {
          const m = challenger.per_class[c];
          return [esc(c), f3(m?.precision), f3(m?.recall), f3(m?.f1), m ? String(m.support) : "–"];
        }),
        { numeric: [1, 2, 3, 4] },
      ),
    );
  }

  if (t) {
    const perm = Object.entries(t.importance.permutation).sort((a, b) => b[1].mean - a[1].mean);
    const impurity = Object.entries(t.importance.impurity).sort((a, b) => b[1] - a[1]);
    if (perm.length) {
      parts.push(`<h3>Feature importance</h3>`);
      parts.push(horizontalBars({ id: "importance", title: "Permutation importance: drop in the selection metric when a feature is shuffled (± std)", rows: perm.map(([f, v]) => ({ label: f, value: Math.max(0, v.mean), error: v.std, note: `${f4(v.mean)} ± ${f4(v.std)}` })), format: (v) => v.toFixed(3) }));
    } else if (impurity.length) {
      parts.push(`<h3>Feature importance</h3>`);
      parts.push(horizontalBars({ id: "importance", title: "Impurity importance", rows: impurity.map(([f, v]) => ({ label: f, value: v })) }));
    }
    if (t.cv.length) {
      parts.push(`<h3>Candidates (cross-validation)</h3>`);
      parts.push(
        table(
          ["candidate", "algorithm", t.selection_metric, "std", "folds", "fit seconds"],
          [...t.cv].sort((a, b) => b.mean - a.mean).map((c) => [c.candidate === t.candidate ? `<strong>${esc(c.candidate)}</strong>` : esc(c.candidate), esc(c.algorithm), f4(c.mean), f4(c.std), c.folds.map((x) => x.toFixed(3)).join(", "), c.fit_seconds.toFixed(1)]),
          { numeric: [2, 3, 5] },
        ),
      );
    }
  }
  return section("metrics", "Model metrics", parts.join(""));
}

function gatesSection(input: RunReportInput): string {
  const mv = input.modelValidation;
  if (!mv) return section("gates", "Promotion gates", notRun("Model validation", whyMissing(input, "model validation")));
  const parts: string[] = [];
  parts.push(`<p>${mv.passed ? badge("pass", "all gates passed") : badge("fail", "a gate failed")} ${mv.champion ? `Champion: production${mv.champion.registry_version ? ` v${mv.champion.registry_version}` : ""} (<code>${esc(mv.champion.sha256.slice(0, 12))}</code>).` : esc(mv.champion_note ?? "No champion.")}</p>`);
  parts.push(
    table(
      ["gate", "kind", "result", "value", "baseline", "threshold", "detail"],
      mv.gates.map((g) => [esc(g.name), esc(g.kind), g.skipped ? badge("skip", "skipped") : g.passed ? badge("pass", "passed") : badge("fail", "failed"), f4(g.value), f4(g.baseline), f4(g.threshold), esc(g.message)]),
      { className: "gates", numeric: [3, 4, 5] },
    ),
  );
  const gated = mv.slices.filter((s) => s.gated);
  if (mv.slices.length) {
    parts.push(`<details><summary>Slices (${mv.slices.length}, ${gated.length} gated)</summary>`);
    parts.push(
      table(
        ["slice", "rows", "metric", "candidate", "production", "drop", "result"],
        mv.slices.map((s) => [`${esc(s.column)} = ${esc(s.value)}`, String(s.rows), esc(s.metric), f3(s.challenger), f3(s.champion), f3(s.drop), s.passed === null ? badge("skip", "not gated") : s.passed ? badge("pass", "passed") : badge("fail", "failed")]),
        { numeric: [1, 3, 4, 5] },
      ),
    );
    parts.push(`</details>`);
  }
  if (mv.warnings.length) parts.push(`<ul class="notes">${mv.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`);
  return section("gates", "Promotion gates", parts.join(""));
}

function lineageSection(input: RunReportInput): string {
  const l = input.lineage;
  const mv = input.modelValidation;
  const rows: [string, string][] = [];
  if (l) {
    rows.push(["data", `${code(l.data_path)} sha256 ${code(l.data_sha256)} (${l.data_rows.toLocaleString("en")} rows)`]);
    rows.push(["config sha256", code(l.config_sha256)]);
    rows.push(["git commit", l.git_sha ? code(l.git_sha) : "– (not a git checkout)"]);
    rows.push(["trainer", `${esc(l.trainer)}, seed ${l.seed}, candidate ${code(l.candidate)}`]);
    rows.push(["split", `${esc(l.split.method)}, test share ${l.split.test_share}, ${l.split.train_rows} train / ${l.split.test_rows} test rows`]);
    rows.push(["trained at", esc(l.created_at)]);
  }
  if (mv) {
    rows.push(["candidate artifact", `${code(mv.challenger.path)} sha256 ${code(mv.challenger.sha256)} (${mv.challenger.bytes.toLocaleString("en")} bytes)`]);
    if (mv.champion) rows.push(["production artifact", `${code(mv.champion.path)} sha256 ${code(mv.champion.sha256)}`]);
    rows.push(["evaluated on", `${code(mv.data.path)} sha256 ${code(mv.data.sha256.slice(0, 12))}, ${mv.data.test_rows} held-out rows${mv.data.matches_challenger_lineage ? " (the candidate's own split)" : " (not the data the candidate was trained on)"}`]);
  }
  if (!rows.length) return section("lineage", "Lineage", notRun("Training", whyMissing(input, "training")));
  return section("lineage", "Lineage", `<dl class="lineage">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`);
}

function promotionSection(input: RunReportInput): string {
  const p = input.promotion;
  if (!p) return section("promotion", "Promotion", notRun("Promotion", whyMissing(input, "promotion")));
  if (isSkipped(p)) return section("promotion", "Promotion", `<p class="note">Skipped: ${esc(p.skipped)}.</p>`);
  const parts: string[] = [];
  if (p.changed === false) parts.push(`<p>${badge("skip", "nothing to promote")} ${esc(p.name)} has the same content as v${p.sameAs ?? p.version}: no new version.</p>`);
  else parts.push(`<p>${badge("pass", `v${p.version}`)} ${esc(p.name)} v${p.version} registered${p.validated === false ? " (not validated)" : " as validated"}${p.replaced ? `; the pull request would archive production v${p.replaced}` : ""}.</p>`);
  const rows: string[][] = [];
  if (p.dir) rows.push(["directory", code(p.dir)]);
  if (p.branch) rows.push(["branch", code(p.branch)]);
  if (p.pullRequest) rows.push(["pull request", `#${p.pullRequest.number} ${p.pullRequest.action ? `(${esc(p.pullRequest.action)}) ` : ""}${code(p.pullRequest.url)}`]);
  if (p.files?.length) rows.push(["files", p.files.map((f) => code(f)).join("<br>")]);
  if (rows.length) parts.push(`<dl class="lineage">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`);
  return section("promotion", "Promotion", parts.join(""));
}

function deploySection(input: RunReportInput): string {
  const parts: string[] = [];
  const img = input.image;
  if (img && isSkipped(img)) parts.push(`<p class="note">Image build skipped: ${esc(img.skipped)}.</p>`);
  else if (img) parts.push(`<p>Image ${code(img.reference)} digest ${code(img.digest)}${img.engine ? ` built with ${esc(img.engine)}` : ""}${img.seconds !== undefined ? ` in ${img.seconds.toFixed(1)} s` : ""}.</p>`);
  const d = input.deploy;
  if (!d) {
    parts.push(notRun("Deploy", whyMissing(input, "deploy")));
    return section("deploy", "Deploy", parts.join(""));
  }
  if (isSkipped(d)) {
    parts.push(`<p class="note">Deploy skipped: ${esc(d.skipped)}.</p>`);
    return section("deploy", "Deploy", parts.join(""));
  }
  const ok = d.outcome === "deployed" || d.outcome === "preview";
  parts.push(`<p>${badge(ok ? "pass" : d.outcome === "rolled_back" ? "warn" : "fail", d.outcome.replace(/_/g, " "))} ${d.model ? `${esc(d.model.name)} v${d.model.version} ` : ""}to ${esc(d.environment)}${d.target ? ` (${esc(d.target)})` : ""}${d.reason ? `: ${esc(d.reason)}` : ""}.</p>`);
  const rows: [string, string][] = [];
  if (d.revision) rows.push(["revision", code(d.revision)]);
  if (d.serviceUrl) rows.push(["service URL", code(d.serviceUrl)]);
  if (d.tagUrl) rows.push(["tag URL", code(d.tagUrl)]);
  if (d.image) rows.push(["image", code(d.image)]);
  const t = d.timings;
  if (t) {
    rows.push(["duration", `${((t.finishedAt - t.startedAt) / 1000).toFixed(1)} s`]);
    if (t.fullTrafficAt !== undefined) rows.push(["to 100% traffic", `${((t.fullTrafficAt - t.startedAt) / 1000).toFixed(1)} s`]);
    if (t.failedAt !== undefined && t.restoredAt !== undefined) rows.push(["failed check → traffic restored", `${((t.restoredAt - t.failedAt) / 1000).toFixed(1)} s`]);
  }
  const split = (s: { revision: string; percent: number; tag?: string }[] | null | undefined) => (s && s.length ? s.map((e) => `${esc(e.revision)} ${e.percent}%${e.tag ? ` (${esc(e.tag)})` : ""}`).join(", ") : "–");
  if (d.previousSplit !== undefined) rows.push(["traffic before", split(d.previousSplit)]);
  if (d.finalSplit) rows.push(["traffic after", split(d.finalSplit)]);
  if (rows.length) parts.push(`<dl class="lineage">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`);
  if (d.smoke) {
    parts.push(`<h3>Smoke test ${d.smoke.passed ? badge("pass", "passed") : badge("fail", "failed")}</h3>`);
    parts.push(table(["check", "result", "detail"], d.smoke.checks.map((c) => [esc(c.name), c.passed ? badge("pass", "passed") : badge("fail", "failed"), esc(c.detail)]), { className: "smoke" }));
  }
  if (d.steps && d.steps.length) {
    parts.push(`<h3>Canary</h3>`);
    parts.push(
      table(
        ["traffic", "result", "held", "checks"],
        d.steps.map((s) => [
          `${s.percent}%`,
          s.judgement.passed ? badge("pass", "passed") : badge("fail", "failed"),
          s.heldSeconds !== undefined ? `${s.heldSeconds.toFixed(0)} s` : "–",
          (s.judgement.checks ?? []).map((c) => `${c.passed ? "✔" : "✖"} ${esc(c.detail)}`).join("<br>") || esc(s.judgement.reason ?? ""),
        ]),
        { className: "canary", numeric: [0, 2] },
      ),
    );
  }
  return section("deploy", "Deploy", parts.join(""));
}

const STYLE = `
:root{color-scheme:light;--text:${PALETTE.text};--muted:${PALETTE.muted};--grid:${PALETTE.grid}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--text);background:#f6f7f9}
header{background:#fff;border-bottom:1px solid var(--grid);padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:var(--muted)}
nav{padding:8px 32px;background:#fff;border-bottom:1px solid var(--grid);font-size:13px}
nav a{color:#2451a6;margin-right:14px;text-decoration:none}
main{max-width:1000px;margin:0 auto;padding:8px 24px 48px}
section{background:#fff;border:1px solid var(--grid);border-radius:8px;margin:20px 0;padding:8px 24px 20px}
h2{font-size:18px;margin:12px 0}
h3{font-size:15px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid var(--grid);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f2f4f7;padding:1px 4px;border-radius:3px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.badge.pass{background:${PALETTE.good}}.badge.fail{background:${PALETTE.bad}}.badge.warn{background:#8a5300}.badge.skip{background:#6b7280}
.better{color:${PALETTE.good};font-weight:600}.worse{color:${PALETTE.bad};font-weight:600}
.note{color:var(--muted)}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0}
dl.lineage{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.lineage dt{color:var(--muted)}dl.lineage dd{margin:0}
details{margin:8px 0}summary{cursor:pointer;color:#2451a6}
`;

/** The report as one HTML string: a pure function of its input (no clock, no filesystem). */
export function renderRunReport(input: RunReportInput): string {
  const promoted = input.promotion && !isSkipped(input.promotion) ? input.promotion.name : undefined;
  const deployed = input.deploy && !isSkipped(input.deploy) ? input.deploy.model?.name : undefined;
  const name = input.training?.model ?? input.dataValidation?.model ?? input.modelValidation?.challenger.name ?? promoted ?? deployed ?? "model";
  const title = input.title ?? `Pipeline run: ${name}`;
  const failed = input.stages?.find((s) => s.exitCode !== 0 && !s.skipped);
  const stopped = input.stoppedAt ? input.stages?.find((s) => s.name === input.stoppedAt) : undefined;
  const overall = input.stoppedAt
    ? badge("fail", `stopped at ${input.stoppedAt}${stopped ? ` (exit ${stopped.exitCode})` : ""}`)
    : input.stages?.length
      ? failed
        ? badge("fail", `${failed.name} failed (exit ${failed.exitCode})`)
        : badge("pass", "passed")
      : "";
  const sections = [summarySection(input), dataSection(input), driftSection(input), metricsSection(input), gatesSection(input), lineageSection(input), promotionSection(input), deploySection(input)];
  const nav = [
    ["summary", "Summary"],
    ["data", "Data"],
    ["drift", "Drift"],
    ["metrics", "Metrics"],
    ["gates", "Gates"],
    ["lineage", "Lineage"],
    ["promotion", "Promotion"],
    ["deploy", "Deploy"],
  ]
    .map(([id, label]) => `<a href="#${id}">${label}</a>`)
    .join("");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Nothing may be fetched: no scripts, no remote styles, images or fonts, no referrer.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    `<header><h1>${esc(title)} ${overall}</h1><p>${input.generatedAt ? `Generated ${esc(input.generatedAt)}` : "Pipeline run report"}</p></header>`,
    `<nav aria-label="Sections">${nav}</nav>`,
    `<main>${sections.join("\n")}</main>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** Writes the report atomically (a reader never sees half a file). */
export async function writeRunReport(path: string, input: RunReportInput): Promise<void> {
  await writeFileAtomic(path, renderRunReport(input));
}
