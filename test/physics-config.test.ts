import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../pipeline/config/load.js";
import { resolvePhysics, type PipelineConfig } from "../pipeline/config/schema.js";
import { ConfigError, InputError } from "../pipeline/core/errors.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel } from "../pipeline/data/label.js";
import { tableFromRecords, type Table } from "../pipeline/data/table.js";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { checkRecord } from "../pipeline/model/input-contract.js";
import { loadModel, parseModel } from "../pipeline/model/load.js";
import { adaptiveComfortDeviation, operativeTemperature, pmvPpd } from "../pipeline/model/physics.js";
import { predict, predictTable } from "../pipeline/model/predict.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import { predictProbaTrees, treeCombine } from "../pipeline/model/tree-eval.js";
import { serializeModel } from "../pipeline/model/tree-codec.js";
import { transformRecord } from "../pipeline/model/transform.js";
import { createServer } from "../pipeline/serve/app.js";
import { train, type TrainResult } from "../pipeline/train/index.js";
import { featureSpecs, fitPreprocessing, transformTable } from "../pipeline/train/preprocess.js";
import { classificationMetrics } from "../pipeline/train/metrics.js";
import { splitRows } from "../pipeline/train/split.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { logCollector, PRODUCTION_MODEL } from "./helpers/serve.js";

const DATA = join(PROJECT_ROOT, "data/thermal-comfort.csv");
const PHYSICS_INPUT_COLUMNS = ["ta", "tr", "rh", "vel", "clo", "met", "t_out"] as const;
const NUMBER_COLUMNS = new Set(["record_id", ...PHYSICS_INPUT_COLUMNS, "thermal_sensation", "pmv", "ppd"]);

let base: PipelineConfig;

/** The committed config with a physics section (and other dataset changes) merged in, parsed as a file would be. */
function withPhysics(physics: unknown, dataset: Record<string, unknown> = {}): PipelineConfig {
  return parseConfig({ ...base, dataset: { ...base.dataset, ...dataset, physics } }, "config/physics.yaml");
}

function configError(physics: unknown, dataset: Record<string, unknown> = {}): string {
  try {
    withPhysics(physics, dataset);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a configuration error");
}

/** The committed CSV as records of strings (no quoted fields in the generated file). */
async function csvRecords(path: string): Promise<Record<string, string>[]> {
  const [header, ...lines] = (await readFile(path, "utf8")).trimEnd().split("\n");
  const names = header!.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [names[i]!, v])));
}

function toCsv(records: Record<string, string>[], columns: string[]): string {
  return [columns.join(","), ...records.map((r) => columns.map((c) => r[c] ?? "").join(","))].join("\n") + "\n";
}

/** A CSV row as a client sends it: JSON numbers for number features, text for categories, missing cells left out. */
function asRequest(row: Record<string, string>, features: string[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const f of features) {
    const v = row[f];
    if (v === undefined || v === "") continue;
    out[f] = NUMBER_COLUMNS.has(f) ? Number(v) : v;
  }
  return out;
}

beforeAll(async () => {
  base = (await loadConfig("config/pipeline.yaml", PROJECT_ROOT)).config;
});

