import type { z } from "zod";
import { DriftSchema } from "../../config/schema.js";
import type { CategoryColumn, Column, NumberColumn, Table } from "../../data/table.js";
import type { ModelArtifact } from "../../model/artifact-schema.js";
// metrics.ts imports only zod and the table type: no training code comes with it, and live
// accuracy and macro-F1 are then defined exactly as in the training and validation reports.
import { labelScores } from "../../train/metrics.js";
import { detectDrift } from "../../validate-data/drift.js";
import type { DriftColumn } from "../../validate-data/report.js";
import { parseMonitoringConfig, type MonitoringConfig, type MonitoringConfigInput } from "./config.js";
import { createJsonlLog, type JsonlLog } from "./jsonl-log.js";

export type DriftConfig = z.infer<typeof DriftSchema>;

/** What the predict routes hand over for each predicted record (one call per record). */
export interface PredictionEntry {
  /** Feedback refers to predictions by this id; for a batch, give each record its own id. */
  request_id: string;
  /** ISO string, epoch ms or Date; anything unparsable is replaced by the monitor's clock. */
  time: string | number | Date;
  /** The prepared record (after the input contract): feature name → value. */
  input: Record<string, unknown>;
  class: string;
  probabilities: Record<string, number>;
  confidence: number;
  latency_ms: number;
  model_version: string;
}

/**
 * Predicted records handed over as columns, as the predict routes hold them: no object per record.
 * A batch's rows of one request id are handed over in order (one call or consecutive calls).
 */
export interface PredictionRows {
  /** The request's id. With `indexed`, record i is `${request_id}:${i}` (a batch); otherwise the one record is `request_id`. */
  request_id: string;
  indexed: boolean;
  /** The records [from, to) of the columns below. */
  from: number;
  to: number;
  /** Epoch ms. */
  time: number;
  /** The prepared records (after the input contract), as the contract's checked records carry them. */
  inputs: ArrayLike<{ readonly record: Record<string, unknown> }>;
  /** Per record, the index of its class in the model's classes. */
  classIndex: ArrayLike<number>;
  /** classes.length probabilities per record, in the model's class order: record i's start at i * classes.length. */
  probabilities: ArrayLike<number>;
  /** The same for every record of the call. */
  latency_ms: number;
  model_version: string;
}

export interface RecordedPrediction {
  seq: number;
  request_id: string;
  time: string;
  input: Record<string, unknown>;
  class: string;
  probabilities: Record<string, number>;
  confidence: number;
  latency_ms: number;
  model_version: string;
  /** The observed label, once feedback arrived for it. */
  actual: string | null;
}

export interface ExternalMetricInput {
  name: string;
  value: number;
  source: string;
  /** When the metric was measured (ISO); default: when it was recorded. */
  time?: string;
  note?: string;
}

export interface ExternalMetric {
  name: string;
  value: number;
  source: string;
  time: string;
  recorded_at: string;
  note?: string;
}

export type FeedbackResult =
  | { status: "recorded"; request_id: string; predicted: string; actual: string; correct: boolean }
  | { status: "unknown_request" }
  | { status: "unknown_class"; classes: string[] }
  | { status: "duplicate"; actual: string };

export interface LiveDriftFeature {
  feature: string;
  kind: "number" | "category";
  method: DriftColumn["method"];
  /** The value compared with `threshold`: PSI, KS D or Cramér's V (null: no verdict). */
  statistic: number | null;
  threshold: number | null;
  /** null while the window is below its minimum. */
  drifted: boolean | null;
  psi: number | null;
  /** KS D or χ², as in the validate-data report. */
  test_statistic: number | null;
  p_value: number | null;
  current_count: number;
  reference_count: number;
  note?: string;
}

export interface LiveDriftReport {
  window: { mode: "count" | "time"; size: number | null; seconds: number | null; rows: number; min_rows: number; from: string | null; to: string | null };
  /** `insufficient_data` below the minimum window; otherwise validate-data's verdict on these rows. */
  verdict: "insufficient_data" | "no_drift" | "drifted";
  passed: boolean | null;
  reference: { source: string; rows: number };
  numeric_method: DriftConfig["numeric_method"];
  categorical_method: DriftConfig["categorical_method"];
  thresholds: { psi: number; alpha: number; ks_min_effect: number; chi2_min_effect: number; max_drifted_share: number };
  features: LiveDriftFeature[];
  compared: number;
  drifted: number;
  drifted_share: number | null;
  notes: string[];
  evaluated_at: string;
}

