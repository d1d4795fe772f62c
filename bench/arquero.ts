/**
 * Benchmark for issue 2: our typed columns (readDataset → Table) against arquero 7, the pure-JS
 * data-frame library that replaces danfojs-node in the original plan, on the same generated file.
 *
 * Measured per side, each in its own child process so memory figures are not polluted by the
 * other side (or by the parent's imports):
 * - load: arquero reads the file text and runs fromCSV with `parse` functions (numbers as numbers,
 *   the date column as epoch ms, as our reader stores it); ours runs readDataset(path, dataset).
 * - query: per numeric column missing count, mean, min, max; label class counts after the
 *   configured 3-class binning (arquero: rollup, derive + groupby/count; ours: loops + binLabel).
 * - memory: RSS growth over the first load, live heap (heapUsed + arrayBuffers, after a forced GC,
 *   because typed arrays live outside the V8 heap) held by the loaded table, and peak RSS.
 * Times are the best of --repeats runs. Nothing is asserted; the two sides' query results are
 * compared and printed as agree/DIFFER.
 *
 *   npx tsx bench/arquero.ts [--rows 100000] [--repeats 3] [--config config/pipeline.yaml]
 *
 * Generated files are cached in os.tmpdir() as gitops-ml-arquero-bench-<rows>.csv (seed 7).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as aq from "arquero";
import { z } from "zod";
import type { DatasetConfig } from "../pipeline/config/schema.js";
import { loadConfig } from "../pipeline/config/load.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel } from "../pipeline/data/label.js";
import { getColumn, type Table } from "../pipeline/data/table.js";

const SELF = fileURLToPath(import.meta.url);
const HERE = dirname(SELF);
/** Run from source (bench/) or compiled (dist/bench/): the repository root holds config/. */
const ROOT = existsSync(join(HERE, "..", "config")) ? resolve(HERE, "..") : resolve(HERE, "../..");
const CLI = join(HERE, "..", "cli", SELF.endsWith(".ts") ? "main.ts" : "main.js");
const DEFAULT_ROWS = [100_000, 1_000_000];
const MB = 1024 * 1024;

type Side = "arquero" | "typed";

const ColumnStatsSchema = z.object({ missing: z.number(), mean: z.number().nullable(), min: z.number().nullable(), max: z.number().nullable() });
type ColumnStats = z.infer<typeof ColumnStatsSchema>;

const QueryResultSchema = z.object({ columns: z.record(z.string(), ColumnStatsSchema), labelCounts: z.array(z.number()) });
type QueryResult = z.infer<typeof QueryResultSchema>;

const SideReportSchema = z.object({
  side: z.enum(["arquero", "typed"]),
  rows: z.number(),
  loadMs: z.number(),
  queryMs: z.number(),
  rssDeltaBytes: z.number(),
  liveBytes: z.number(),
  peakRssBytes: z.number(),
  result: QueryResultSchema,
});
type SideReport = z.infer<typeof SideReportSchema>;

interface Args {
  rows: number[];
  repeats: number;
  config: string;
  side?: Side;
  data?: string;
}

function positiveInt(option: string, value: string): number {
  const n = Number(value.replaceAll("_", ""));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${option}: expected a positive integer, got "${value}"`);
  return n;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rows: DEFAULT_ROWS, repeats: 3, config: "config/pipeline.yaml" };
  for (let i = 0; i < argv.length; i += 2) {
    const option = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${option} needs a value`);
    if (option === "--rows") args.rows = value.split(",").map((v) => positiveInt(option, v));
    else if (option === "--repeats") args.repeats = positiveInt(option, value);
    else if (option === "--config") args.config = value;
    else if (option === "--data") args.data = value;
    else if (option === "--side") {
      if (value !== "arquero" && value !== "typed") throw new Error(`--side: expected arquero or typed, got "${value}"`);
      args.side = value;
    } else throw new Error(`unknown option ${option}`);
  }
  return args;
}

function numericColumns(dataset: DatasetConfig): string[] {
  return Object.entries(dataset.columns)
    .filter(([, c]) => c.type === "number")
    .map(([name]) => name);
}

function threeClassBinning(dataset: DatasetConfig): { lo: number; hi: number; classes: string[] } {
  const { binning } = dataset.label;
  if (binning.kind !== "three_class") throw new Error(`this benchmark bins the label into 3 classes; the config's binning is ${binning.kind}`);
  return { lo: binning.cool_below, hi: binning.warm_above, classes: [...binning.classes] };
}

// ---------------------------------------------------------------------------------------------
// The two sides. Each has a load and a query over what it loaded.

interface BenchSide<T> {
  load(path: string, dataset: DatasetConfig): Promise<T>;
  rowCount(loaded: T): number;
  query(loaded: T, dataset: DatasetConfig): QueryResult;
}

/** Empty (or blank) fields are missing; Number("") would be 0. */
function parseNumber(text: string): number | null {
  return text.trim() === "" ? null : Number(text);
}

function parseDate(text: string): number | null {
  return text.trim() === "" ? null : Date.parse(text);
}