describe("dataset.physics in the config", () => {
  it("resolves each needed input to the number feature of its name, or to the one mapped, and keeps the chosen order", () => {
    const config = withPhysics({ features: ["t_op", "adaptive_dev", "pmv", "ppd"], names: { pmv: "pmv_model", ppd: "ppd_model" } });
    expect(config.dataset.physics!.compare_without).toBe(true);
    const { derivation, issues } = resolvePhysics(config.dataset);
    expect(issues).toEqual([]);
    expect(derivation).toEqual({
      features: [
        { name: "t_op", kind: "t_op" },
        { name: "adaptive_dev", kind: "adaptive_dev" },
        { name: "pmv_model", kind: "pmv" },
        { name: "ppd_model", kind: "ppd" },
      ],
      inputs: { ta: "ta", tr: "tr", rh: "rh", vel: "vel", clo: "clo", met: "met", t_out: "t_out" },
    });
    // Only what the chosen features read is carried: operative temperature needs no humidity or outdoor temperature.
    expect(resolvePhysics(withPhysics({ features: ["t_op"] }).dataset).derivation!.inputs).toEqual({ ta: "ta", tr: "tr", vel: "vel" });
    // A mapping to another number feature.
    const columns = { ...base.dataset.columns, t_pma: { type: "number", range: [-40, 50] } };
    const mapped = withPhysics({ features: ["adaptive_dev"], inputs: { t_out: "t_pma" } }, { columns, features: [...base.dataset.features, "t_pma"] });
    expect(resolvePhysics(mapped.dataset).derivation!.inputs.t_out).toBe("t_pma");
  });

  it("an input a feature only uses when present (tr, vel) may be absent from the dataset; one it needs may not", () => {
    const { tr: _tr, ...columns } = base.dataset.columns;
    const features = base.dataset.features.filter((f) => f !== "tr");
    const promotion = { ...base.promotion, gates: { ...base.promotion.gates, sanity: { ...base.promotion.gates.sanity, cases: [] } } };
    const config = parseConfig({ ...base, promotion, dataset: { ...base.dataset, columns, features, physics: { features: ["t_op"] } } });
    expect(resolvePhysics(config.dataset).derivation!.inputs).toEqual({ ta: "ta", vel: "vel" });

    const { rh: _rh, ...noHumidity } = base.dataset.columns;
    const message = configError({ features: ["t_op", "pmv"], names: { pmv: "pmv_model" } }, { columns: noHumidity, features: base.dataset.features.filter((f) => f !== "rh") });
    expect(message).toContain('dataset.physics.inputs.rh: pmv needs rh (relative humidity, %), and the dataset has no column "rh"; map it to a number feature');
  });

  it("names the field for every mistake", () => {
    expect(configError({ features: ["pmv"] })).toMatch(/^config\/physics\.yaml: invalid configuration\n {2}dataset\.physics\.features\.0: "pmv" is already a column \(dataset\.columns\.pmv\); give the derived pmv another name with dataset\.physics\.names: \{ pmv: <name> \}/);
    expect(configError({ features: ["t_op"], names: { t_op: "air_temperature" } })).toContain('dataset.physics.names.t_op: "air_temperature" is already an alias of dataset.columns.ta');
    expect(configError({ features: ["t_op"], names: { t_op: "month_year" } })).toContain('dataset.physics.names.t_op: "month_year" is already a derived column (dataset.derived)');
    expect(configError({ features: ["t_op", "adaptive_dev"], names: { adaptive_dev: "t_op" } })).toContain('dataset.physics.names.adaptive_dev: "t_op" is already the derived t_op');
    expect(configError({ features: ["wbgt"] })).toContain('dataset.physics.features.0: expected one of "pmv", "ppd", "t_op", "adaptive_dev", got "wbgt"');
    expect(configError({ features: [] })).toContain("dataset.physics.features: expected a list with >= 1");
    expect(configError({ features: ["t_op", "t_op"] })).toContain('dataset.physics.features.1: "t_op" is listed twice');
    expect(configError({ features: ["t_op"], names: { adaptive_dev: "dev" } })).toContain('dataset.physics.names.adaptive_dev: "adaptive_dev" is not in dataset.physics.features');
    expect(configError({ features: ["t_op"], inputs: { humidity: "rh" } })).toContain('dataset.physics.inputs: unknown key "humidity"');
    expect(configError({ features: ["t_op"], inputs: { t_out: "t_out" } })).toContain("dataset.physics.inputs.t_out: no chosen feature reads t_out (t_op); remove it");
    expect(configError({ features: ["adaptive_dev"], inputs: { t_out: "outdoor" } })).toContain('dataset.physics.inputs.t_out: unknown column "outdoor" (not in dataset.columns)');
    expect(configError({ features: ["t_op"], inputs: { ta: "season" } })).toContain('dataset.physics.inputs.ta: t_op needs ta (air temperature, °C): "season" is a category column; it must be a number column');
    expect(configError({ features: ["t_op"] }, { features: base.dataset.features.filter((f) => f !== "vel") })).toContain('dataset.physics.inputs.vel: t_op uses vel (air speed, m/s): "vel" is not in dataset.features; serving reads physics inputs from the model\'s features, so add it there');
    expect(configError({ features: ["t_op"] }, { features: [...base.dataset.features, "t_op"] })).toContain('dataset.features.10: "t_op" is a physics feature (dataset.physics): the model gets it by itself, it is not a column of the dataset');
    expect(configError({ features: ["t_op"], compare_without: "yes" })).toContain("dataset.physics.compare_without: expected true or false");
  });

  it("an error in a config file names the file and the field", async () => {
    const dir = await mkdtemp(join(tmpdir(), "physics-config-"));
    try {
      await writeFile(join(dir, "pipeline.yaml"), `extends: ${join(PROJECT_ROOT, "config/pipeline.yaml")}\ndataset:\n  physics: { features: [adaptive_dev], inputs: { t_out: season } }\n`);
      await expect(loadConfig(join(dir, "pipeline.yaml"), dir)).rejects.toThrow(new RegExp(`^${join(dir, "pipeline.yaml").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: invalid configuration\\n {2}dataset\\.physics\\.inputs\\.t_out: adaptive_dev needs t_out \\(outdoor \\(running mean\\) temperature, °C\\): "season" is a category column`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("training and serving with physics features on the committed data", () => {
  const DERIVED = ["pmv_model", "ppd_model", "t_op", "adaptive_dev"];
  let dir: string;
  let config: PipelineConfig;
  let result: TrainResult;
  let model: ModelArtifact;
  let rows: Record<string, string>[];
  const apps: FastifyInstance[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "physics-train-"));
    config = parseConfig({
      ...base,
      dataset: { ...base.dataset, physics: { features: ["pmv", "ppd", "t_op", "adaptive_dev"], names: { pmv: "pmv_model", ppd: "ppd_model" } } },
      training: {
        ...base.training,
        permutation_importance_repeats: 1,
        candidates: [
          { name: "tree-d8", algorithm: "decision_tree", params: { max_depth: 8, min_samples_leaf: 20 } },
          { name: "gbm-tiny", algorithm: "gradient_boosting", params: { max_iter: 12, max_leaf_nodes: 15, early_stopping: false, n_jobs: 1 } },
        ],
      },
    });
    result = await train({ config, configSha256: "c".repeat(64), root: PROJECT_ROOT, dataPath: DATA, outDir: join(dir, "out"), reporter: recordingReporter(), now: () => new Date("2026-03-04T05:06:07.000Z") });
    model = await loadModel(result.paths.model);
    rows = await csvRecords(DATA);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the derivation into the artifact: the derived features follow the encoded inputs and the trees split on them", () => {
    expect(model.preprocessing.physics).toEqual({
      features: [
        { name: "pmv_model", kind: "pmv" },
        { name: "ppd_model", kind: "ppd" },
        { name: "t_op", kind: "t_op" },
        { name: "adaptive_dev", kind: "adaptive_dev" },
      ],
      inputs: { ta: "ta", tr: "tr", rh: "rh", vel: "vel", clo: "clo", met: "met", t_out: "t_out" },
    });
    // The client's features are the configured ones only; the derived ones are the model's.
    expect(model.features.map((f) => f.name)).toEqual(base.dataset.features);
    expect(model.preprocessing.encoded_features).toEqual([...base.dataset.features, ...DERIVED]);
    const first = base.dataset.features.length;
    const used = new Set(model.model.trees.flatMap((t) => t.feature.filter((f) => f >= first)));
    expect(used.size).toBeGreaterThan(0);
    expect(model.content_sha256).toBe(modelContentHash(model));
  });

  it("reports each candidate's cross-validated quality with and without the physics features", async () => {
    for (const c of result.metrics.cv) {
      expect(c.without_physics!.folds).toHaveLength(config.split.cv_folds);
      expect(c.without_physics!.mean).toBeCloseTo(c.without_physics!.folds.reduce((a, b) => a + b, 0) / c.without_physics!.folds.length, 12);
    }
    // The folds are the same, the features are not: the scores differ.
    expect(result.metrics.cv.some((c) => c.without_physics!.folds.some((s, i) => s !== c.folds[i]))).toBe(true);
    const report = await readFile(result.paths.report, "utf8");
    expect(report).toContain("## Physics features (cross-validation with and without)");
    for (const c of result.metrics.cv) expect(report).toMatch(new RegExp(`\\| ${c.candidate}( ✅)? \\| ${c.mean.toFixed(3)} ± ${c.std.toFixed(3)} \\| ${c.without_physics!.mean.toFixed(3)} ± `));
    for (const name of DERIVED) expect(result.metrics.importance.impurity).toHaveProperty(name);
  });

  describe("parity: served derived values and probabilities equal the training-time ones", () => {
    let records: Record<string, number | string | null>[];
    let table: Table;
    /** Records with a value outside its configured range: the contract treats it as missing, training keeps it as read. */
    let outOfRange: Set<number>;

    beforeAll(async () => {
      const features = base.dataset.features;
      // Every 50th committed row (missing tr, vel and t_out, t_out outside the adaptive model's 10..33.5 °C among them) …
      const picked = rows.filter((_, i) => i % 50 === 7);
      const crafted: { row: Record<string, string>; request: Record<string, number | string | null> }[] = [];
      const from = (i: number, change: Record<string, string | null>) => {
        const row = { ...picked[i]! };
        const request: Record<string, number | string | null> = asRequest(row, features);
        for (const [k, v] of Object.entries(change)) {
          row[k] = v ?? "";
          if (v === null) delete request[k];
          else request[k] = Number(v);
        }
        crafted.push({ row, request });
      };
      // … and rows made to test the edges: missing inputs, values outside physics' domain, outside the config's ranges.
      from(0, { tr: null, vel: null, t_out: null });
      from(1, { t_out: "9.99" });
      from(2, { t_out: "33.51" });
      from(3, { t_out: "10" });
      from(4, { met: "0.6", clo: "0" });
      from(5, { met: "5", clo: "3", vel: "5" });
      from(6, { ta: "45", tr: "50", rh: "100" });
      from(7, { ta: "5", tr: "5", rh: "0", vel: "0" });
      from(8, { vel: "7" }); // outside [0, 5]: missing, so still air
      from(9, { rh: "150" }); // outside [0, 100]: pmv and ppd missing
      from(10, { ta: "60" }); // outside [5, 45]: every derived feature missing
      from(11, { tr: "-1", t_out: "55" }); // both outside their ranges
      records = [...picked.map((r) => asRequest(r, features)), ...crafted.map((c) => c.request)];
      // A client that sends derived values (and a number as text): ignored and read as the CSV reads it.
      records.push({ ...asRequest(picked[12]!, features), pmv_model: 99, t_op: -40 });
      records.push({ ...asRequest(picked[13]!, features), ta: String(picked[13]!.ta) });
      const csvRows = [...picked, ...crafted.map((c) => c.row), picked[12]!, picked[13]!];
      const csv = join(dir, "parity.csv");
      await writeFile(csv, toCsv(csvRows, Object.keys(rows[0]!)));
      table = (await readDataset(csv, config.dataset)).table;
      const ranges = Object.fromEntries(PHYSICS_INPUT_COLUMNS.map((c) => [c, (config.dataset.columns[c] as { range: [number, number] }).range]));
      outOfRange = new Set(records.flatMap((r, i) => (PHYSICS_INPUT_COLUMNS.some((c) => typeof r[c] === "number" && ((r[c] as number) < ranges[c]![0] || (r[c] as number) > ranges[c]![1])) ? [i] : [])));
      expect(outOfRange.size).toBe(4);
      expect(records.filter((r) => r.tr === undefined).length).toBeGreaterThan(3);
      expect(records.filter((r) => typeof r.t_out === "number" && (r.t_out < 10 || r.t_out > 33.5)).length).toBeGreaterThan(3);
    });

    /** The training-time matrix (transformTable, as train encodes its rows) and the probabilities train scores. */
    function trainingTime(t: Table) {
      const X = transformTable(t, model.preprocessing, model.features, { mode: "train" }).matrix;
      return { X, proba: predictProbaTrees(model.model.trees, X, model.classes.length, treeCombine(model.model.algorithm, model.model.combine)) };
    }

    it("the derived values are the physics functions of the accepted inputs, identical in training and serving", () => {
      const { X } = trainingTime(table);
      expect(X.rows).toBe(records.length);
      const contract = compilePredictor(model).contract;
      const at = contract.physics!.column;
      expect(at).toBe(base.dataset.features.length);
      const encoded = new Float64Array(contract.width);
      const ranges = Object.fromEntries(PHYSICS_INPUT_COLUMNS.map((c) => [c, (config.dataset.columns[c] as { range: [number, number] }).range]));
      let pmvMissing = 0;
      records.forEach((record, i) => {
        const checked = checkRecord(contract, record, {}, encoded);
        expect(checked.errors).toEqual([]);
        // Independently: the functions of physics.ts on the values the contract accepts (missing or outside the configured range: NaN).
        const v = Object.fromEntries(PHYSICS_INPUT_COLUMNS.map((c) => {
          const x = record[c];
          const n = typeof x === "number" ? x : typeof x === "string" ? Number(x) : NaN;
          return [c, n < ranges[c]![0] || n > ranges[c]![1] ? NaN : n];
        })) as Record<(typeof PHYSICS_INPUT_COLUMNS)[number], number>;
        const p = pmvPpd(v.ta, v.tr, v.vel, v.rh, v.met, v.clo);
        const top = operativeTemperature(v.ta, v.tr, v.vel);
        const expected = [p.pmv, p.ppd, top, adaptiveComfortDeviation(top, v.t_out)];
        for (let j = 0; j < DERIVED.length; j++) {
          expect(Object.is(encoded[at + j], expected[j]), `record ${i} ${DERIVED[j]}: served ${encoded[at + j]}, physics ${expected[j]}`).toBe(true);
          expect(Object.is(X.features[at + j]![i], expected[j]), `record ${i} ${DERIVED[j]}: training ${X.features[at + j]![i]}, physics ${expected[j]}`).toBe(true);
        }
        if (Number.isNaN(expected[0])) pmvMissing++;
      });
      expect(pmvMissing).toBeGreaterThanOrEqual(2);
      const derivedWarning = checkRecord(contract, records.at(-2)).warnings.filter((w) => w.field === "pmv_model" || w.field === "t_op");
      expect(derivedWarning.map((w) => w.message)).toEqual(['"pmv_model": computed by the model from its inputs; the value sent is ignored', '"t_op": computed by the model from its inputs; the value sent is ignored']);
    });

    it("probabilities from the compiled predictor, predict() and predictTable equal the training-time ones bit for bit", () => {
      const { X, proba } = trainingTime(table);
      const k = model.classes.length;
      const predictor = compilePredictor(model);
      const batch = predictor.predictRecords(records);
      // Values outside a configured range: training keeps them as read, the contract imputes them (the documented
      // input policy); with them made missing in the training table as well, the two agree again.
      const imputedTable = structuredClone(table);
      for (const i of outOfRange) {
        for (const c of PHYSICS_INPUT_COLUMNS) {
          const column = imputedTable.columns.get(c)!;
          const range = (config.dataset.columns[c] as { range: [number, number] }).range;
          if (column.kind !== "category" && column.missing[i] === 0 && (column.values[i]! < range[0] || column.values[i]! > range[1])) {
            column.missing[i] = 1;
            column.values[i] = NaN;
          }
        }
      }
      const imputed = trainingTime(imputedTable).proba;
      const tablePrediction = predictTable(model, table).proba;
      const viaPredict = predict(model, records);
      records.forEach((record, i) => {
        const expected = Array.from((outOfRange.has(i) ? imputed : proba).subarray(i * k, (i + 1) * k));
        expect(Array.from(batch[i]!.probabilities!), `record ${i}, predictRecords`).toEqual(expected);
        expect(Array.from(predictor.predictRecord(record).probabilities!), `record ${i}, predictRecord`).toEqual(expected);
        // The table paths read the table as training does (out-of-range values as read).
        expect(Array.from(tablePrediction.subarray(i * k, (i + 1) * k))).toEqual(Array.from(proba.subarray(i * k, (i + 1) * k)));
        if (!outOfRange.has(i)) expect(model.classes.map((c) => viaPredict[i]!.probabilities[c])).toEqual(expected);
      });
      // The parity means something: without the derived values the same trees answer differently for many records.
      const blind = { ...X, features: X.features.map((f, j) => (j >= base.dataset.features.length ? new Float64Array(f.length).fill(NaN) : f)) };
      const blindProba = predictProbaTrees(model.model.trees, blind, k, treeCombine(model.model.algorithm, model.model.combine));
      let changed = 0;
      for (let i = 0; i < records.length; i++) if (blindProba.subarray(i * k, (i + 1) * k).some((p, c) => p !== proba[i * k + c])) changed++;
      expect(changed).toBeGreaterThan(records.length / 4);
    });

    it("a real server answers with the same probabilities, ignores derived values a client sends, and lists the derived features", async () => {
      const app = await createServer({ model: result.paths.model, root: dir, allowUnverified: true, logDestination: logCollector(), processMetrics: false, env: {}, serving: { rate_limit: { enabled: false } } });
      apps.push(app);
      await app.ready();
      const k = model.classes.length;
      const { proba } = trainingTime(table);
      const inRange = records.map((r, i) => ({ r, i })).filter(({ i }) => !outOfRange.has(i));
      const res = await app.inject({ method: "POST", url: "/predict/batch", payload: JSON.stringify({ records: inRange.map(({ r }) => r) }), headers: { "content-type": "application/json" } });
      expect(res.statusCode).toBe(200);
      const body = JSON.parse(res.body) as { predictions: { probabilities: Record<string, number> }[] };
      expect(body.predictions).toHaveLength(inRange.length);
      inRange.forEach(({ i }, j) => {
        expect(model.classes.map((c) => body.predictions[j]!.probabilities[c]), `record ${i}`).toEqual(Array.from(proba.subarray(i * k, (i + 1) * k)));
      });

      const sent = records.at(-2)!;
      const { pmv_model: _p, t_op: _t, ...plain } = sent;
      const one = async (record: unknown) => JSON.parse((await app.inject({ method: "POST", url: "/predict", payload: JSON.stringify(record), headers: { "content-type": "application/json" } })).body) as { probabilities: Record<string, number>; warnings: { field: string; message: string }[] };
      const withDerived = await one(sent);
      const without = await one(plain);
      expect(withDerived.probabilities).toEqual(without.probabilities);
      expect(withDerived.warnings.find((w) => w.field === "pmv_model")?.message).toBe('"pmv_model": computed by the model from its inputs; the value sent is ignored');

      const info = JSON.parse((await app.inject({ method: "GET", url: "/model" })).body) as { features: { name: string }[]; derived_features: unknown };
      expect(info.features.map((f) => f.name)).toEqual(base.dataset.features);
      expect(info.derived_features).toEqual(model.preprocessing.physics);
    });
  });

  it("round trip: model.json carries the derivation, the content hash covers it, a broken derivation is refused with its field", () => {
    const text = serializeModel(model);
    const again = parseModel(text, "model.json");
    expect(again.preprocessing.physics).toEqual(model.preprocessing.physics);
    expect(modelContentHash(again)).toBe(model.content_sha256);
    const raw = JSON.parse(text) as { preprocessing: { physics: { inputs: Record<string, string>; features: { name: string }[] }; encoded_features: string[] }; content_sha256?: string };

    // Another input mapping is another model: the recorded identity no longer matches.
    const swapped = structuredClone(raw);
    swapped.preprocessing.physics.inputs.tr = "ta";
    expect(() => parseModel(JSON.stringify(swapped), "model.json")).toThrow(/content_sha256 [0-9a-f]{64} does not match the model's content/);
    delete swapped.content_sha256;
    expect(modelContentHash(parseModel(JSON.stringify(swapped), "model.json"))).not.toBe(model.content_sha256);

    const category = structuredClone(raw);
    delete category.content_sha256;
    category.preprocessing.physics.inputs.ta = "season";
    expect(() => parseModel(JSON.stringify(category), "model.json")).toThrow(new InputError('model.json: preprocessing.physics.inputs.ta: "season" is not a number feature of the model'));
    const clash = structuredClone(raw);
    delete clash.content_sha256;
    clash.preprocessing.physics.features[2]!.name = "temperatura_ar";
    clash.preprocessing.encoded_features[base.dataset.features.length + 2] = "temperatura_ar";
    expect(() => parseModel(JSON.stringify(clash), "model.json")).toThrow(/preprocessing\.physics\.features\.2\.name: "temperatura_ar" names another feature of the model/);
    const dropped = structuredClone(raw) as { preprocessing: Record<string, unknown> };
    delete (dropped as { content_sha256?: string }).content_sha256;
    delete dropped.preprocessing.physics;
    expect(() => parseModel(JSON.stringify(dropped), "model.json")).toThrow(/preprocessing\.encoded_features: expected \[ta, tr, rh, vel, clo, met, t_out, season, building_type, cooling_type\] from "features" and the ordinal encoding, got \[.*pmv_model/);
  });
});

describe("the derivation in the transform", () => {
  it("follows one-hot encoded inputs and is the same for a record and a table row", () => {
    const records = [
      { ta: 24, tr: 28, vel: 0.1, season: "summer" },
      { ta: 24, tr: null, vel: 0.8, season: "winter" },
      { ta: 30, tr: 20, vel: null, season: null },
      { ta: 50, tr: 20, vel: 0.3, season: "summer" }, // ta outside its configured [5, 45]: t_op missing
    ];
    const table = tableFromRecords({ ta: "number", tr: "number", vel: "number", season: "category" }, records);
    const config = parseConfig({
      ...base,
      dataset: {
        ...base.dataset,
        columns: { ta: { type: "number", range: [5, 45] }, tr: { type: "number" }, vel: { type: "number" }, season: { type: "category", categories: ["winter", "summer"] }, y: { type: "number" } },
        label: { column: "y", binning: { kind: "three_class" } },
        features: ["season", "ta", "tr", "vel"],
        group: undefined,
        slices: [],
        derived: [],
        physics: { features: ["t_op"] },
      },
      preprocessing: { ...base.preprocessing, encoding: "onehot" },
    });
    const all = Int32Array.from(records, (_, i) => i);
    const params = fitPreprocessing(table, config, all);
    const specs = featureSpecs(table, config.dataset, params, all);
    expect(params.encoded_features).toEqual(["season=winter", "season=summer", "ta", "tr", "vel", "t_op"]);
    const matrix = transformTable(table, params, specs).matrix;
    const expected = [operativeTemperature(24, 28, 0.1), operativeTemperature(24, NaN, 0.8), operativeTemperature(30, 20, NaN), NaN];
    expect(expected.slice(0, 3).every((x) => !Number.isNaN(x))).toBe(true);
    records.forEach((record, i) => {
      expect(Object.is(matrix.features[5]![i], expected[i])).toBe(true);
      expect(Object.is(transformRecord(record, params, specs)[5], expected[i])).toBe(true);
    });
  });
});

describe("an artifact without physics features", () => {
  it("loads, derives nothing and predicts its recorded test metrics exactly, through the contract and the table path", async () => {
    const model = await loadModel(PRODUCTION_MODEL);
    expect(model.preprocessing.physics).toBeUndefined();
    const predictor = compilePredictor(model);
    expect(predictor.contract.physics).toBeNull();
    expect(predictor.contract.width).toBe(model.preprocessing.encoded_features.length);
    const read = await readDataset(DATA, base.dataset);
    expect(read.sha256).toBe(model.lineage.data_sha256);
    const labels = binLabel(read.table, base.dataset).codes;
    const test = splitRows(read.table, labels, base.split, base.dataset).test;
    expect(test.length).toBe(model.lineage.split.test_rows);
    const rows = await csvRecords(DATA);
    const served = predictor.predictRecords(Array.from(test, (r) => rows[r]!), { numericText: "parse" });
    const k = model.classes.length;
    const proba = new Float64Array(test.length * k);
    served.forEach((p, i) => proba.set(p.probabilities!, i * k));
    const y = Int32Array.from(test, (r) => labels[r]!);
    expect(classificationMetrics(y, proba, model.classes).confusion_matrix).toEqual(model.metrics.confusion_matrix);
    expect(classificationMetrics(y, predictTable(model, read.table, test).proba, model.classes).confusion_matrix).toEqual(model.metrics.confusion_matrix);
  });
});
