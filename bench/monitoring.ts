/**
 * What monitoring costs the predict path, measured against the prediction itself in the same run:
 * (a) the input contract + forest for one record (what /predict does anyway), (b) the same plus
 * monitor.recordPrediction, and the on-demand drift evaluation of a full window (which /metrics
 * and /monitoring/drift trigger, cached until the next prediction).
 *
 *   npx tsx bench/monitoring.ts
 */
import { join } from "node:path";
import { loadModel } from "../pipeline/model/load.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import { createMonitor } from "../pipeline/serve/monitoring/state.js";
import { Random } from "../pipeline/core/random.js";

const ROOT = join(import.meta.dirname, "..");
const N = 50_000;

const model = await loadModel(join(ROOT, "models/thermal-comfort/v1/model.json"));
const predictor = compilePredictor(model);
const random = new Random(7);
const seasons = ["winter", "spring", "summer", "autumn"];
const records = Array.from({ length: 2000 }, () => ({
  ta: 18 + 10 * random.next(),
  tr: 18 + 10 * random.next(),
  rh: 30 + 40 * random.next(),
  vel: 0.3 * random.next(),
  clo: 0.4 + 0.8 * random.next(),
  met: 1 + 0.4 * random.next(),
  t_out: -5 + 30 * random.next(),
  season: seasons[Math.floor(4 * random.next())]!,
  building_type: "office",
  cooling_type: "air conditioned",
}));

function timePerRecord(withMonitor: boolean): number {
  const monitor = createMonitor({ model, config: { ring_size: 1000, drift: { size: 1000 } } });
  const classes = predictor.classes;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const p = predictor.predictRecord(records[i % records.length]);
    if (withMonitor) {
      const proba = p.probabilities!;
      const probabilities: Record<string, number> = {};
      for (let c = 0; c < classes.length; c++) probabilities[classes[c]!] = proba[c]!;
      monitor.recordPrediction({ request_id: `r${i}`, time: Date.now(), input: p.checked.record, class: classes[p.classIndex]!, probabilities, confidence: proba[p.classIndex]!, latency_ms: 0.1, model_version: "1" });
    }
  }
  return Number(process.hrtime.bigint() - start) / 1e3 / N;
}

// warm-up, then alternate to share the machine's noise between both
timePerRecord(false);
timePerRecord(true);
const base: number[] = [];
const monitored: number[] = [];
for (let k = 0; k < 5; k++) {
  base.push(timePerRecord(false));
  monitored.push(timePerRecord(true));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const b = median(base);
const m = median(monitored);

const monitor = createMonitor({ model, config: { drift: { size: 1000 } } });
for (let i = 0; i < 1000; i++) {
  const p = predictor.predictRecord(records[i]);
  monitor.recordPrediction({ request_id: `w${i}`, time: Date.now(), input: p.checked.record, class: predictor.classes[p.classIndex]!, probabilities: {}, confidence: 0.5, latency_ms: 0.1, model_version: "1" });
}
const driftRuns: number[] = [];
for (let k = 0; k < 20; k++) {
  monitor.recordPrediction({ request_id: `x${k}`, time: Date.now(), input: records[k]!, class: "neutral", probabilities: {}, confidence: 0.5, latency_ms: 0.1, model_version: "1" });
  const t = process.hrtime.bigint();
  monitor.drift();
  driftRuns.push(Number(process.hrtime.bigint() - t) / 1e6);
}

console.log(`predict one record (contract + forest): ${b.toFixed(2)} µs`);
console.log(`+ monitor.recordPrediction:             ${m.toFixed(2)} µs  (${(m / b).toFixed(3)}x, +${(m - b).toFixed(2)} µs per record)`);
console.log(`drift evaluation of a 1,000-input window: ${median(driftRuns).toFixed(2)} ms (median of 20; cached until the next prediction)`);