const arqueroSide: BenchSide<aq.ColumnTable> = {
  async load(path, dataset) {
    const parse: Record<string, (text: string) => unknown> = {};
    for (const [name, column] of Object.entries(dataset.columns)) {
      if (column.type === "number") parse[name] = parseNumber;
      else if (column.type === "date") parse[name] = parseDate;
    }
    // autoType off: category columns stay strings, as they are in the file.
    return aq.fromCSV(await readFile(path, "utf8"), { delimiter: dataset.delimiter, autoType: false, parse });
  },
  rowCount: (table) => table.numRows(),
  query(table, dataset) {
    const names = numericColumns(dataset);
    // String expressions: arquero's typings declare op.mean(name) a number, though it is an Op.
    const aggregates: Record<string, string> = {};
    for (const name of names) {
      const field = `d[${JSON.stringify(name)}]`;
      for (const agg of ["invalid", "mean", "min", "max"]) aggregates[`${name}:${agg}`] = `d => op.${agg}(${field})`;
    }
    const summary = table.rollup(aggregates).objects()[0] as Record<string, number | null>;
    const columns: Record<string, ColumnStats> = {};
    for (const name of names) {
      columns[name] = { missing: summary[`${name}:invalid`] ?? 0, mean: summary[`${name}:mean`] ?? null, min: summary[`${name}:min`] ?? null, max: summary[`${name}:max`] ?? null };
    }

    const { lo, hi, classes } = threeClassBinning(dataset);
    // Arquero compiles expressions from their source text, so the label column and thresholds
    // come in as a field name and table params rather than as closed-over variables.
    const counts = table
      .params({ label: dataset.label.column, lo, hi })
      .derive({ label_class: (d: Record<string, number | null>, $: { label: string; lo: number; hi: number }) => (aq.op.is_finite(d[$.label]) ? (d[$.label]! < $.lo ? 0 : d[$.label]! > $.hi ? 2 : 1) : -1) })
      .groupby("label_class")
      .count()
      .objects() as { label_class: number; count: number }[];
    const labelCounts = classes.map((_, i) => counts.find((c) => c.label_class === i)?.count ?? 0);
    return { columns, labelCounts };
  },
};

function typedStats(table: Table, name: string): ColumnStats {
  const column = getColumn(table, name);
  if (column.kind !== "number") throw new Error(`column "${name}" is a ${column.kind} column, expected number`);
  const { values, missing } = column;
  let absent = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (missing[i] === 1) {
      absent++;
      continue;
    }
    const v = values[i]!;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const present = values.length - absent;
  return present === 0 ? { missing: absent, mean: null, min: null, max: null } : { missing: absent, mean: sum / present, min, max };
}

const typedSide: BenchSide<Table> = {
  async load(path, dataset) {
    return (await readDataset(path, dataset)).table;
  },
  rowCount: (table) => table.rowCount,
  query(table, dataset) {
    threeClassBinning(dataset);
    const columns = Object.fromEntries(numericColumns(dataset).map((name) => [name, typedStats(table, name)]));
    return { columns, labelCounts: binLabel(table, dataset).counts };
  },
};

// ---------------------------------------------------------------------------------------------
// Child: one side, one file.

function collectGarbage(): void {
  if (!globalThis.gc) throw new Error("run the side process with --expose-gc (the parent does this)");
  globalThis.gc();
}

interface RunFigures {
  rows: number;
  loadMs: number;
  queryMs: number;
  result: QueryResult;
  /** Over the load, when asked for. */
  memory?: { rssDeltaBytes: number; liveBytes: number };
}

/** One load + query; the loaded data is unreachable once this returns, so the next run starts clean. */
async function runOnce<T>(impl: BenchSide<T>, path: string, dataset: DatasetConfig, measureMemory: boolean): Promise<RunFigures> {
  collectGarbage();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const loaded = await impl.load(path, dataset);
  const t1 = performance.now();
  const afterLoad = process.memoryUsage();
  const result = impl.query(loaded, dataset);
  const t2 = performance.now();
  const figures: RunFigures = { rows: impl.rowCount(loaded), loadMs: t1 - t0, queryMs: t2 - t1, result };
  if (measureMemory) {
    collectGarbage();
    const live = process.memoryUsage();
    figures.memory = { rssDeltaBytes: afterLoad.rss - before.rss, liveBytes: live.heapUsed + live.arrayBuffers - (before.heapUsed + before.arrayBuffers) };
  }
  return figures;
}

async function measureSide<T>(side: Side, impl: BenchSide<T>, path: string, dataset: DatasetConfig, repeats: number): Promise<SideReport> {
  // Memory from the first load only: later runs reuse memory the allocator already holds.
  const first = await runOnce(impl, path, dataset, true);
  let { loadMs, queryMs } = first;
  for (let run = 1; run < repeats; run++) {
    const next = await runOnce(impl, path, dataset, false);
    loadMs = Math.min(loadMs, next.loadMs);
    queryMs = Math.min(queryMs, next.queryMs);
  }
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  return { side, rows: first.rows, loadMs, queryMs, ...first.memory!, peakRssBytes, result: first.result };
}

