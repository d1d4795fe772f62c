/**
 * The prediction log line (pipeline/serve/prediction-log.ts) against pino's own logger writing the
 * same fields (its `info({...})` with the server's options), both into the server's coalescing
 * destination over a sink that only counts bytes: the cost of making and encoding one line.
 * The records are the dataset's first 1,000 rows (out/bench/serve/batch-records.json, written by
 * `npm run bench:serve`), with uuid request ids; the two alternate in 16 rounds of 300,000 lines.
 *
 *   npm run bench:prediction-log
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { loadModel } from "../pipeline/model/load.js";
import { inputContract } from "../pipeline/model/input-contract.js";
import { coalescingDestination } from "../pipeline/serve/log-destination.js";
import { createPredictionLog } from "../pipeline/serve/prediction-log.js";

const ROOT = join(import.meta.dirname, "..");
const LINES = 300_000;
const ROUNDS = 16;

const model = await loadModel(join(ROOT, "models/thermal-comfort/v1/model.json"));
const contract = inputContract(model);
const fields = contract.fields.map((f) => f.name);
const knownTexts = Object.fromEntries(contract.fields.flatMap((f) => (f.type === "category" ? [[f.name, f.categories]] : [])));
const recordsFile = join(ROOT, "out/bench/serve/batch-records.json");
const recordsText = await readFile(recordsFile, "utf8").catch(() => {
  console.error(`${recordsFile}: not found; npm run bench:serve writes it (the dataset's first 1,000 records)`);
  process.exit(2);
});
const records = JSON.parse(recordsText) as Record<string, number | string | null>[];
const ids = records.map(() => randomUUID());
let lastMs = -1;
let lastTime = "";
const time = () => {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTime = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return lastTime;
};

type Writer = (i: number) => void;
function ours(): Writer {
  const dest = coalescingDestination({ write: () => true }, { minLength: 64 * 1024, flushIntervalMs: 1000 });
  const log = createPredictionLog({ destination: dest, level: "info", service: "thermal-comfort", revision: "thermal-comfort-00001", time, fields, knownTexts });
  return (i) => log.write({ requestId: ids[i % 1000]!, record: records[i % 1000]!, cls: model.classes[i % model.classes.length]!, confidence: 0.6 + (i % 7) * 0.01, latencyMs: 0.012, modelVersion: "1", warnings: 0 });
}
function pinos(): Writer {
  const dest = coalescingDestination({ write: () => true }, { minLength: 64 * 1024, flushIntervalMs: 1000 });
  const logger = pino({ messageKey: "message", base: { service: "thermal-comfort", revision: "thermal-comfort-00001" }, timestamp: time, formatters: { level: (l: string) => ({ severity: l.toUpperCase() }) } }, dest);
  return (i) =>
    logger.info({ event: "prediction", request_id: ids[i % 1000], input: records[i % 1000], class: model.classes[i % model.classes.length], confidence: Math.round((0.6 + (i % 7) * 0.01) * 1e6) / 1e6, latency_ms: 0.012, model_version: "1", warnings: 0 });
}

const run = (w: Writer): number => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < LINES; i++) w(i);
  return Number(process.hrtime.bigint() - start) / LINES;
};
const times: Record<"ours" | "pino", number[]> = { ours: [], pino: [] };
const writers = { ours: ours(), pino: pinos() };
run(writers.ours);
run(writers.pino);
for (let r = 0; r < ROUNDS; r++) for (const k of r % 2 ? (["ours", "pino"] as const) : (["pino", "ours"] as const)) times[k].push(run(writers[k]));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const o = median(times.ours);
const p = median(times.pino);
console.log(`prediction line, ours: ${o.toFixed(0)} ns (min ${Math.min(...times.ours).toFixed(0)}); pino's info() with the same fields: ${p.toFixed(0)} ns (min ${Math.min(...times.pino).toFixed(0)}); ratio ${(o / p).toFixed(2)}x (medians of ${ROUNDS} alternating rounds of ${LINES.toLocaleString("en")} lines)`);
