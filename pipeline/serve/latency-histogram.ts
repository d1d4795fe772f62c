/**
 * A Prometheus histogram for prom-client's Registry, written in prom-client's exposition format
 * (the same lines, label order and number formatting as its `Histogram`), that observes into a
 * typed array per label set. prom-client's `observe()` validates and hashes the label set on every
 * call, also through a cached child: about 0.7 µs of each `/predict` request in a `--cpu-prof`
 * profile under the benchmark's load, where this costs a bucket search and three additions.
 * test/latency-histogram.test.ts requires the same text as prom-client's Histogram for generated
 * observations and label values.
 */

/** One label set's counts: buckets[i] counts observations in (bound[i-1], bound[i]], the last slot above every bound. */
export interface HistogramSeries {
  observe(seconds: number): void;
}

interface Series extends HistogramSeries {
  labels: Readonly<Record<string, string>>;
  buckets: Float64Array;
  sum: number;
  count: number;
}

interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
  /** prom-client's shape: null on buckets (no exemplars kept), absent on _sum and _count. */
  exemplar?: null;
}

export class LatencyHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();
  /** Label sets in the order of their first observation since the last reset: prom-client's order. */
  private readonly observed: Series[] = [];
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
  ) {
    for (let i = 1; i < upperBounds.length; i++) if (!(upperBounds[i]! > upperBounds[i - 1]!)) throw new Error(`${name}: bucket bounds must increase`);
    this.bounds = Float64Array.from(upperBounds);
  }

  /** The series of one label set (made on first use; keep it: that is the point). */
  labels(labels: Readonly<Record<string, string>>): HistogramSeries {
    for (const k of Object.keys(labels)) if (!this.labelNames.includes(k)) throw new Error(`${this.name}: unknown label ${k}`);
    const key = JSON.stringify(this.labelNames.map((n) => labels[n] ?? null));
    let s = this.series.get(key);
    if (s === undefined) {
      const bounds = this.bounds;
      const observed = this.observed;
      const created: Series = {
        labels: { ...labels },
        buckets: new Float64Array(bounds.length + 1),
        sum: 0,
        count: 0,
        observe(seconds) {
          // A value that is not finite is a caller's bug; prom-client throws, a request must not.
          if (!Number.isFinite(seconds)) return;
          let i = 0;
          while (i < bounds.length && seconds > bounds[i]!) i++;
          if (created.count === 0) observed.push(created);
          created.buckets[i]!++;
          created.sum += seconds;
          created.count++;
        },
      };
      s = created;
      this.series.set(key, s);
    }
    return s;
  }

  /** What prom-client's Registry writes (its `getForPromString` shape). */
  getForPromString(): { name: string; help: string; type: string; values: ValuePair[]; aggregator: string } {
    const values: ValuePair[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.observed) {
      let cumulative = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le: this.upperBounds[i]! }, sharedLabels: s.labels, value: cumulative, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's `get()`: the same values with the label sets merged (the JSON view). */
  get(): { name: string; help: string; type: string; values: Omit<ValuePair, "sharedLabels">[]; aggregator: string } {
    const data = this.getForPromString();
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }

  /** Forgets every count; the series handed out stay usable. */
  reset(): void {
    for (const s of this.series.values()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
    this.observed.length = 0;
  }
}
