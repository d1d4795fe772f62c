/**
 * A lenient reading of a model's evaluation (model.json `metrics`, metrics.json, a validate-model
 * report) for cards and PR bodies. Those producers evolve independently, so this accepts the
 * shapes they are likely to use and drops what it does not recognise rather than failing a
 * promotion over a chart.
 */
export interface MetricsView {
  /** Scalar metrics (accuracy, macro_f1, ...). */
  scalars: Record<string, number>;
  confusion: { labels: string[]; matrix: number[][] } | null;
  perClass: Record<string, Record<string, number>>;
  importance: { feature: string; value: number }[];
  slices: { column: string; value: string; rows: number | null; metrics: Record<string, number> }[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Numeric fields that are counts or bookkeeping, not metrics worth registering or comparing. */
const NOT_METRICS = new Set(["version", "n", "rows", "support", "count", "seed"]);

function numbersOf(o: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObj(o)) for (const [k, v] of Object.entries(o)) if (isNum(v) && !NOT_METRICS.has(k)) out[k] = v;
  return out;
}

/** The object that holds the held-out metrics: a `test`/`holdout`/`evaluation` section (metrics.json), else the top level (model.json). */
function metricsRoot(o: Obj): Obj {
  for (const key of ["test", "holdout", "evaluation", "test_metrics"]) if (isObj(o[key])) return o[key] as Obj;
  if (isNum(o.accuracy) || isNum(o.macro_f1)) return o;
  if (isObj(o.metrics)) return metricsRoot(o.metrics);
  return o;
}

export function readMetricsView(sources: unknown[], classes: string[]): MetricsView {
  const view: MetricsView = { scalars: {}, confusion: null, perClass: {}, importance: [], slices: [] };
  for (const source of sources) {
    if (!isObj(source)) continue;
    const root = metricsRoot(source);
    view.scalars = { ...numbersOf(root), ...view.scalars };
    view.confusion ??= confusionOf(root.confusion_matrix ?? root.confusion, classes);
    if (Object.keys(view.perClass).length === 0) view.perClass = perClassOf(root.per_class ?? root.classes_report ?? root.by_class);
    if (view.importance.length === 0) view.importance = importanceOf(root.feature_importance ?? root.importance ?? source.feature_importance ?? source.importance);
    if (view.slices.length === 0) view.slices = slicesOf(root.slices ?? source.slices);
  }
  return view;
}

function confusionOf(v: unknown, classes: string[]): MetricsView["confusion"] {
  const isMatrix = (m: unknown): m is number[][] => Array.isArray(m) && m.length > 0 && m.every((r) => Array.isArray(r) && r.every(isNum));
  if (isMatrix(v)) return { labels: v.length === classes.length ? classes : v.map((_, i) => String(i)), matrix: v };
  if (isObj(v) && isMatrix(v.matrix)) {
    const labels = Array.isArray(v.labels) ? v.labels.map(String) : Array.isArray(v.classes) ? v.classes.map(String) : classes;
    return { labels, matrix: v.matrix };
  }
  return null;
}

function perClassOf(v: unknown): MetricsView["perClass"] {
  const out: MetricsView["perClass"] = {};
  if (isObj(v)) for (const [k, m] of Object.entries(v)) if (isObj(m)) out[k] = numbersOf(m);
  if (Array.isArray(v)) for (const m of v) if (isObj(m) && typeof (m.class ?? m.label) === "string") out[String(m.class ?? m.label)] = numbersOf(m);
  return out;
}

function importanceOf(v: unknown): MetricsView["importance"] {
  if (isObj(v)) {
    // { impurity: {...}, permutation: {...} }: prefer permutation (it measures held-out effect).
    for (const key of ["permutation", "impurity"]) if (v[key] !== undefined) {
      const inner = importanceOf(v[key]);
      if (inner.length) return inner;
    }
    const direct = Object.entries(v).filter(([, x]) => isNum(x)).map(([feature, value]) => ({ feature, value: value as number }));
    if (direct.length) return direct.sort((a, b) => b.value - a.value);
    // { feature: { mean, std } }
    const nested = Object.entries(v).filter(([, x]) => isObj(x) && isNum((x as Obj).mean)).map(([feature, x]) => ({ feature, value: (x as Obj).mean as number }));
    return nested.sort((a, b) => b.value - a.value);
  }
  if (Array.isArray(v)) {
    return v
      .filter((x): x is Obj => isObj(x) && typeof (x.feature ?? x.name) === "string")
      .map((x) => ({ feature: String(x.feature ?? x.name), value: Number(x.importance ?? x.value ?? x.mean) }))
      .filter((x) => Number.isFinite(x.value))
      .sort((a, b) => b.value - a.value);
  }
  return [];
}

function slicesOf(v: unknown): MetricsView["slices"] {
  const out: MetricsView["slices"] = [];
  const rowsOf = (m: Obj) => (isNum(m.rows) ? m.rows : isNum(m.n) ? m.n : isNum(m.support) ? m.support : null);
  const metricsOf = (m: Obj) => {
    const nums = numbersOf(isObj(m.metrics) ? m.metrics : m);
    delete nums.rows;
    delete nums.n;
    delete nums.support;
    return nums;
  };
  if (Array.isArray(v)) {
    for (const s of v) if (isObj(s) && typeof s.column === "string") out.push({ column: s.column, value: String(s.value), rows: rowsOf(s), metrics: metricsOf(s) });
  } else if (isObj(v)) {
    for (const [column, byValue] of Object.entries(v)) {
      if (Array.isArray(byValue)) {
        for (const s of byValue) if (isObj(s)) out.push({ column, value: String(s.value ?? s.name), rows: rowsOf(s), metrics: metricsOf(s) });
      } else if (isObj(byValue)) {
        for (const [value, m] of Object.entries(byValue)) if (isObj(m)) out.push({ column, value, rows: rowsOf(m), metrics: metricsOf(m) });
      }
    }
  }
  return out;
}

/** Metrics worth a table row, in a stable order: the well-known ones first. */
export function headlineMetrics(...views: Record<string, number>[]): string[] {
  const known = ["macro_f1", "accuracy", "balanced_accuracy", "weighted_f1", "log_loss", "calibration_error", "ece", "brier"];
  const all = new Set(views.flatMap((v) => Object.keys(v)));
  return [...known.filter((k) => all.has(k)), ...[...all].filter((k) => !known.includes(k)).sort()];
}

/** Metrics where a smaller value is better (for delta arrows). */
export function lowerIsBetter(metric: string): boolean {
  return /loss|error|ece|brier|latency|bytes|size/i.test(metric);
}
