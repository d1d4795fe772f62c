import type { EnvironmentConfig } from "../config/schema.js";
import { psi } from "../validate-data/drift.js";
import type { Sample } from "./prometheus.js";

/**
 * Judging a canary step from two revisions' /metrics (the names agreed for the server:
 * http_requests_total, http_request_duration_seconds, predictions_total). A step is the difference
 * between a scrape at its start and one at its end, so only that step's requests count.
 */

export interface RevisionWindow {
  /** Requests on the judged routes during the window (all status codes). */
  requests: number;
  errors5xx: number;
  /** Cumulative histogram over the judged routes: upper bound (s) → count. */
  buckets: Array<{ le: number; count: number }>;
  /** Predicted classes during the window. */
  classes: Record<string, number>;
}

type Totals = Map<string, number>;

function key(s: Sample, labelNames: string[]): string {
  return s.name + "|" + labelNames.map((l) => s.labels[l] ?? "").join("|");
}

function collect(samples: Sample[]): Totals {
  const m: Totals = new Map();
  for (const s of samples) {
    if (s.name === "http_requests_total") m.set(key(s, ["method", "route", "status_code"]), s.value);
    else if (s.name === "http_request_duration_seconds_bucket") m.set(key(s, ["method", "route", "status_code", "le"]), s.value);
    else if (s.name === "predictions_total") m.set(key(s, ["class", "model_version"]), s.value);
  }
  return m;
}

/**
 * Counter increase between two scrapes. A counter that went down was reset (the instance restarted or
 * another instance answered), and then its whole current value is the increase, as Prometheus does.
 */
function increase(before: Totals, after: Totals, k: string): number {
  const a = after.get(k) ?? 0;
  const b = before.get(k) ?? 0;
  return a >= b ? a - b : a;
}

export function windowBetween(before: Sample[], after: Sample[], routes: string[]): RevisionWindow {
  const b = collect(before);
  const a = collect(after);
  const judged = new Set(routes);
  let requests = 0;
  let errors5xx = 0;
  const buckets = new Map<number, number>();
  const classes: Record<string, number> = {};
  for (const s of after) {
    const route = s.labels.route ?? "";
    if (s.name === "http_requests_total" && judged.has(route)) {
      const inc = increase(b, a, key(s, ["method", "route", "status_code"]));
      requests += inc;
      if (/^5\d\d$/.test(s.labels.status_code ?? "")) errors5xx += inc;
    } else if (s.name === "http_request_duration_seconds_bucket" && judged.has(route)) {
      const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + increase(b, a, key(s, ["method", "route", "status_code", "le"])));
    } else if (s.name === "predictions_total") {
      const c = s.labels.class ?? "";
      classes[c] = (classes[c] ?? 0) + increase(b, a, key(s, ["class", "model_version"]));
    }
  }
  return { requests, errors5xx, buckets: [...buckets].map(([le, count]) => ({ le, count })).sort((x, y) => x.le - y.le), classes };
}