async function runSide(side: Side, args: Args): Promise<void> {
  if (!args.data) throw new Error("--side needs --data");
  const { config } = await loadConfig(args.config, ROOT);
  const path = resolve(args.data);
  const report = side === "arquero" ? await measureSide(side, arqueroSide, path, config.dataset, args.repeats) : await measureSide(side, typedSide, path, config.dataset, args.repeats);
  console.log(JSON.stringify(report));
}

// ---------------------------------------------------------------------------------------------
// Parent: data, one child per side and size, the table.

function ensureData(rows: number): string {
  const path = join(tmpdir(), `gitops-ml-arquero-bench-${rows}.csv`);
  if (existsSync(path)) return path;
  const t0 = performance.now();
  // The generator writes atomically, so an existing file is a complete one.
  const gen = spawnSync(process.execPath, [...process.execArgv, CLI, "generate", "--rows", String(rows), "--seed", "7", "--out", path], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (gen.status !== 0) throw new Error(`generate --rows ${rows} failed (exit ${gen.status})`);
  console.log(`generated ${rows.toLocaleString("en-US")} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${path}`);
  return path;
}

function spawnSide(side: Side, data: string, args: Args): SideReport {
  const child = spawnSync(process.execPath, [...process.execArgv, "--expose-gc", SELF, "--side", side, "--data", data, "--repeats", String(args.repeats), "--config", args.config], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 24,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (child.status !== 0) throw new Error(`--side ${side} failed (exit ${child.status})`);
  const last = child.stdout.trim().split("\n").pop() ?? "";
  return SideReportSchema.parse(JSON.parse(last));
}

function sameNumber(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  // Arquero's mean is a running (Welford) mean, ours a sum over a count: equal up to rounding.
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

function differences(a: QueryResult, b: QueryResult): string[] {
  const out: string[] = [];
  for (const [name, x] of Object.entries(a.columns)) {
    const y = b.columns[name];
    if (!y) out.push(`${name}: missing on the typed side`);
    else for (const key of ["missing", "mean", "min", "max"] as const) if (!sameNumber(x[key], y[key])) out.push(`${name}.${key}: arquero ${x[key]} vs typed ${y[key]}`);
  }
  if (JSON.stringify(a.labelCounts) !== JSON.stringify(b.labelCounts)) out.push(`label counts: arquero ${JSON.stringify(a.labelCounts)} vs typed ${JSON.stringify(b.labelCounts)}`);
  return out;
}

async function runParent(args: Args): Promise<void> {
  const { config } = await loadConfig(args.config, ROOT);
  threeClassBinning(config.dataset);
  const s = (ms: number) => (ms / 1000).toFixed(3);
  const mb = (bytes: number) => (bytes / MB).toFixed(0);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const lines = ["| rows | side | load s | query s | rss Δ MB | live MB | peak rss MB |", "|---:|---|---:|---:|---:|---:|---:|"];
  const agreement: string[] = [];
  for (const rows of args.rows) {
    const data = ensureData(rows);
    const arquero = spawnSide("arquero", data, args);
    const typed = spawnSide("typed", data, args);
    const n = typed.rows.toLocaleString("en-US");
    for (const r of [arquero, typed]) lines.push(`| ${n} | ${r.side} | ${s(r.loadMs)} | ${s(r.queryMs)} | ${mb(r.rssDeltaBytes)} | ${mb(r.liveBytes)} | ${mb(r.peakRssBytes)} |`);
    lines.push(
      `| ${n} | **arquero / typed** | ${ratio(arquero.loadMs, typed.loadMs)} | ${ratio(arquero.queryMs, typed.queryMs)} | ${ratio(arquero.rssDeltaBytes, typed.rssDeltaBytes)} | ${ratio(arquero.liveBytes, typed.liveBytes)} | ${ratio(arquero.peakRssBytes, typed.peakRssBytes)} |`,
    );
    const diff = [...(arquero.rows === typed.rows ? [] : [`rows: arquero ${arquero.rows} vs typed ${typed.rows}`]), ...differences(arquero.result, typed.result)];
    agreement.push(diff.length === 0 ? `${n} rows: agree (missing/mean/min/max of ${Object.keys(typed.result.columns).length} numeric columns, label counts ${JSON.stringify(typed.result.labelCounts)})` : `${n} rows: DIFFER\n  ${diff.join("\n  ")}`);
  }
  console.log(`\narquero ${aqVersion()} vs typed columns (readDataset), best of ${args.repeats}, node ${process.version}`);
  console.log(lines.join("\n"));
  console.log("rss Δ: RSS growth over the first load; live: heapUsed + arrayBuffers held by the loaded table after GC; peak rss: the side's whole process.");
  for (const line of agreement) console.log(line);
}

function aqVersion(): string {
  return (createRequire(import.meta.url)("arquero/package.json") as { version: string }).version;
}

const args = parseArgs(process.argv.slice(2));
if (args.side) await runSide(args.side, args);
else await runParent(args);
