import { stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { PipelineConfig } from "../config/schema.js";
import { writeFileAtomic } from "../core/atomic.js";
import { ConfigError, InputError } from "../core/errors.js";
import { sha256File } from "../core/hash.js";
import type { Reporter } from "../core/reporter.js";
import { readDataset } from "../data/csv.js";
import { binLabel } from "../data/label.js";
import { cellText, takeRows, type Table } from "../data/table.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { loadModel, type LoadModelOptions } from "../model/load.js";
import { predict, predictTable } from "../model/predict.js";
import { parseVersionRef, productionVersion, showVersion } from "../registry/query.js";
import { readRegistry } from "../registry/store.js";
import { findSameModel } from "../registry/identity.js";
import { modelContentHash } from "../model/identity.js";
import { configHash } from "../config/load.js";
import { classificationMetrics } from "../train/metrics.js";
import { splitRows, type SplitConfig } from "../train/split.js";
import { absoluteGates, allPassed, artifactSizeGate, championGates, classRecallGates, latencyGate, sliceGates, sliceRows, type SliceMeasurement } from "./gates.js";
import { renderModelValidationMarkdown } from "./markdown.js";
import { MODEL_VALIDATION_REPORT_VERSION, writeModelValidationReport, type EvaluationMetrics, type GateResult, type ModelValidationReport } from "./report.js";
import { checkSanityConfig, measureMsPerRow, monotonicCheck, monotonicGates, runSanityCases, sanityCaseGates, type RecordPredictor } from "./sanity.js";
import { checkThresholdConfig, knownMetricNames, metricValue } from "./thresholds.js";

export { renderModelValidationMarkdown } from "./markdown.js";
export { ModelValidationReportSchema, type ModelValidationReport, type GateResult } from "./report.js";

/**
 * The validate-model step: the champion/challenger gate. The challenger and the champion are
 * evaluated on the same held-out rows, the test split the challenger was trained with,
 * recomputed from the data and the split settings; every gate's verdict goes into one report.
 */
export interface ValidateModelInput {
  config: PipelineConfig;
  /** Repository root: relative paths (model, data, registry) resolve against it. */
  root: string;
  /** The challenger: a model.json or the directory holding it. */
  modelPath: string;
  /**
   * The baseline: "production" (the registry's production version; the default), a registry
   * version `name@vN`, a path to a model.json (or its directory), or null for none.
   */
  champion?: "production" | string | null;
  /** Overrides config.dataset.path. */
  dataPath?: string;
  reporter: Reporter;
  /** Time inference for the latency gate (default true; tests that do not gate latency turn it off). */
  measureLatency?: boolean;
  now?: () => Date;
}

interface LoadedModel {
  model: ModelArtifact;
  path: string;
  sha256: string;
  bytes: number;
}

interface Champion extends LoadedModel {
  source: string;
  registryVersion: number | null;
}

async function resolveModelFile(root: string, path: string, what: string): Promise<string> {
  const abs = resolve(root, path);
  const info = await stat(abs).catch(() => null);
  if (!info) throw new InputError(`${path}: ${what} not found (expected a model.json or the directory that holds it)`);
  return info.isDirectory() ? join(abs, "model.json") : abs;
}

async function loadModelFile(file: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const model = await loadModel(file, options);
  const [sha256, info] = await Promise.all([sha256File(file), stat(file)]);
  return { model, path: file, sha256, bytes: info.size };
}

function display(root: string, abs: string): string {
  const rel = relative(root, abs);
  return rel && !rel.startsWith("..") ? rel : abs;
}

/** Finds the champion; `note` says why there is none. */
async function resolveChampion(root: string, modelName: string, spec: string | null): Promise<{ champion: Champion | null; note: string | null }> {
  if (spec === null || spec === "none") return { champion: null, note: "no champion requested" };
  const fromRegistry = async (version: { version: number; artifact: { path: string; sha256: string } }, source: string): Promise<Champion> => {
    const file = resolve(root, version.artifact.path);
    // A registry artifact: a regular file inside the repository, never a symlink.
    const loaded = await loadModelFile(file, { inside: root, allowSymlink: false }).catch((error: unknown) => {
      throw new InputError(`champion ${source} (v${version.version}): ${(error as Error).message}`);
    });
    if (loaded.sha256 !== version.artifact.sha256) {
      throw new InputError(`champion ${source} (v${version.version}): ${version.artifact.path} has sha256 ${loaded.sha256}, but the registry records ${version.artifact.sha256}`);
    }
    return { ...loaded, source, registryVersion: version.version };
  };
  if (spec === "production") {
    const registry = await readRegistry(root);
    const prod = productionVersion(registry, modelName);
    if (!prod) return { champion: null, note: `no production model ("${modelName}" has no version tagged production in the registry)` };
    return { champion: await fromRegistry(prod, "production"), note: null };
  }
  const looksLikeRef = /^[a-z0-9][a-z0-9-]*@v?\d+$/.test(spec);
  if (looksLikeRef && !(await stat(resolve(root, spec)).catch(() => null))) {
    const registry = await readRegistry(root);
    const { version } = showVersion(registry, parseVersionRef(spec));
    return { champion: await fromRegistry(version, spec), note: null };
  }
  const file = await resolveModelFile(root, spec, "champion model");
  return { champion: { ...(await loadModelFile(file)), source: display(root, file), registryVersion: null }, note: null };
}

function sameClasses(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join("\u0000") === [...b].sort().join("\u0000");
}

/** The split the challenger was trained with: its lineage where it records one, else the config. */
function trainingSplit(config: PipelineConfig, model: ModelArtifact, warn: (message: string) => void): SplitConfig {
  const lineage = model.lineage.split as { method: string; test_share: number; seed?: unknown; time_column?: unknown };
  const split: SplitConfig = { ...config.split };
  const methods = ["group", "stratified", "time", "random"] as const;
  if ((methods as readonly string[]).includes(lineage.method)) split.method = lineage.method as SplitConfig["method"];
  if (lineage.test_share > 0 && lineage.test_share < 1) split.test_share = lineage.test_share;
  if (typeof lineage.seed === "number" && Number.isInteger(lineage.seed) && lineage.seed >= 0) split.seed = lineage.seed;
  if (typeof lineage.time_column === "string") split.time_column = lineage.time_column;
  if (split.method !== config.split.method || split.test_share !== config.split.test_share || split.seed !== config.split.seed) {
    warn(
      `the challenger was trained with split ${split.method}/${split.test_share}/seed ${split.seed}, the config says ${config.split.method}/${config.split.test_share}/seed ${config.split.seed}; the held-out set follows the challenger's lineage`,
    );
  }
  return split;
}

/** Dataset class codes → the model's class indices (models list classes in their own order). */
function labelsFor(model: ModelArtifact, dataClasses: string[], codes: Int32Array): Int32Array {
  const map = dataClasses.map((c) => model.classes.indexOf(c));
  return Int32Array.from(codes, (c) => map[c]!);
}

function evaluate(model: ModelArtifact, table: Table, rows: Int32Array, yTrue: Int32Array, what: string): { metrics: EvaluationMetrics; proba: Float64Array } {
  let proba: Float64Array;
  try {
    proba = predictTable(model, table, rows).proba;
  } catch (error) {
    throw new InputError(`${what}: cannot predict on the held-out data (${(error as Error).message})`);
  }
  return { metrics: classificationMetrics(yTrue, proba, model.classes, model.model.decision_weights), proba };
}

function pick(proba: Float64Array, k: number, idx: number[]): Float64Array {
  const out = new Float64Array(idx.length * k);
  idx.forEach((i, j) => out.set(proba.subarray(i * k, i * k + k), j * k));
  return out;
}

async function sameRegisteredModel(root: string, name: string, contentSha256: string, sha256: string): Promise<string | null> {
  const registry = await readRegistry(root).catch(() => null);
  const versions = registry?.models[name]?.versions ?? [];
  const same = await findSameModel(root, versions, contentSha256, sha256);
  return same ? `${name}@v${same.version}` : null;
}

export async function validateModel(input: ValidateModelInput): Promise<ModelValidationReport> {
  const { config, root, reporter } = input;
  const gatesConfig = config.promotion.gates;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    reporter.warning(message);
  };

  const challengerFile = await resolveModelFile(root, input.modelPath, "model");
  const challenger = await loadModelFile(challengerFile);
  const model = challenger.model;

  // Configuration errors first, before any expensive work.
  checkThresholdConfig(gatesConfig.absolute, "promotion.gates.absolute", model.classes);
  checkThresholdConfig(gatesConfig.champion, "promotion.gates.champion", model.classes);
  if (!knownMetricNames(model.classes).includes(gatesConfig.slices.metric)) {
    throw new ConfigError(`promotion.gates.slices.metric: unknown metric "${gatesConfig.slices.metric}"; expected one of ${knownMetricNames(model.classes).join(", ")}`);
  }
  for (const message of checkSanityConfig(gatesConfig.sanity, model)) warn(message);

  // "The same model as vN": same content hash as a registered version (lineage and times aside).
  const sameAs = await sameRegisteredModel(root, model.name, modelContentHash(model), challenger.sha256);
  if (sameAs) warn(`the challenger is the same model as ${sameAs} (same content hash): promoting it would change nothing`);

  const { champion, note: championNote } = await resolveChampion(root, model.name, input.champion === undefined ? "production" : input.champion);
  if (champion) {
    if (!sameClasses(champion.model.classes, model.classes)) {
      throw new InputError(`champion ${champion.source} predicts classes ${champion.model.classes.join(", ")}, the challenger ${model.classes.join(", ")}: they cannot be compared`);
    }
    if (champion.sha256 === challenger.sha256) warn(`the champion (${champion.source}) is the same artifact as the challenger`);
    const where = display(root, champion.path);
    reporter.info(`champion: ${champion.source}${champion.registryVersion !== null ? ` v${champion.registryVersion}` : ""}${where === champion.source ? "" : ` (${where})`}`);
  } else {
    reporter.info(`champion: none — ${championNote}`);
  }

  // The held-out set: the challenger's test split, recomputed.
  const dataPath = resolve(root, input.dataPath ?? config.dataset.path);
  const data = await readDataset(dataPath, config.dataset);
  const label = binLabel(data.table, config.dataset);
  // An open categorical label takes its classes from the data, so the data may lack some of the model's.
  const unknownClasses = label.classes.filter((c, i) => label.counts[i]! > 0 && !model.classes.includes(c));
  if (unknownClasses.length > 0) {
    throw new InputError(`${display(root, dataPath)}: the label has class(es) ${unknownClasses.join(", ")} that the model does not predict (${model.classes.join(", ")})`);
  }
  const labelled: number[] = [];
  for (let i = 0; i < label.codes.length; i++) if (label.codes[i]! >= 0) labelled.push(i);
  const table = labelled.length === data.table.rowCount ? data.table : takeRows(data.table, labelled);
  const codes = labelled.length === label.codes.length ? label.codes : Int32Array.from(labelled, (i) => label.codes[i]!);
  const split = trainingSplit(config, model, warn);
  const test = splitRows(table, codes, split, config.dataset).test;
  if (test.length === 0) throw new InputError(`${display(root, dataPath)}: the held-out split is empty (${table.rowCount} labelled rows)`);

  const matchesChallenger = data.sha256 === model.lineage.data_sha256;
  if (!matchesChallenger) {
    warn(`the data (sha256 ${data.sha256.slice(0, 12)}) is not the data the challenger was trained on (${model.lineage.data_sha256.slice(0, 12)}): held-out rows may overlap its training rows`);
  } else if (test.length !== model.lineage.split.test_rows) {
    warn(`the recomputed held-out set has ${test.length} rows, the challenger's lineage records ${model.lineage.split.test_rows}: the split is not the one it was trained with`);
  }
  const matchesChampion = champion ? data.sha256 === champion.model.lineage.data_sha256 : null;
  if (champion && !matchesChampion) {
    warn(`the champion was trained on other data (sha256 ${champion.model.lineage.data_sha256.slice(0, 12)}): some held-out rows may be rows it was trained on, which favours it`);
  }

  const testCodes = Int32Array.from(test, (r) => codes[r]!);
  const challengerTrue = labelsFor(model, label.classes, testCodes);
  const challengerEval = evaluate(model, table, test, challengerTrue, `challenger ${display(root, challengerFile)}`);
  const championTrue = champion ? labelsFor(champion.model, label.classes, testCodes) : null;
  const championEval = champion ? evaluate(champion.model, table, test, championTrue!, `champion ${champion.source}`) : null;

  // Slices: every value of every configured column, on the same rows for both models.
  const measurements: SliceMeasurement[] = [];
  for (const columnName of gatesConfig.slices.columns) {
    const column = table.columns.get(columnName);
    if (!column) throw new ConfigError(`promotion.gates.slices.columns: column "${columnName}" is not in the data`);
    const members = new Map<string, number[]>();
    for (let i = 0; i < test.length; i++) {
      const text = cellText(column, test[i]!);
      if (text === "") continue;
      const list = members.get(text);
      if (list) list.push(i);
      else members.set(text, [i]);
    }
    for (const value of [...members.keys()].sort()) {
      const idx = members.get(value)!;
      const sliceMetric = (m: ModelArtifact, yTrue: Int32Array, proba: Float64Array) => {
        const metrics = classificationMetrics(Int32Array.from(idx, (i) => yTrue[i]!), pick(proba, m.classes.length, idx), m.classes, m.model.decision_weights);
        return metricValue(metrics, gatesConfig.slices.metric) ?? null;
      };
      measurements.push({
        column: columnName,
        value,
        rows: idx.length,
        challenger: sliceMetric(model, challengerTrue, challengerEval.proba),
        champion: champion ? sliceMetric(champion.model, championTrue!, championEval!.proba) : null,
      });
    }
  }
  const slices = sliceRows(measurements, gatesConfig.slices);

  const predictor: RecordPredictor = (records) => predict(model, records);
  const cases = runSanityCases(gatesConfig.sanity.cases, predictor);
  const monotonic = gatesConfig.sanity.monotonic.map((m) => monotonicCheck(model, m, table, test));

  let latency: ModelValidationReport["latency"] = null;
  if (input.measureLatency !== false) {
    const timing = measureMsPerRow(() => predictTable(model, table, test), test.length);
    latency = { ms_per_row: timing.msPerRow, runs_ms: timing.runsMs, rows: test.length, budget_ms_per_row: gatesConfig.sanity.max_latency_ms_per_row };
  }

  const noChampion = championNote ?? "no champion";
  const gates: GateResult[] = [
    ...absoluteGates(gatesConfig.absolute, challengerEval.metrics, championEval?.metrics ?? null, noChampion),
    ...classRecallGates(gatesConfig.min_class_recall, challengerEval.metrics),
    ...championGates(gatesConfig.champion, challengerEval.metrics, championEval?.metrics ?? null, noChampion),
    ...sliceGates(slices, gatesConfig.slices, champion !== null, noChampion),
    ...sanityCaseGates(cases),
    ...monotonicGates(monotonic),
    latencyGate(latency?.ms_per_row ?? null, gatesConfig.sanity.max_latency_ms_per_row),
    artifactSizeGate(challenger.bytes, gatesConfig.sanity.max_artifact_bytes),
  ];
  const passed = allPassed(gates);

  const ref = (m: LoadedModel) => ({
    path: display(root, m.path),
    sha256: m.sha256,
    bytes: m.bytes,
    name: m.model.name,
    candidate: m.model.lineage.candidate,
    algorithm: m.model.model.algorithm,
    data_sha256: m.model.lineage.data_sha256,
    content_sha256: modelContentHash(m.model),
  });
  const report: ModelValidationReport = {
    version: MODEL_VALIDATION_REPORT_VERSION,
    created_at: (input.now ?? (() => new Date()))().toISOString(),
    passed,
    config_sha256: configHash(config),
    same_as: sameAs,
    gates,
    challenger: ref(challenger),
    champion: champion ? { ...ref(champion), source: champion.source, registry_version: champion.registryVersion } : null,
    champion_note: champion ? null : championNote,
    data: {
      path: display(root, dataPath),
      sha256: data.sha256,
      rows: data.table.rowCount,
      test_rows: test.length,
      split: { method: split.method, test_share: split.test_share, seed: split.seed },
      matches_challenger_lineage: matchesChallenger,
      matches_champion_lineage: matchesChampion,
    },
    metrics: { challenger: challengerEval.metrics, champion: championEval?.metrics ?? null },
    slices,
    sanity: { cases, monotonic },
    latency,
    artifact: { bytes: challenger.bytes, budget_bytes: gatesConfig.sanity.max_artifact_bytes },
    warnings,
  };

  for (const g of gates) {
    const line = `${g.skipped ? "skip" : g.passed ? "pass" : "FAIL"} ${g.name}: ${g.message}`;
    if (!g.passed && !g.skipped) reporter.error(line);
    else reporter.info(line);
  }
  const failed = gates.filter((g) => !g.passed && !g.skipped);
  reporter.info(passed ? `validate-model: passed (${gates.length} gates)` : `validate-model: failed ${failed.length} gate(s): ${failed.map((g) => g.name).join(", ")}`);
  reporter.summary(renderModelValidationMarkdown(report));
  reporter.output("passed", String(passed));
  reporter.output("failed-gates", failed.map((g) => g.name).join(","));
  return report;
}

/** Writes the JSON report and the Markdown summary (each atomically) where asked. */
export async function writeModelValidationOutputs(report: ModelValidationReport, paths: { out?: string; summary?: string }): Promise<void> {
  if (paths.out) await writeModelValidationReport(paths.out, report);
  if (paths.summary) await writeFileAtomic(paths.summary, renderModelValidationMarkdown(report));
}