/** The q-quantile from a cumulative histogram, interpolated within its bucket as histogram_quantile() does. Null without data. */
export function histogramQuantile(q: number, buckets: RevisionWindow["buckets"]): number | null {
  if (buckets.length === 0) return null;
  const total = buckets.at(-1)!.count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      // In the +Inf bucket the best estimate is the highest finite bound.
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export interface CanaryCheck {
  name: string;
  passed: boolean;
  value: number | null;
  limit: number;
  detail: string;
}

export interface StepJudgement {
  passed: boolean;
  checks: CanaryCheck[];
  reason?: string;
}

type Thresholds = EnvironmentConfig["canary"]["thresholds"];

/**
 * The verdict on one step. `stable` is the stable revision's window over the same step, or over the
 * last step in which it still had traffic (at 100% it has none). No data means fail, as Argo
 * Rollouts and Flagger do: a canary nobody called has not shown it works.
 */
export function judgeStep(canary: RevisionWindow, stable: RevisionWindow | null, thresholds: Thresholds, minRequests: number): StepJudgement {
  const checks: CanaryCheck[] = [];
  checks.push({
    name: "requests",
    passed: canary.requests >= minRequests,
    value: canary.requests,
    limit: minRequests,
    detail: `${canary.requests} requests on the new revision (at least ${minRequests})`,
  });
  const errorShare = canary.requests > 0 ? canary.errors5xx / canary.requests : null;
  checks.push({
    name: "5xx share",
    passed: errorShare !== null && errorShare <= thresholds.max_5xx_share,
    value: errorShare,
    limit: thresholds.max_5xx_share,
    detail: errorShare === null ? "no requests: no data" : `${(errorShare * 100).toFixed(2)}% 5xx (${canary.errors5xx}/${canary.requests}; at most ${(thresholds.max_5xx_share * 100).toFixed(2)}%)`,
  });
  const p99 = histogramQuantile(0.99, canary.buckets);
  const p99Ms = p99 === null ? null : p99 * 1000;
  checks.push({
    name: "p99 latency",
    passed: p99Ms !== null && p99Ms <= thresholds.max_p99_ms,
    value: p99Ms,
    limit: thresholds.max_p99_ms,
    detail: p99Ms === null ? "no latency data" : `p99 ${p99Ms.toFixed(1)} ms (at most ${thresholds.max_p99_ms} ms)`,
  });
  const stableP99 = stable ? histogramQuantile(0.99, stable.buckets) : null;
  const stableP99Ms = stableP99 === null ? null : stableP99 * 1000;
  const ratio = p99Ms !== null && stableP99Ms !== null && stableP99Ms > 0 ? p99Ms / stableP99Ms : null;
  const underFloor = p99Ms !== null && stableP99Ms !== null && p99Ms <= thresholds.p99_ratio_floor_ms;
  checks.push({
    name: "p99 vs stable",
    passed: ratio !== null && (ratio <= thresholds.max_p99_ratio || underFloor),
    value: ratio,
    limit: thresholds.max_p99_ratio,
    detail:
      ratio === null
        ? `no stable latency data to compare with${stableP99Ms === 0 ? " (stable p99 is 0)" : ""}`
        : `${ratio.toFixed(2)}x the stable revision's p99 ${stableP99Ms!.toFixed(1)} ms (at most ${thresholds.max_p99_ratio}x${thresholds.p99_ratio_floor_ms > 0 ? `, or a p99 under ${thresholds.p99_ratio_floor_ms} ms` : ""})`,
  });
  const classNames = [...new Set([...Object.keys(canary.classes), ...Object.keys(stable?.classes ?? {})])].sort();
  const canaryCounts = classNames.map((c) => canary.classes[c] ?? 0);
  const stableCounts = classNames.map((c) => stable?.classes[c] ?? 0);
  const hasClasses = canaryCounts.some((x) => x > 0) && stableCounts.some((x) => x > 0);
  const classPsi = hasClasses ? psi(stableCounts, canaryCounts) : null;
  checks.push({
    name: "class distribution PSI",
    passed: classPsi !== null && classPsi <= thresholds.max_class_psi,
    value: classPsi,
    limit: thresholds.max_class_psi,
    detail: classPsi === null ? "no predictions on one side: no data" : `PSI ${classPsi.toFixed(3)} against the stable revision (at most ${thresholds.max_class_psi}); new ${fmtClasses(classNames, canaryCounts)} vs stable ${fmtClasses(classNames, stableCounts)}`,
  });
  const failed = checks.find((c) => !c.passed);
  return { passed: !failed, checks, ...(failed ? { reason: `${failed.name}: ${failed.detail}` } : {}) };
}

function fmtClasses(names: string[], counts: number[]): string {
  return names.map((n, i) => `${n}=${counts[i]}`).join(" ");
}
