import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

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
  countPrediction(cls: string, modelVersion: string): void;
  countRejection(reason: string): void;
  setModelInfo(info: { name: string; version: string; sha256: string; content_sha256: string }): void;
  driftScore: Gauge<"feature">;
}

export function createServerMetrics(options: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: "http_requests_total", help: "HTTP requests by method, route pattern and status code.", labelNames: ["method", "route", "status_code"], registers: [registry] });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration in seconds by method, route pattern and status code.",
    labelNames: ["method", "route", "status_code"],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const predictions = new Counter({ name: "predictions_total", help: "Predicted records by class and model version.", labelNames: ["class", "model_version"], registers: [registry] });
  const rejections = new Counter({ name: "input_rejections_total", help: "Requests or records refused, by reason.", labelNames: ["reason"], registers: [registry] });
  const modelInfo = new Gauge({ name: "model_info", help: "The served model (value 1).", labelNames: ["name", "version", "sha256", "content_sha256"], registers: [registry] });
  const driftScore = new Gauge({ name: "drift_score", help: "Live drift statistic per feature over the monitoring window.", labelNames: ["feature"], registers: [registry] });

  const requestChildren = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  const predictionChildren = new Map<string, { inc(): void }>();
  return {
    registry,
    driftScore,
    observeRequest(method, route, statusCode, seconds) {
      const key = `${method} ${statusCode} ${route}`;
      let child = requestChildren.get(key);
      if (!child) {
        const labels = { method, route, status_code: String(statusCode) };
        child = { count: requests.labels(labels), time: duration.labels(labels) };
        requestChildren.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
    countPrediction(cls, modelVersion) {
      const key = `${modelVersion}\u0000${cls}`;
      let child = predictionChildren.get(key);
      if (!child) {
        child = predictions.labels({ class: cls, model_version: modelVersion });
        predictionChildren.set(key, child);
      }
      child.inc();
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