export interface TimeBucket {
  start: string;
  count: number;
  mean_ms: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  max_ms: number | null;
  classes: Record<string, number>;
}

export interface LiveMetrics {
  since: string;
  predictions_total: number;
  by_class: Record<string, number>;
  class_share: Record<string, number>;
  confidence: { edges: number[]; counts: number[]; mean: number | null };
  /** Over the predictions in the ring (the most recent ones). */
  latency_ms: { n: number; mean: number | null; p50: number | null; p95: number | null; p99: number | null; max: number | null };
  feedback: { window: number; n: number; accuracy: number | null; macro_f1: number | null; received_total: number; correct_total: number };
  external: { latest: ExternalMetric[]; history: ExternalMetric[] };
  timeseries: { bucket_seconds: number; buckets: TimeBucket[] };
}

export interface PredictionPage {
  items: RecordedPrediction[];
  /** Predictions currently held in the ring. */
  total: number;
  latest_seq: number;
  /** Pass as `before` for the next (older) page; null when there is none. */
  next_before: number | null;
}

/** Anything with prom-client Gauge's `set` and `reset` (the drift_score{feature} gauge). */
export interface DriftGaugeLike {
  set(labels: { feature: string }, value: number): void;
  reset(): void;
}

export interface MonitorOptions {
  /** The served artifact: classes, features and the reference profile drift is measured against. */
  model: Pick<ModelArtifact, "classes" | "features" | "reference_profile">;
  /** The config's `drift` section: the same methods and thresholds validate-data uses (default: its defaults). */
  drift?: z.input<typeof DriftSchema>;
  /** The config's `serving.monitoring` section (validated here: a bad one is a ConfigError naming the key). */
  config?: MonitoringConfigInput | Record<string, unknown>;
  /** Where a relative `log.path` resolves (the repository root; default: the working directory). */
  root?: string;
  /** Where the reference came from, for the drift report (default "model reference_profile"). */
  referenceSource?: string;
  now?: () => number;
  /** Set from every drift evaluation (and cleared while there is no verdict). */
  driftGauge?: DriftGaugeLike;
  /** Write failures of the JSONL log (the log never throws into a request). */
  onLogError?: (error: Error) => void;
}

export interface Monitor {
  readonly config: MonitoringConfig;
  readonly driftConfig: DriftConfig;
  readonly classes: readonly string[];
  recordPrediction(entry: PredictionEntry): void;
  /** The same as recordPrediction for each record, without building an entry per record. */
  recordRows(rows: PredictionRows): void;
  recordFeedback(requestId: string, actual: string): FeedbackResult;
  recordExternalMetric(input: ExternalMetricInput): ExternalMetric;
  predictions(options?: { limit?: number; before?: number }): PredictionPage;
  metrics(): LiveMetrics;
  drift(): LiveDriftReport;
  /** feature → drift statistic of the current window; empty below the minimum window. */
  driftScores(): Record<string, number>;
  /** Writes the JSONL log's buffer (no-op without a log). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Latency buckets of the time series, in ms (upper edges; the last bucket is open). */
const LATENCY_EDGES_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];
const CONFIDENCE_BINS = 10;
/** Distinct unseen category values tracked per feature in the drift window; the rest share one bucket. */
const MAX_EXTRA_CATEGORIES = 1000;
const OTHER_CATEGORY = "(other)";

interface Bucket {
  index: number;
  count: number;
  sum: number;
  max: number;
  hist: Uint32Array;
  /** Per model class; labels that are not model classes in `otherClasses`. */
  classCounts: Float64Array;
  otherClasses: Map<string, number> | null;
}

interface NumericWindow {
  kind: "number";
  name: string;
  values: Float64Array;
}

interface CategoryWindow {
  kind: "category";
  name: string;
  codes: Int32Array;
  categories: string[];
  index: Map<string, number>;
  /** Values seen that the artifact does not list. */
  extra: number;
}

/**
 * The live state of a serving process. Recording is O(1) per prediction (ring slots, counters and
 * a columnar drift window written in place); everything derived — drift, percentiles, accuracy —
 * is computed when asked for, and drift is cached until a new prediction arrives.
 */
