import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from "prom-client";
import { LatencyHistogram, type HistogramSeries } from "./latency-histogram.js";

/**
 * The server's Prometheus metrics. The names are a contract (the canary reads them): do not rename.
 * Prometheus conventions: snake_case, base units (seconds), `_total` for counters. Each server has
 * its own registry, so several servers in one process (tests) do not share counts.
 */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface ServerMetrics {
  registry: Registry;
  /** Counts a finished request and its latency (labels cached per combination: no per-request hashing). */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  /** Counts `n` predicted records of a class (default 1). */
  countPrediction(cls: string, modelVersion: string, n?: number): void;
  countRejection(reason: string): void;
  setModelInfo(info: { name: string; version: string; sha256: string; content_sha256: string }): void;
  driftScore: Gauge<"feature">;
}

export function createServerMetrics(options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  // The two per-request counters are counted in plain numbers and handed to prom-client when it is
  // scraped (its collect hook): prom-client hashes the label set on every inc(), even through a
  // cached child, which was a microsecond per request and per batch record.
  const requestCounts = new Map<string, { labels: Record<string, string>; n: number }>();
  const predictionCounts = new Map<string, { labels: Record<string, string>; n: number }>();
  const handOver = (counter: Counter<string>, counts: Map<string, { labels: Record<string, string>; n: number }>) => {
    for (const c of counts.values()) {
      if (c.n === 0) continue;
      counter.inc(c.labels, c.n);
      c.n = 0;
    }
  };
  const requests: Counter<string> = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route pattern and status code.",
    labelNames: ["method", "route", "status_code"],
    registers: [registry],
    collect: () => handOver(requests, requestCounts),
  });
  // Our own histogram (latency-histogram.ts: prom-client's hashes the labels on every observe), in
  // the registry where prom-client's own would be.
  const duration = new LatencyHistogram("http_request_duration_seconds", "HTTP request duration in seconds by method, route pattern and status code.", ["method", "route", "status_code"], LATENCY_BUCKETS_SECONDS);
  registry.registerMetric(duration as unknown as Metric);
  const predictions: Counter<string> = new Counter({
    name: "predictions_total",
    help: "Predicted records by class and model version.",
    labelNames: ["class", "model_version"],
    registers: [registry],
    collect: () => handOver(predictions, predictionCounts),
  });
  const rejections = new Counter({ name: "input_rejections_total", help: "Requests or records refused, by reason.", labelNames: ["reason"], registers: [registry] });
  const modelInfo = new Gauge({ name: "model_info", help: "The served model (value 1).", labelNames: ["name", "version", "sha256", "content_sha256"], registers: [registry] });
  const driftScore = new Gauge({ name: "drift_score", help: "Live drift statistic per feature over the monitoring window.", labelNames: ["feature"], registers: [registry] });

  const requestChildren = new Map<string, { count: { labels: Record<string, string>; n: number }; time: HistogramSeries }>();
  return {
    registry,
    driftScore,
    observeRequest(method, route, statusCode, seconds) {
      const key = `${method} ${statusCode} ${route}`;
      let child = requestChildren.get(key);
      if (!child) {
        const labels = { method, route, status_code: String(statusCode) };
        const count = { labels, n: 0 };
        requestCounts.set(key, count);
        child = { count, time: duration.labels(labels) };
        requestChildren.set(key, child);
      }
      child.count.n++;
      child.time.observe(seconds);
    },
    countPrediction(cls, modelVersion, n = 1) {
      const key = `${modelVersion}\u0000${cls}`;
      let count = predictionCounts.get(key);
      if (!count) {
        count = { labels: { class: cls, model_version: modelVersion }, n: 0 };
        predictionCounts.set(key, count);
      }
      count.n += n;
    },
    countRejection(reason) {
      rejections.inc({ reason });
    },
    setModelInfo(info) {
      modelInfo.reset();
      modelInfo.set(info, 1);
    },
  };
}
