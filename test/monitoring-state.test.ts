import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel } from "../pipeline/data/label.js";
import { writeGeneratedCsv } from "../pipeline/data/csv-writer.js";
import { cellText, isMissing, type Table } from "../pipeline/data/table.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import { createMonitor, type PredictionEntry } from "../pipeline/serve/monitoring/state.js";
import { createJsonlLog } from "../pipeline/serve/monitoring/jsonl-log.js";
import { labelScores } from "../pipeline/train/metrics.js";
import { validateData } from "../pipeline/validate-data/index.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

let model: ModelArtifact;
let loaded: LoadedConfig;
let dir: string;

beforeAll(async () => {
  model = await loadModel(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"));
  loaded = await loadConfig(join(PROJECT_ROOT, "config/pipeline.yaml"), PROJECT_ROOT);
  dir = await mkdtemp(join(tmpdir(), "monitoring-state-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The table's rows as records of the model's features (what the predict routes hand over). */
function recordsOf(table: Table, features: string[]): Record<string, number | string | null>[] {
  const out: Record<string, number | string | null>[] = [];
  for (let i = 0; i < table.rowCount; i++) {
    const r: Record<string, number | string | null> = {};
    for (const f of features) {
      const c = table.columns.get(f)!;
      r[f] = isMissing(c, i) ? null : c.kind === "category" ? cellText(c, i) : c.values[i]!;
    }
    out.push(r);
  }
  return out;
}

function entriesFor(records: Record<string, number | string | null>[], start = 0, t0 = Date.parse("2026-01-01T00:00:00Z")): PredictionEntry[] {
  const predictions = predict(model, records as never);
  return records.map((input, i) => ({
    request_id: `req-${start + i}`,
    time: t0 + (start + i) * 1000,
    input,
    class: predictions[i]!.label,
    probabilities: predictions[i]!.probabilities,
    confidence: Math.max(...Object.values(predictions[i]!.probabilities)),
    latency_ms: 0.1 + ((start + i) % 7) * 0.2,
    model_version: "1",
  }));
}

async function generated(name: string, drift: "none" | "hot-summer" | "building-stock", rows: number, seed: number): Promise<{ path: string; table: Table }> {
  const path = join(dir, `${name}.csv`);
  await writeGeneratedCsv(path, { rows, seed, drift });
  const read = await readDataset(path, loaded.config.dataset);
  return { path, table: read.table };
}

describe("prediction ring", () => {
  it("keeps at most ring_size predictions, newest first, and pages through them without gaps", async () => {
    const { table } = await generated("ring", "none", 130, 11);
    const features = model.features.map((f) => f.name);
    const monitor = createMonitor({ model, config: { ring_size: 50 } });
    for (const e of entriesFor(recordsOf(table, features))) monitor.recordPrediction(e);

    const first = monitor.predictions({ limit: 20 });
    expect(first.total).toBe(50);
    expect(first.latest_seq).toBe(130);
    expect(first.items.map((p) => p.request_id)).toEqual(Array.from({ length: 20 }, (_, i) => `req-${129 - i}`));
    const seen = [...first.items];
    let before = first.next_before;
    while (before !== null) {
      const page = monitor.predictions({ limit: 20, before });
      seen.push(...page.items);
      before = page.next_before;
    }
    // exactly the 50 newest, each once: the 80 older ones were evicted
    expect(seen.map((p) => p.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 130 - i));
    expect(monitor.metrics().predictions_total).toBe(130);
    // counts by class are over everything recorded, not only the ring
    expect(Object.values(monitor.metrics().by_class).reduce((a, b) => a + b, 0)).toBe(130);
  });
});

describe("feedback", () => {
  it("live accuracy and macro-F1 equal the training metrics on the same labels, over the window only", async () => {
    const { table } = await generated("feedback", "none", 300, 12);
    const features = model.features.map((f) => f.name);
    const monitor = createMonitor({ model, config: { feedback: { window: 200 } } });
    const entries = entriesFor(recordsOf(table, features));
    for (const e of entries) monitor.recordPrediction(e);

    // The observed label: the row's thermal sensation binned as the config bins it.
    const binned = binLabel(table, loaded.config.dataset);
    const actualOf = (i: number) => binned.classes[binned.codes[i]!]!;
    for (let i = 0; i < entries.length; i++) {
      const r = monitor.recordFeedback(entries[i]!.request_id, actualOf(i));
      expect(r.status).toBe("recorded");
    }
    const classes = model.classes;
    const window = entries.slice(-200).map((e, j) => [classes.indexOf(actualOf(100 + j)), classes.indexOf(e.class)] as const);
    const expected = labelScores(window.map((w) => w[0]), window.map((w) => w[1]), classes.length);
    const live = monitor.metrics().feedback;
    expect(live.n).toBe(200);
    expect(live.received_total).toBe(300);
    expect(live.accuracy).toBeCloseTo(expected.accuracy, 12);
    expect(live.macro_f1).toBeCloseTo(expected.macro_f1, 12);
    // the accuracy is not trivially 0 or 1 on this data, so the comparison says something
    expect(live.accuracy!).toBeGreaterThan(0.2);
    expect(live.accuracy!).toBeLessThan(1);
    // the ring entry carries the observed label
    expect(monitor.predictions({ limit: 1 }).items[0]!.actual).toBe(actualOf(299));
  });

  it("refuses unknown request ids, unknown classes and a second label for the same prediction", () => {
    const monitor = createMonitor({ model });
    const [e] = entriesFor([{ ta: 22, tr: 22, rh: 50, vel: 0.1, clo: 0.6, met: 1.1, t_out: 15, season: "spring", building_type: "office", cooling_type: "air conditioned" }]);
    monitor.recordPrediction(e!);
    expect(monitor.recordFeedback("nope", "cool").status).toBe("unknown_request");
    expect(monitor.recordFeedback(e!.request_id, "freezing")).toEqual({ status: "unknown_class", classes: model.classes });
    expect(monitor.recordFeedback(e!.request_id, "warm").status).toBe("recorded");
    expect(monitor.recordFeedback(e!.request_id, "cool")).toEqual({ status: "duplicate", actual: "warm" });
    expect(monitor.metrics().feedback.n).toBe(1);
  });

  it("forgets the oldest request ids beyond max_pending", () => {
    const monitor = createMonitor({ model, config: { feedback: { max_pending: 10 } } });
    const rec = { ta: 22, tr: 22, rh: 50, vel: 0.1, clo: 0.6, met: 1.1, t_out: 15, season: "spring", building_type: "office", cooling_type: "air conditioned" };
    for (const e of entriesFor(Array.from({ length: 15 }, () => rec))) monitor.recordPrediction(e);
    expect(monitor.recordFeedback("req-4", "cool").status).toBe("unknown_request");
    expect(monitor.recordFeedback("req-5", "cool").status).toBe("recorded");
  });

  it("a request id used again labels its newest prediction, and stays known as long as a fresh one", () => {
    const monitor = createMonitor({ model, config: { feedback: { max_pending: 3 } } });
    const rec = { ta: 22, tr: 22, rh: 50, vel: 0.1, clo: 0.6, met: 1.1, t_out: 15, season: "spring", building_type: "office", cooling_type: "air conditioned" };
    const [a, b, c, d] = entriesFor([rec, rec, rec, rec]);
    monitor.recordPrediction({ ...a!, request_id: "same", class: "cool" });
    monitor.recordPrediction({ ...b!, request_id: "other-1" });
    monitor.recordPrediction({ ...c!, request_id: "same", class: "warm" });
    monitor.recordPrediction({ ...d!, request_id: "other-2" });
    // four predictions, three kept: "other-1" is the oldest id now, "same" was renewed by its second use
    expect(monitor.recordFeedback("same", "warm")).toMatchObject({ status: "recorded", predicted: "warm", correct: true });
    expect(monitor.recordFeedback("other-2", "cool").status).toBe("recorded");
    monitor.recordPrediction({ ...a!, request_id: "newest" });
    expect(monitor.recordFeedback("other-1", "cool").status).toBe("unknown_request");
    expect(monitor.metrics().feedback.n).toBe(2);
  });

  it("keeps a predicted label that is not a model class, and leaves it out of live accuracy", () => {
    const monitor = createMonitor({ model });
    const [e] = entriesFor([{ ta: 22, tr: 22, rh: 50, vel: 0.1, clo: 0.6, met: 1.1, t_out: 15, season: "spring", building_type: "office", cooling_type: "air conditioned" }]);
    monitor.recordPrediction({ ...e!, class: "tepid" });
    expect(monitor.recordFeedback(e!.request_id, "cool")).toMatchObject({ status: "recorded", predicted: "tepid", correct: false });
    expect(monitor.metrics().feedback.n).toBe(0);
  });
});

describe("drift window", () => {
  const features = () => model.features.map((f) => f.name);

  it.each([
    ["hot-summer", 21],
    ["none", 22],
  ] as const)("gives validate-data's verdict on the same rows (%s)", async (mode, seed) => {
    const { path, table } = await generated(`drift-${mode}`, mode, 1500, seed);
    // validate-data on the rows as the service sees them: the features, without the group column
    // (building_id) that only the training data has, so neither side can calibrate by building.
    const servicePath = join(dir, `drift-${mode}-as-served.csv`);
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    const drop = lines[0]!.split(",").indexOf("building_id");
    expect(drop).toBeGreaterThanOrEqual(0);
    expect(lines.some((l) => l.includes('"'))).toBe(false); // no quoted fields: splitting on commas is exact
    await writeFile(servicePath, lines.map((l) => l.split(",").filter((_, i) => i !== drop).join(",")).join("\n") + "\n");
    const dataset = loaded.config.dataset;
    const config = { ...loaded.config, dataset: { ...dataset, columns: { ...dataset.columns, building_id: { ...dataset.columns.building_id!, required: false } } } };
    const report = await validateData({ config, root: dir, dataPath: servicePath, reference: model.reference_profile, reporter: recordingReporter() });
    expect(report.drift.columns.length).toBe(model.features.length);
    const monitor = createMonitor({ model, drift: loaded.config.drift, config: { drift: { size: 1500, min_rows: 200 } } });
    for (const e of entriesFor(recordsOf(table, features()))) monitor.recordPrediction(e);
    const live = monitor.drift();

    expect(live.window.rows).toBe(1500);
    expect(live.passed).toBe(report.drift.passed);
    expect(live.verdict).toBe(report.drift.passed ? "no_drift" : "drifted");
    expect(live.features.map((f) => f.feature).sort()).toEqual(report.drift.columns.map((c) => c.column).sort());
    for (const c of report.drift.columns) {
      const f = live.features.find((x) => x.feature === c.column)!;
      expect(f.drifted).toBe(c.drifted);
      expect(f.psi).toBeCloseTo(c.psi!, 10);
      expect(f.threshold).toBe(c.threshold ?? loaded.config.drift.psi_threshold);
      expect(f.statistic).toBeCloseTo(c.psi!, 10);
    }
    if (mode === "hot-summer") expect(live.drifted).toBeGreaterThan(0);
    // the gauge values are the same statistics
    expect(monitor.driftScores()).toEqual(Object.fromEntries(live.features.map((f) => [f.feature, f.statistic])));
  });

  it("gives no verdict below the minimum window, and one once it is reached", async () => {
    const { table } = await generated("drift-min", "hot-summer", 300, 23);
    const set: { feature: string; value: number }[] = [];
    const gauge = { set: (l: { feature: string }, v: number) => void set.push({ feature: l.feature, value: v }), reset: () => void (set.length = 0) };
    const monitor = createMonitor({ model, drift: loaded.config.drift, config: { drift: { size: 1000, min_rows: 250 } }, driftGauge: gauge });
    const entries = entriesFor(recordsOf(table, features()));
    for (const e of entries.slice(0, 249)) monitor.recordPrediction(e);
    const below = monitor.drift();
    expect(below.verdict).toBe("insufficient_data");
    expect(below.passed).toBeNull();
    expect(below.features.every((f) => f.drifted === null && f.statistic === null)).toBe(true);
    expect(monitor.driftScores()).toEqual({});
    expect(set).toEqual([]);
    monitor.recordPrediction(entries[249]!);
    const at = monitor.drift();
    expect(at.verdict).not.toBe("insufficient_data");
    expect(at.window.rows).toBe(250);
    expect(set.length).toBe(model.features.length);
  });

  it("a count window forgets inputs older than its size", async () => {
    const hot = await generated("window-hot", "hot-summer", 800, 24);
    const normal = await generated("window-normal", "none", 800, 25);
    const monitor = createMonitor({ model, drift: loaded.config.drift, config: { drift: { size: 800, min_rows: 200 } } });
    for (const e of entriesFor(recordsOf(hot.table, features()))) monitor.recordPrediction(e);
    expect(monitor.drift().verdict).toBe("drifted");
    for (const e of entriesFor(recordsOf(normal.table, features()), 800)) monitor.recordPrediction(e);
    expect(monitor.drift().verdict).toBe("no_drift");
  });

  it("min_interval_seconds reuses the last evaluation until it is that old", async () => {
    const { table } = await generated("drift-interval", "none", 300, 27);
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const monitor = createMonitor({ model, drift: loaded.config.drift, now: () => clock, config: { drift: { size: 1000, min_rows: 200, min_interval_seconds: 10 } } });
    const entries = entriesFor(recordsOf(table, features()));
    entries.slice(0, 250).forEach((e) => monitor.recordPrediction(e));
    expect(monitor.drift().window.rows).toBe(250);
    entries.slice(250).forEach((e) => monitor.recordPrediction(e));
    clock += 9_000;
    expect(monitor.drift().window.rows).toBe(250);
    clock += 2_000;
    expect(monitor.drift().window.rows).toBe(300);
  });

  it("a time window counts only inputs of the last `seconds`", async () => {
    const { table } = await generated("window-time", "none", 400, 26);
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const monitor = createMonitor({ model, drift: loaded.config.drift, now: () => clock, config: { drift: { window: "time", seconds: 60, min_rows: 100 } } });
    const records = recordsOf(table, features());
    // 300 inputs two minutes ago, 100 just now
    entriesFor(records.slice(0, 300), 0, clock - 120_000).forEach((e) => monitor.recordPrediction({ ...e, time: clock - 120_000 }));
    entriesFor(records.slice(300), 300).forEach((e) => monitor.recordPrediction({ ...e, time: clock }));
    expect(monitor.drift().window.rows).toBe(100);
    clock += 61_000;
    expect(monitor.drift().window.rows).toBe(0);
    expect(monitor.drift().verdict).toBe("insufficient_data");
  });
});

describe("live figures", () => {
  it("class counts, confidence histogram, latency buckets and external metrics follow what was recorded", () => {
    let clock = Date.parse("2026-01-01T00:10:30Z");
    const monitor = createMonitor({ model, now: () => clock, config: { time_bucket_seconds: 60, time_buckets: 5 } });
    const base = { input: {}, probabilities: {}, model_version: "1" };
    monitor.recordPrediction({ ...base, request_id: "a", time: clock - 120_000, class: "cool", confidence: 0.95, latency_ms: 0.3 });
    monitor.recordPrediction({ ...base, request_id: "b", time: clock - 120_000, class: "warm", confidence: 0.55, latency_ms: 4 });
    monitor.recordPrediction({ ...base, request_id: "c", time: clock, class: "warm", confidence: 0.71, latency_ms: 1.5 });
    const m = monitor.metrics();
    expect(m.by_class).toEqual({ cool: 1, neutral: 0, warm: 2 });
    expect(m.confidence.counts).toEqual([0, 0, 0, 0, 0, 1, 0, 1, 0, 1]);
    const buckets = m.timeseries.buckets;
    expect(buckets).toHaveLength(5);
    expect(buckets.map((b) => b.count)).toEqual([0, 0, 2, 0, 1]);
    expect(buckets[2]!.classes).toEqual({ cool: 1, warm: 1 });
    expect(buckets[2]!.max_ms).toBe(4);
    expect(buckets[2]!.mean_ms).toBeCloseTo(2.15, 12);
    expect(m.latency_ms.max).toBe(4);

    monitor.recordExternalMetric({ name: "audit_accuracy", value: 0.81, source: "audit-2025-12" });
    clock += 1000;
    monitor.recordExternalMetric({ name: "audit_accuracy", value: 0.84, source: "audit-2026-01", time: "2026-01-01T00:00:00Z" });
    const ext = monitor.metrics().external;
    expect(ext.latest).toEqual([expect.objectContaining({ name: "audit_accuracy", value: 0.84, source: "audit-2026-01", time: "2026-01-01T00:00:00Z" })]);
    expect(ext.history.map((x) => x.value)).toEqual([0.84, 0.81]);
    // time buckets move with the clock: two minutes later the old bucket has slid further back
    clock += 120_000;
    expect(monitor.metrics().timeseries.buckets.map((b) => b.count)).toEqual([2, 0, 1, 0, 0]);
  });
});

describe("JSONL log", () => {
  it("appends every prediction and rotates by size, keeping `keep` old files", async () => {
    const logDir = join(dir, "log");
    const path = join(logDir, "predictions.jsonl");
    const monitor = createMonitor({ model, config: { log: { path, max_bytes: 4000, keep: 2 } } });
    const base = { input: { ta: 21.5 }, probabilities: { cool: 0.1, neutral: 0.8, warm: 0.1 }, model_version: "1", class: "neutral", confidence: 0.8, latency_ms: 0.2 };
    for (let i = 0; i < 100; i++) monitor.recordPrediction({ ...base, request_id: `r-${String(i).padStart(3, "0")}`, time: 1_700_000_000_000 + i });
    await monitor.close();
    const files = (await readdir(logDir)).sort();
    expect(files).toEqual(["predictions.jsonl", "predictions.jsonl.1", "predictions.jsonl.2"]);
    const lines: string[] = [];
    for (const f of ["predictions.jsonl.2", "predictions.jsonl.1", "predictions.jsonl"]) {
      const text = await readFile(join(logDir, f), "utf8");
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4000);
      lines.push(...text.trim().split("\n"));
    }
    const ids = lines.map((l) => (JSON.parse(l) as { request_id: string }).request_id);
    // the newest lines survive, in order, with no gaps between the kept files
    const last = Number(ids[ids.length - 1]!.slice(2));
    expect(last).toBe(99);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => `r-${String(100 - ids.length + i).padStart(3, "0")}`));
    expect(ids.length).toBeLessThan(100);
  });

  it("reports a write failure instead of throwing", async () => {
    const errors: Error[] = [];
    const log = createJsonlLog({ path: join(dir, "no-such-file-as-dir.jsonl", "x", "\0bad"), maxBytes: 100, keep: 1, onError: (e) => errors.push(e) });
    log.append({ a: 1 });
    await log.close();
    expect(errors).toHaveLength(1);
  });
});
