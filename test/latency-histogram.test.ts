import fc from "fast-check";
import { Histogram, Registry, type Metric } from "prom-client";
import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "../pipeline/serve/latency-histogram.js";
import { LATENCY_BUCKETS_SECONDS } from "../pipeline/serve/metrics.js";

/**
 * The server's own latency histogram must write what prom-client's Histogram writes for the same
 * observations: the canary analysis and any Prometheus scraper read these lines.
 */

const LABELS = ["method", "route", "status_code"] as const;

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const mine = new LatencyHistogram("http_request_duration_seconds", "HTTP request duration.", LABELS, LATENCY_BUCKETS_SECONDS);
  ours.registerMetric(mine as unknown as Metric);
  const reference = new Histogram({ name: "http_request_duration_seconds", help: "HTTP request duration.", labelNames: [...LABELS], buckets: LATENCY_BUCKETS_SECONDS, registers: [theirs] });
  return { ours, theirs, mine, reference };
}

const labelValue = fc.oneof(fc.constantFrom("POST", "GET", "/predict", "/predict/batch", "200", "400", "unmatched"), fc.string({ maxLength: 12 }), fc.constantFrom('a"b', "back\\slash", "new\nline", "é✓"));
const labelSet = fc.record({ method: labelValue, route: labelValue, status_code: labelValue });
const seconds = fc.oneof(
  fc.constantFrom(...LATENCY_BUCKETS_SECONDS), // exactly on a bound: counted in that bucket
  fc.double({ min: 0, max: 10, noNaN: true }),
  fc.double({ min: 0, max: 0.001, noNaN: true }),
  fc.constant(0),
);

describe("LatencyHistogram", () => {
  it("writes the same exposition text and JSON as prom-client's Histogram for generated observations", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(labelSet, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), seconds), { maxLength: 200 }), async (sets, observations) => {
        const { ours, theirs, mine, reference } = pair();
        const series = sets.map((l) => mine.labels(l));
        for (const [which, s] of observations) {
          const i = which % sets.length;
          series[i]!.observe(s);
          reference.observe(sets[i]!, s);
        }
        expect(await ours.metrics()).toBe(await theirs.metrics());
        expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
      }),
      { numRuns: 300 },
    );
  });

  it("counts a value above every bound only in +Inf, a value on a bound in that bucket, and ignores a value that is not finite", async () => {
    const { ours, mine } = pair();
    const s = mine.labels({ method: "POST", route: "/predict", status_code: "200" });
    s.observe(0.001);
    s.observe(7);
    s.observe(Number.NaN);
    s.observe(Number.POSITIVE_INFINITY);
    const text = await ours.metrics();
    const line = (le: string) => new RegExp(`^http_request_duration_seconds_bucket\\{le="${le.replace(/[.+]/g, "\\$&")}",method="POST",route="/predict",status_code="200"\\} (\\S+)$`, "m").exec(text)?.[1];
    expect(line("0.0005")).toBe("0");
    expect(line("0.001")).toBe("1");
    expect(line("5")).toBe("1");
    expect(line("+Inf")).toBe("2");
    expect(text).toMatch(/^http_request_duration_seconds_sum\{method="POST",route="\/predict",status_code="200"\} 7\.001$/m);
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/predict",status_code="200"\} 2$/m);
  });

  it("refuses an unknown label and bounds that do not increase; reset forgets every series", async () => {
    const { ours, mine } = pair();
    expect(() => mine.labels({ methd: "POST" })).toThrow(/unknown label methd/);
    expect(() => new LatencyHistogram("x", "x", ["a"], [0.1, 0.1])).toThrow(/must increase/);
    const health = mine.labels({ method: "GET", route: "/health", status_code: "200" });
    health.observe(0.002);
    expect(await ours.metrics()).toMatch(/route="\/health"/);
    ours.resetMetrics();
    expect(await ours.metrics()).not.toMatch(/route="\/health"/);
    // A series held across the reset counts again from zero, as prom-client's child does.
    health.observe(0.003);
    expect(await ours.metrics()).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} 1$/m);
  });
});
