/**
 * Benchmark: load + validate a generated dataset (default 1,000,000 rows) with readDataset +
 * the validate-data checks, vs pandas read_csv + the same checks (bench/validate_data_pandas.py in
 * /usr/bin/python3), on the same file in the same run. Prints both times and the ratio; nothing is
 * asserted. Drift is off on both sides (the checks compared are schema, missing, duplicates,
 * outliers, label binning/imbalance, constants).
 *
 *   npx tsx bench/validate-data.ts [--rows 1000000] [--repeats 3] [--data FILE] [--config config/pipeline.yaml] [--python /usr/bin/python3]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../pipeline/config/load.js";
import { readDataset } from "../pipeline/data/csv.js";
import { checkDataset } from "../pipeline/validate-data/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = existsSync(join(HERE, "validate_data_pandas.py")) ? resolve(HERE, "..") : resolve(HERE, "../..");

function parseArgs(argv: string[]) {
  const args = { rows: 1_000_000, repeats: 3, data: undefined as string | undefined, config: "config/pipeline.yaml", python: "/usr/bin/python3" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === "--rows") args.rows = Number(v);
    else if (a === "--repeats") args.repeats = Number(v);
    else if (a === "--data") args.data = v;
    else if (a === "--config") args.config = v;
    else if (a === "--python") args.python = v;
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const { config } = await loadConfig(args.config, ROOT);
const tmp = mkdtempSync(join(tmpdir(), "bench-validate-data-"));
try {
  let data = args.data ? resolve(args.data) : join(tmp, "data.csv");
  if (!args.data) {
    const t0 = performance.now();
    const gen = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "cli/main.ts"), "generate", "--rows", String(args.rows), "--seed", "7", "--out", data], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    if (gen.status !== 0) throw new Error(`generate failed (exit ${gen.status})`);
    console.log(`generated ${args.rows.toLocaleString("en-US")} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${data}`);
  }
  data = resolve(data);

  // The checks the pandas side runs, described from the same config.
  const { dataset } = config;
  const meaningful = new Set([...dataset.features, dataset.label.column, ...(dataset.group ? [dataset.group] : []), ...dataset.slices]);
  const binning = dataset.label.binning;
  const spec = {
    delimiter: dataset.delimiter,
    columns: dataset.columns,
    derived: dataset.derived,
    validation: config.validation,
    label: dataset.label.column,
    binning: { ...binning, classes: "classes" in binning ? binning.classes : [] },
    numeric_features: dataset.features.filter((f) => dataset.columns[f]?.type === "number"),
    id_candidates: Object.entries(dataset.columns)
      .filter(([name, c]) => !meaningful.has(name) && c.type !== "date")
      .map(([name]) => name),
  };
  const specPath = join(tmp, "spec.json");
  writeFileSync(specPath, JSON.stringify(spec));

  let best = { read: Infinity, checks: Infinity, total: Infinity };
  let first = 0;
  let report: ReturnType<typeof checkDataset>["report"] | undefined;
  for (let i = 0; i < args.repeats; i++) {
    const t0 = performance.now();
    const read = await readDataset(data, dataset, { maxListedViolations: config.validation.max_listed_violations });
    const t1 = performance.now();
    report = checkDataset(read, config).report;
    const t2 = performance.now();
    if (i === 0) first = t2 - t0;
    if (t2 - t0 < best.total) best = { read: t1 - t0, checks: t2 - t1, total: t2 - t0 };
  }

  const py = spawnSync(args.python, [join(ROOT, "bench/validate_data_pandas.py"), data, specPath, String(args.repeats)], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (py.status !== 0) throw new Error(`pandas baseline failed:\n${py.stderr}`);
  const pandas = JSON.parse(py.stdout.trim().split("\n").pop()!) as {
    read_s: number;
    checks_s: number;
    total_s: number;
    first_total_s: number;
    findings: { duplicates: number; label_counts: number[]; violations: number; outliers: Record<string, [number, number]>; rows: number };
  };

  const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  const rows = report!.data.rows;
  console.log(`\nvalidate-data on ${rows.toLocaleString("en-US")} rows (best of ${args.repeats})`);
  console.log(`| | read | checks | total |`);
  console.log(`|---|---|---|---|`);
  console.log(`| pipeline (readDataset + checks) | ${s(best.read)} | ${s(best.checks)} | ${s(best.total)} |`);
  console.log(`| pandas ${"read_csv + same checks"} | ${s(pandas.read_s * 1000)} | ${s(pandas.checks_s * 1000)} | ${s(pandas.total_s * 1000)} |`);
  console.log(`| ratio (pipeline / pandas) | ${(best.read / (pandas.read_s * 1000)).toFixed(2)}x | ${(best.checks / (pandas.checks_s * 1000)).toFixed(2)}x | **${(best.total / (pandas.total_s * 1000)).toFixed(2)}x** |`);
  // The first run includes V8's warm-up (a one-shot CLI run pays it); pandas' first run pays its imports' caches.
  console.log(`first run: pipeline ${s(first)}, pandas ${s(pandas.first_total_s * 1000)}, ratio ${(first / (pandas.first_total_s * 1000)).toFixed(2)}x`);

  // Agreement: the two sides should find the same things.
  const ours = {
    duplicates: report!.duplicates.count,
    label_counts: report!.label?.classes.map((c) => c.count) ?? [],
    violations: report!.schema.violation_count,
    outliers: Object.fromEntries(report!.columns.filter((c) => c.outliers_iqr !== null).map((c) => [c.name, [c.outliers_iqr, c.outliers_z]])),
  };
  const theirs = { duplicates: pandas.findings.duplicates, label_counts: pandas.findings.label_counts, violations: pandas.findings.violations, outliers: pandas.findings.outliers };
  for (const key of Object.keys(ours) as (keyof typeof ours)[]) {
    const a = JSON.stringify(ours[key]);
    const b = JSON.stringify(theirs[key]);
    console.log(`${a === b ? "agree" : "DIFFER"}: ${key} ${a}${a === b ? "" : ` vs pandas ${b}`}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