export function createMonitor(options: MonitorOptions): Monitor {
  const config = parseMonitoringConfig(options.config ?? {}, options.root ? { root: options.root } : {});
  const driftConfig = DriftSchema.parse(options.drift ?? {});
  const now = options.now ?? Date.now;
  const classes = [...options.model.classes];
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const reference = options.model.reference_profile;
  const referenceSource = options.referenceSource ?? "model reference_profile";
  const startedAt = new Date(now()).toISOString();

  // --- ring of recent predictions ---
  // The ring is columns indexed by slot, not an object per prediction: at a batch's rate the objects
  // (slot, probabilities, request id) were most of what the garbage collector had to copy. The time
  // stays epoch ms: an ISO string per prediction would cost more than all the rest of recording, so
  // public records are built when a page of predictions is read.
  const ringSize = config.ring_size;
  const k = classes.length;
  let latestSeq = 0;
  const slot = (seq: number) => (seq - 1) % ringSize;
  const inRing = (seq: number) => seq >= 1 && seq <= latestSeq && seq > latestSeq - ringSize;
  const ringIds: string[] = new Array<string>(ringSize).fill("");
  /** A batch record's index in its request (its id is `${id}:${row}`); -1 for a record on its own. */
  const ringRows = new Int32Array(ringSize).fill(-1);
  const ringTimes = new Float64Array(ringSize);
  const ringInputs: Record<string, unknown>[] = new Array<Record<string, unknown>>(ringSize).fill({});
  /** The class's index; -1 when the label is not a model class (kept in ringLabels by sequence). */
  const ringClass = new Int32Array(ringSize);
  const ringLabels = new Map<number, string>();
  const ringProba = new Float64Array(ringSize * k);
  /** Probabilities not keyed by exactly the model's classes (the monitor's API allows them), by sequence. */
  const ringProbaObjects = new Map<number, Record<string, number>>();
  const ringConfidence = new Float64Array(ringSize);
  const ringLatency = new Float64Array(ringSize);
  const ringVersions: string[] = new Array<string>(ringSize).fill("");
  const ringActual = new Int32Array(ringSize).fill(-1);

  // --- counters ---
  const classCounts = new Float64Array(k);
  const otherClassCounts = new Map<string, number>();
  const confidenceCounts = new Array<number>(CONFIDENCE_BINS).fill(0);
  let confidenceSum = 0;

  // --- time buckets ---
  const bucketMs = config.time_bucket_seconds * 1000;
  const buckets: (Bucket | undefined)[] = new Array(config.time_buckets);

  // --- feedback ---
  // Predictions awaiting feedback, in typed arrays indexed by sequence (a slot is reused max_pending
  // predictions later, and the stored sequence tells a reused slot from the entry asked for). One
  // object per pending prediction, at 100,000 of them, made the garbage collector the largest cost
  // of a loaded server and its memory grow by tens of MB. The ids are found through two maps: a
  // record on its own by its id, a batch by its request id (record i is sequence offset + i), so a
  // batch of 1,000 records is one map entry, not 1,000 new strings hashed into a 100,000-entry map.
  const maxPending = config.feedback.max_pending;
  const pendingSingle = new Map<string, number>();
  const pendingBatch = new Map<string, number>();
  const pendingSeq = new Float64Array(maxPending);
  const pendingIds: string[] = new Array<string>(maxPending).fill("");
  // A batch record's index per slot (-1: a record on its own), made with the first batch: 400 kB
  // that a server answering only single records never needs.
  let pendingRow: Int32Array | null = null;
  const pendingRowAt = (at: number) => (pendingRow === null ? -1 : pendingRow[at]!);
  const pendingPredicted = new Int32Array(maxPending);
  const pendingActual = new Int32Array(maxPending).fill(-1);
  // A predicted label that is not a model class (the monitor's API allows it) keeps its text here.
  const pendingOtherLabel = new Map<number, string>();
  const fbSize = config.feedback.window;
  const fbTrue = new Int32Array(fbSize);
  const fbPred = new Int32Array(fbSize);
  let fbCount = 0;
  let fbCorrect = 0;

  // --- external metrics ---
  const external: ExternalMetric[] = [];

  // --- drift window (columnar ring) ---
  const driftCapacity = config.drift.window === "count" ? config.drift.size : config.drift.max_rows;
  const driftTimes = new Float64Array(driftCapacity);
  let driftWritten = 0;
  const featureWindows: (NumericWindow | CategoryWindow)[] = options.model.features
    .filter((f) => reference.columns[f.name] !== undefined)
    .map((f) => {
      if (f.type === "number") return { kind: "number", name: f.name, values: new Float64Array(driftCapacity) };
      const categories = [...f.categories];
      return { kind: "category", name: f.name, codes: new Int32Array(driftCapacity), categories, index: new Map(categories.map((c, i) => [c, i])), extra: 0 };
    });
  const driftNotes = options.model.features.filter((f) => reference.columns[f.name] === undefined).map((f) => `"${f.name}" is not in the reference profile`);
  let driftCache: { seq: number; at: number; report: LiveDriftReport } | null = null;

  const log: JsonlLog | null = config.log
    ? createJsonlLog({ path: config.log.path, maxBytes: config.log.max_bytes, keep: config.log.keep, ...(options.onLogError ? { onError: options.onLogError } : {}) })
    : null;

  const timeOf = (t: PredictionEntry["time"]): number => {
    const ms = t instanceof Date ? t.getTime() : typeof t === "number" ? t : Date.parse(t);
    return Number.isFinite(ms) ? ms : now();
  };

  function recordDriftInput(input: Record<string, unknown>, ms: number): void {
    const i = driftWritten % driftCapacity;
    driftTimes[i] = ms;
    for (const w of featureWindows) {
      const v = input[w.name];
      if (w.kind === "number") {
        const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
        w.values[i] = Number.isFinite(n) ? n : NaN;
      } else if (v === null || v === undefined || v === "") {
        w.codes[i] = -1;
      } else {
        const s = String(v);
        let code = w.index.get(s);
        if (code === undefined) {
          const name = w.extra < MAX_EXTRA_CATEGORIES ? s : OTHER_CATEGORY;
          code = w.index.get(name);
          if (code === undefined) {
            code = w.categories.length;
            w.categories.push(name);
            w.index.set(name, code);
            w.extra++;
          }
        }
        w.codes[i] = code;
      }
    }
    driftWritten++;
  }

  function recordBucket(ms: number, latency: number, classIdx: number, label: string): void {
    const index = Math.floor(ms / bucketMs);
    const pos = ((index % buckets.length) + buckets.length) % buckets.length;
    let b = buckets[pos];
    if (!b || b.index !== index) {
      if (b && b.index > index) return; // older than anything kept
      b = { index, count: 0, sum: 0, max: 0, hist: new Uint32Array(LATENCY_EDGES_MS.length + 1), classCounts: new Float64Array(k), otherClasses: null };
      buckets[pos] = b;
    }
    b.count++;
    b.sum += latency;
    if (latency > b.max) b.max = latency;
    let h = 0;
    while (h < LATENCY_EDGES_MS.length && latency > LATENCY_EDGES_MS[h]!) h++;
    b.hist[h]!++;
    if (classIdx >= 0) b.classCounts[classIdx]!++;
    else (b.otherClasses ??= new Map()).set(label, (b.otherClasses.get(label) ?? 0) + 1);
  }

  /** True while the pending slot of sequence `seq` still holds the prediction recorded under (id, row). */
  const pendingHolds = (seq: number, id: string, row: number): boolean => {
    if (!(seq >= 1)) return false;
    const at = seq % maxPending;
    return pendingSeq[at] === seq && pendingRowAt(at) === row && pendingIds[at] === id;
  };

  /** The newest pending prediction with this id, or -1: a record on its own, or `${batch id}:${row}`. */
  function pendingSeqOf(requestId: string): number {
    const single = pendingSingle.get(requestId);
    let best = single !== undefined && pendingHolds(single, requestId, -1) ? single : -1;
    const colon = requestId.lastIndexOf(":");
    if (colon >= 0 && pendingBatch.size > 0) {
      const digits = requestId.slice(colon + 1);
      if (/^(0|[1-9][0-9]{0,9})$/.test(digits)) {
        const base = requestId.slice(0, colon);
        const offset = pendingBatch.get(base);
        const row = Number(digits);
        if (offset !== undefined && offset + row > best && pendingHolds(offset + row, base, row)) best = offset + row;
      }
    }
    return best;
  }

  /** Records one prediction in every structure: its probabilities from `proba` at `probaAt`, or else `probaObject` as it is. */
  function store(id: string, row: number, ms: number, input: Record<string, unknown>, classIdx: number, label: string, proba: ArrayLike<number> | null, probaAt: number, probaObject: Record<string, number> | null, confidence: number, latency: number, version: string): void {
    const seq = ++latestSeq;
    const s = slot(seq);
    const overwritten = seq - ringSize;
    if (overwritten > 0) {
      if (ringLabels.size > 0) ringLabels.delete(overwritten);
      if (ringProbaObjects.size > 0) ringProbaObjects.delete(overwritten);
    }
    ringIds[s] = id;
    ringRows[s] = row;
    ringTimes[s] = ms;
    ringInputs[s] = input;
    ringClass[s] = classIdx;
    if (classIdx < 0) ringLabels.set(seq, label);
    if (proba !== null) for (let c = 0; c < k; c++) ringProba[s * k + c] = proba[probaAt + c]!;
    else ringProbaObjects.set(seq, probaObject!);
    ringConfidence[s] = confidence;
    ringLatency[s] = latency;
    ringVersions[s] = version;
    ringActual[s] = -1;

    if (classIdx >= 0) classCounts[classIdx]!++;
    else otherClassCounts.set(label, (otherClassCounts.get(label) ?? 0) + 1);
    const c = Number.isFinite(confidence) ? Math.min(1, Math.max(0, confidence)) : 0;
    confidenceCounts[Math.min(CONFIDENCE_BINS - 1, Math.floor(c * CONFIDENCE_BINS))]!++;
    confidenceSum += c;
    recordBucket(ms, Number.isFinite(latency) ? latency : 0, classIdx, label);

    // The slot's previous entry is forgotten by its id. (Evicting the Map's oldest key instead made
    // every `keys().next()` walk past all earlier deletions: seconds per 100,000 predictions.)
    const at = seq % maxPending;
    const evicted = pendingSeq[at]!;
    if (evicted > 0) {
      if (pendingOtherLabel.size > 0) pendingOtherLabel.delete(evicted);
      const evictedId = pendingIds[at]!;
      const evictedRow = pendingRowAt(at);
      if (evictedRow < 0) {
        if (pendingSingle.get(evictedId) === evicted) pendingSingle.delete(evictedId);
      } else if (pendingBatch.get(evictedId) === evicted - evictedRow) {
        // A batch's entry goes with the last of its records still held: the next sequence is not its
        // next row. (With max_pending 1 the next sequence is the one being recorded now.)
        const next = (evicted + 1) % maxPending;
        const continues = next === at ? row === evictedRow + 1 && id === evictedId : pendingSeq[next] === evicted + 1 && pendingRowAt(next) === evictedRow + 1 && pendingIds[next] === evictedId;
        if (!continues) pendingBatch.delete(evictedId);
      }
    }
    pendingSeq[at] = seq;
    pendingIds[at] = id;
    if (row >= 0) (pendingRow ??= new Int32Array(maxPending).fill(-1))[at] = row;
    else if (pendingRow !== null) pendingRow[at] = -1;
    pendingPredicted[at] = classIdx;
    if (classIdx < 0) pendingOtherLabel.set(seq, label);
    pendingActual[at] = -1;
    // A reused request id now means its newest prediction.
    if (row < 0) pendingSingle.set(id, seq);

    recordDriftInput(input, ms);
    if (log) log.append(publicAt(seq));
  }

  /** Probabilities keyed by exactly the model's classes, in their order, go into the columns. */
  const byModelClasses = (p: Record<string, number>): boolean => {
    let n = 0;
    for (const key in p) {
      if (key !== classes[n] || typeof p[key] !== "number") return false;
      n++;
    }
    return n === k;
  };

  function recordPrediction(entry: PredictionEntry): void {
    const classIdx = classIndex.get(entry.class) ?? -1;
    const columns = byModelClasses(entry.probabilities);
    store(entry.request_id, -1, timeOf(entry.time), entry.input, classIdx, entry.class, columns ? Object.values(entry.probabilities) : null, 0, columns ? null : entry.probabilities, entry.confidence, entry.latency_ms, entry.model_version);
  }

  function recordRows(rows: PredictionRows): void {
    const ms = timeOf(rows.time);
    // Record i of the batch is sequence offset + i; consecutive calls for one batch keep the offset.
    if (rows.indexed && rows.to > rows.from) pendingBatch.set(rows.request_id, latestSeq + 1 - rows.from);
    for (let i = rows.from; i < rows.to; i++) {
      const c = rows.classIndex[i]!;
      const confidence = rows.probabilities[i * k + c]!;
      store(rows.request_id, rows.indexed ? i : -1, ms, rows.inputs[i]!.record, c, classes[c]!, rows.probabilities, i * k, null, confidence, rows.latency_ms, rows.model_version);
    }
  }

  function publicAt(seq: number): RecordedPrediction {
    const s = slot(seq);
    const row = ringRows[s]!;
    const c = ringClass[s]!;
    const actual = ringActual[s]!;
    let probabilities = ringProbaObjects.get(seq);
    if (probabilities === undefined) {
      probabilities = {};
      for (let j = 0; j < k; j++) probabilities[classes[j]!] = ringProba[s * k + j]!;
    }
    return {
      seq,
      request_id: row < 0 ? ringIds[s]! : `${ringIds[s]!}:${row}`,
      time: new Date(ringTimes[s]!).toISOString(),
      input: ringInputs[s]!,
      class: c >= 0 ? classes[c]! : ringLabels.get(seq)!,
      probabilities,
      confidence: ringConfidence[s]!,
      latency_ms: ringLatency[s]!,
      model_version: ringVersions[s]!,
      actual: actual >= 0 ? classes[actual]! : null,
    };
  }

  function recordFeedback(requestId: string, actual: string): FeedbackResult {
    const seq = pendingSeqOf(requestId);
    if (seq < 0) return { status: "unknown_request" };
    const at = seq % maxPending;
    const a = classIndex.get(actual);
    if (a === undefined) return { status: "unknown_class", classes };
    const before = pendingActual[at]!;
    if (before >= 0) return { status: "duplicate", actual: classes[before]! };
    pendingActual[at] = a;
    const predicted = pendingPredicted[at]!;
    const predictedLabel = predicted >= 0 ? classes[predicted]! : (pendingOtherLabel.get(seq) ?? "");
    const correct = predictedLabel === actual;
    // The predict routes only ever answer a model class; anything else stays out of the window.
    if (predicted >= 0) {
      const i = fbCount % fbSize;
      fbTrue[i] = a;
      fbPred[i] = predicted;
      fbCount++;
      if (correct) fbCorrect++;
    }
    if (inRing(seq)) ringActual[slot(seq)] = a;
    log?.append({ feedback: { request_id: requestId, predicted: predictedLabel, actual, time: new Date(now()).toISOString() } });
    return { status: "recorded", request_id: requestId, predicted: predictedLabel, actual, correct };
  }

  function recordExternalMetric(input: ExternalMetricInput): ExternalMetric {
    const recordedAt = new Date(now()).toISOString();
    const metric: ExternalMetric = { name: input.name, value: input.value, source: input.source, time: input.time ?? recordedAt, recorded_at: recordedAt, ...(input.note ? { note: input.note } : {}) };
    external.push(metric);
    if (external.length > config.external_metrics_max) external.shift();
    return metric;
  }

  function predictions(opts: { limit?: number; before?: number } = {}): PredictionPage {
    const limit = Math.max(1, Math.min(opts.limit ?? 50, ringSize));
    const oldest = Math.max(1, latestSeq - ringSize + 1);
    const start = opts.before !== undefined ? Math.min(opts.before - 1, latestSeq) : latestSeq;
    const items: RecordedPrediction[] = [];
    let seq = start;
    for (; seq >= oldest && items.length < limit; seq--) items.push(publicAt(seq));
    return { items, total: latestSeq === 0 ? 0 : latestSeq - oldest + 1, latest_seq: latestSeq, next_before: seq >= oldest ? seq + 1 : null };
  }

  function feedbackScores(): { n: number; accuracy: number | null; macro_f1: number | null } {
    const n = Math.min(fbCount, fbSize);
    if (n === 0) return { n: 0, accuracy: null, macro_f1: null };
    const yTrue: number[] = [];
    const yPred: number[] = [];
    for (let i = 0; i < n; i++) {
      yTrue.push(fbTrue[i]!);
      yPred.push(fbPred[i]!);
    }
    const s = labelScores(yTrue, yPred, classes.length);
    return { n, accuracy: s.accuracy, macro_f1: s.macro_f1 };
  }

  function percentile(sorted: number[], p: number): number | null {
    if (!sorted.length) return null;
    const h = (sorted.length - 1) * p;
    const lo = Math.floor(h);
    return lo >= sorted.length - 1 ? sorted[sorted.length - 1]! : sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!);
  }

  function histPercentile(b: Bucket, p: number): number {
    // The upper edge of the bucket holding the p-th value (the max for the open last bucket).
    const target = Math.ceil(p * b.count);
    let cum = 0;
    for (let h = 0; h < b.hist.length; h++) {
      cum += b.hist[h]!;
      if (cum >= target) return Math.min(h < LATENCY_EDGES_MS.length ? LATENCY_EDGES_MS[h]! : b.max, b.max);
    }
    return b.max;
  }

  function bucketClasses(b: Bucket): Record<string, number> {
    const out: Record<string, number> = {};
    for (let c = 0; c < k; c++) if (b.classCounts[c]! > 0) out[classes[c]!] = b.classCounts[c]!;
    if (b.otherClasses) for (const [label, n] of b.otherClasses) out[label] = n;
    return out;
  }

  function metrics(): LiveMetrics {
    const total = latestSeq;
    const byClassObj: Record<string, number> = {};
    for (let c = 0; c < k; c++) byClassObj[classes[c]!] = classCounts[c]!;
    for (const [c, n] of otherClassCounts) byClassObj[c] = n;
    const share: Record<string, number> = {};
    for (const [c, n] of Object.entries(byClassObj)) share[c] = total ? n / total : 0;
    const lat: number[] = [];
    for (let seq = Math.max(1, latestSeq - ringSize + 1); seq <= latestSeq; seq++) {
      const v = ringLatency[slot(seq)]!;
      if (Number.isFinite(v)) lat.push(v);
    }
    lat.sort((x, y) => x - y);
    const fb = feedbackScores();
    const latest = new Map<string, ExternalMetric>();
    for (const m of external) latest.set(m.name, m);
    const nowIndex = Math.floor(now() / bucketMs);
    const series: TimeBucket[] = [];
    for (let index = nowIndex - buckets.length + 1; index <= nowIndex; index++) {
      const b = buckets[((index % buckets.length) + buckets.length) % buckets.length];
      const start = new Date(index * bucketMs).toISOString();
      if (!b || b.index !== index || b.count === 0) {
        series.push({ start, count: 0, mean_ms: null, p50_ms: null, p95_ms: null, max_ms: null, classes: {} });
      } else {
        series.push({ start, count: b.count, mean_ms: b.sum / b.count, p50_ms: histPercentile(b, 0.5), p95_ms: histPercentile(b, 0.95), max_ms: b.max, classes: bucketClasses(b) });
      }
    }
    return {
      since: startedAt,
      predictions_total: total,
      by_class: byClassObj,
      class_share: share,
      confidence: { edges: Array.from({ length: CONFIDENCE_BINS + 1 }, (_, i) => i / CONFIDENCE_BINS), counts: [...confidenceCounts], mean: total ? confidenceSum / total : null },
      latency_ms: {
        n: lat.length,
        mean: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null,
        p50: percentile(lat, 0.5),
        p95: percentile(lat, 0.95),
        p99: percentile(lat, 0.99),
        max: lat.length ? lat[lat.length - 1]! : null,
      },
      feedback: { window: fbSize, n: fb.n, accuracy: fb.accuracy, macro_f1: fb.macro_f1, received_total: fbCount, correct_total: fbCorrect },
      external: { latest: [...latest.values()], history: [...external].reverse() },
      timeseries: { bucket_seconds: config.time_bucket_seconds, buckets: series },
    };
  }

  /** Ring positions of the rows in the current drift window, oldest first. */
  function windowRows(at: number): number[] {
    const filled = Math.min(driftWritten, driftCapacity);
    const rows: number[] = [];
    const cutoff = config.drift.window === "time" ? at - config.drift.seconds * 1000 : -Infinity;
    for (let k = driftWritten - filled; k < driftWritten; k++) {
      const i = k % driftCapacity;
      if (driftTimes[i]! >= cutoff) rows.push(i);
    }
    return rows;
  }

  function windowTable(rows: number[]): Table {
    const n = rows.length;
    const columns = new Map<string, Column>();
    for (const w of featureWindows) {
      if (w.kind === "number") {
        const values = new Float64Array(n);
        const missing = new Uint8Array(n);
        rows.forEach((r, j) => {
          const v = w.values[r]!;
          values[j] = v;
          if (Number.isNaN(v)) missing[j] = 1;
        });
        const col: NumberColumn = { kind: "number", name: w.name, values, missing };
        columns.set(w.name, col);
      } else {
        const codes = new Int32Array(n);
        rows.forEach((r, j) => (codes[j] = w.codes[r]!));
        const col: CategoryColumn = { kind: "category", name: w.name, codes, categories: [...w.categories] };
        columns.set(w.name, col);
      }
    }
    return { rowCount: n, columns };
  }

  function thresholdOf(method: DriftColumn["method"]): number | null {
    if (method === "psi") return driftConfig.psi_threshold;
    if (method === "ks") return driftConfig.ks_min_effect;
    if (method === "chi2") return driftConfig.chi2_min_effect;
    return null;
  }

  function evaluateDrift(): LiveDriftReport {
    const at = now();
    const rows = windowRows(at);
    const minRows = config.drift.min_rows;
    let first = Infinity;
    let last = -Infinity;
    for (const r of rows) {
      first = Math.min(first, driftTimes[r]!);
      last = Math.max(last, driftTimes[r]!);
    }
    const base = {
      window: {
        mode: config.drift.window,
        size: config.drift.window === "count" ? config.drift.size : null,
        seconds: config.drift.window === "time" ? config.drift.seconds : null,
        rows: rows.length,
        min_rows: minRows,
        from: rows.length ? new Date(first).toISOString() : null,
        to: rows.length ? new Date(last).toISOString() : null,
      },
      reference: { source: referenceSource, rows: reference.rows },
      numeric_method: driftConfig.numeric_method,
      categorical_method: driftConfig.categorical_method,
      thresholds: {
        psi: driftConfig.psi_threshold,
        alpha: driftConfig.alpha,
        ks_min_effect: driftConfig.ks_min_effect,
        chi2_min_effect: driftConfig.chi2_min_effect,
        max_drifted_share: driftConfig.max_drifted_share,
      },
      evaluated_at: new Date(at).toISOString(),
    };
    if (rows.length < minRows) {
      return {
        ...base,
        verdict: "insufficient_data",
        passed: null,
        features: featureWindows.map((w) => {
          const method = w.kind === "number" ? driftConfig.numeric_method : driftConfig.categorical_method;
          return {
            feature: w.name,
            kind: w.kind,
            method,
            statistic: null,
            threshold: thresholdOf(method),
            drifted: null,
            psi: null,
            test_statistic: null,
            p_value: null,
            current_count: 0,
            reference_count: reference.columns[w.name]!.count,
            note: `${rows.length} of ${minRows} inputs needed for a verdict`,
          };
        }),
        compared: 0,
        drifted: 0,
        drifted_share: null,
        notes: [...driftNotes, `the window holds ${rows.length} inputs; no verdict below ${minRows}`],
      };
    }
    const report = detectDrift(
      windowTable(rows),
      featureWindows.map((w) => w.name),
      reference,
      driftConfig,
      { source: referenceSource },
    );
    return {
      ...base,
      verdict: report.passed ? "no_drift" : "drifted",
      passed: report.passed,
      features: report.columns.map((c) => ({
        feature: c.column,
        kind: c.kind,
        method: c.method,
        statistic: c.method === "psi" ? c.psi : c.method === "skipped" ? null : c.effect,
        // validate-data reports the threshold it held the column to (fixed floor or calibrated).
        threshold: (c as { threshold?: number | null }).threshold ?? thresholdOf(c.method),
        drifted: c.method === "skipped" ? null : c.drifted,
        psi: c.psi,
        test_statistic: c.statistic,
        p_value: c.p_value,
        current_count: c.current_count,
        reference_count: c.reference_count,
        ...(c.note ? { note: c.note } : {}),
      })),
      compared: report.compared,
      drifted: report.drifted,
      drifted_share: report.drifted_share,
      notes: [...driftNotes, ...report.notes],
    };
  }

  function drift(): LiveDriftReport {
    const at = now();
    // A time window changes as rows age out, so its cache also expires after a second.
    const age = driftCache ? at - driftCache.at : Infinity;
    const fresh = driftCache && ((driftCache.seq === latestSeq && (config.drift.window === "count" || age < 1000)) || age < config.drift.min_interval_seconds * 1000);
    if (!fresh) {
      driftCache = { seq: latestSeq, at, report: evaluateDrift() };
      if (options.driftGauge) {
        options.driftGauge.reset();
        for (const [feature, value] of Object.entries(scoresOf(driftCache.report))) options.driftGauge.set({ feature }, value);
      }
    }
    return driftCache!.report;
  }

  function scoresOf(report: LiveDriftReport): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of report.features) if (f.statistic !== null && Number.isFinite(f.statistic)) out[f.feature] = f.statistic;
    return out;
  }

  return {
    config,
    driftConfig,
    classes,
    recordPrediction,
    recordRows,
    recordFeedback,
    recordExternalMetric,
    predictions,
    metrics,
    drift,
    driftScores: () => scoresOf(drift()),
    flush: () => log?.flush() ?? Promise.resolve(),
    close: () => log?.close() ?? Promise.resolve(),
  };
}
