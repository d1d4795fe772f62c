import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { ModelArtifact } from "../pipeline/model/artifact-schema.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { checkRecord, inputContract } from "../pipeline/model/input-contract.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import { compilePredictor } from "../pipeline/model/predictor.js";
import { transformRecord } from "../pipeline/model/transform.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

let v1: ModelArtifact;
const full = { ta: 24, tr: 24.5, rh: 45, vel: 0.1, clo: 0.6, met: 1.1, t_out: 20, season: "summer", building_type: "office", cooling_type: "air conditioned" };

/** The committed artifact with contract fields added, as a newly trained one would carry them. */
function withContract(model: ModelArtifact, policy: ModelArtifact["input_policy"], aliases: Record<string, string[]> = {}): ModelArtifact {
  return { ...model, input_policy: policy, features: model.features.map((f) => ({ ...f, ...(aliases[f.name] ? { aliases: aliases[f.name] } : {}) })) };
}

beforeAll(async () => {
  v1 = await loadModel(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"));
});

describe("input contract on an artifact written before it existed (v1)", () => {
  it("defaults: features never missing in training are required, no aliases, impute-and-warn policy", () => {
    const contract = inputContract(v1);
    const required = contract.fields.filter((f) => f.required).map((f) => f.name);
    const neverMissing = Object.entries(v1.reference_profile.columns).filter(([, c]) => c.missing === 0).map(([n]) => n);
    expect(required.sort()).toEqual(neverMissing.filter((n) => v1.features.some((f) => f.name === n)).sort());
    expect(required.length).toBeGreaterThan(0);
    expect(contract.fields.every((f) => f.keys.length === 1)).toBe(true);
    const empty = checkRecord(contract, {});
    expect(empty.ok).toBe(false);
    expect(empty.errors.map((e) => e.field).sort()).toEqual([...required].sort());
    expect(empty.errors.every((e) => e.kind === "missing_required" && e.message.includes(e.field))).toBe(true);
  });

  it("a full record passes silently and encodes exactly as the transform does", () => {
    const contract = inputContract(v1);
    const encoded = new Float64Array(contract.width);
    const r = checkRecord(contract, full, {}, encoded);
    expect(r).toMatchObject({ ok: true, errors: [], warnings: [] });
    expect(Array.from(encoded)).toEqual(Array.from(transformRecord(full, v1.preprocessing, v1.features)));
  });

  it("the compiled predictor gives the same probabilities as the tree evaluator", () => {
    const predictor = compilePredictor(v1);
    const records = [full, { ...full, ta: 31, season: "winter" }, { ...full, tr: null, vel: null, t_out: null }];
    const expected = predict(v1, records);
    records.forEach((rec, i) => {
      const p = predictor.predictRecord(rec);
      expect(p.checked.ok).toBe(true);
      expect(predictor.classes[p.classIndex]).toBe(expected[i]!.label);
      v1.classes.forEach((c, k) => expect(p.probabilities![k]).toBeCloseTo(expected[i]!.probabilities[c]!, 12));
    });
  });

  it("batch prediction (tree by tree) gives exactly the per-record answers, errors in place", () => {
    const predictor = compilePredictor(v1);
    const records: unknown[] = [full, { ...full, ta: "hot" }, { ...full, ta: 33, vel: null, season: "Winter" }, 5, { ...full, building_type: "castle", rh: 300 }];
    const batch = predictor.predictRecords(records);
    records.forEach((rec, i) => {
      const one = predictor.predictRecord(rec);
      expect(batch[i]!.checked).toEqual(one.checked);
      expect(batch[i]!.classIndex).toBe(one.classIndex);
      expect(batch[i]!.probabilities === null ? null : Array.from(batch[i]!.probabilities!)).toEqual(one.probabilities === null ? null : Array.from(one.probabilities));
    });
    expect(batch.map((b) => b.checked.ok)).toEqual([true, false, true, false, true]);
  });

  it("wrong types are errors naming the field; missing optional features and text numbers are warnings", () => {
    const contract = inputContract(v1);
    const cases: [unknown, string, string][] = [
      [{ ...full, ta: "hot" }, "ta", "wrong_type"],
      [{ ...full, ta: "NaN" }, "ta", "missing_required"],
      [{ ...full, ta: "Infinity" }, "ta", "wrong_type"],
      [{ ...full, ta: Infinity }, "ta", "wrong_type"],
      [{ ...full, rh: true }, "rh", "wrong_type"],
      [{ ...full, clo: [1] }, "clo", "wrong_type"],
      [{ ...full, season: { x: 1 } }, "season", "wrong_type"],
      [{ ...full, met: null }, "met", "missing_required"],
      [{ ...full, met: "  " }, "met", "missing_required"],
    ];
    for (const [rec, field, kind] of cases) {
      const r = checkRecord(contract, rec);
      expect({ rec, ok: r.ok, errors: r.errors.map((e) => [e.field, e.kind]) }).toEqual({ rec, ok: false, errors: [[field, kind]] });
    }
    for (const raw of [null, [], [full], 3, "x"]) {
      const r = checkRecord(contract, raw);
      expect(r.errors).toEqual([expect.objectContaining({ field: "(record)", kind: "not_an_object" })]);
    }
    const soft = checkRecord(contract, { ...full, tr: undefined, vel: "0.2", extra: 1, season: " Summer " });
    expect(soft.ok).toBe(true);
    expect(soft.warnings.map((w) => `${w.field}:${w.kind}`).sort()).toEqual(["extra:unknown_field", "tr:imputed_missing", "vel:numeric_text"]);
    expect(soft.record).toMatchObject({ tr: null, vel: 0.2, season: "summer" });
    // The label column is not a feature but is expected in data: ignored without a warning.
    expect(checkRecord(contract, { ...full, [v1.label.column]: 1 }).warnings).toEqual([]);
    // __proto__ as an own key (what JSON.parse makes of it) is an unknown field, never a prototype.
    const proto = checkRecord(contract, JSON.parse(`{"__proto__": {"ta": 1}, ${JSON.stringify(full).slice(1)}`));
    expect(proto.ok).toBe(true);
    expect(proto.warnings.map((w) => w.field)).toEqual(["__proto__"]);
  });

  it("unknown categories and out-of-range values are imputed and warned about by default", () => {
    const contract = inputContract(v1);
    const r = checkRecord(contract, { ...full, building_type: "castle", rh: 250 });
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => `${w.field}:${w.kind}`).sort()).toEqual(["building_type:unknown_category", "rh:out_of_range"]);
    expect(r.record).toMatchObject({ building_type: null, rh: null });
    expect(r.warnings.find((w) => w.field === "rh")!.message).toMatch(/250 is outside the valid range \[0, 100\]; treated as missing and imputed with 51/);
  });

  it("an artifact without input_policy keeps its content hash", () => {
    const { input_policy: _unused, ...rest } = withContract(v1, undefined);
    expect(modelContentHash(rest as ModelArtifact)).toBe(modelContentHash(v1));
    expect(modelContentHash(withContract(v1, { unknown_category: "error", out_of_range: "impute", per_field: {} }))).not.toBe(modelContentHash(v1));
  });
});

describe("input contract with a stored policy and aliases", () => {
  const policy = { unknown_category: "error" as const, out_of_range: "impute" as const, per_field: { vel: { out_of_range: "error" as const }, cooling_type: { unknown_category: "impute" as const } } };

  it("applies the policy per field", () => {
    const contract = inputContract(withContract(v1, policy));
    const r = checkRecord(contract, { ...full, building_type: "castle", vel: 9, rh: 250, cooling_type: "fans" });
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => `${e.field}:${e.kind}`).sort()).toEqual(["building_type:unknown_category", "vel:out_of_range"]);
    expect(r.warnings.map((w) => `${w.field}:${w.kind}`).sort()).toEqual(["cooling_type:unknown_category", "rh:out_of_range"]);
  });

  it("resolves aliases and refuses a feature given twice", () => {
    const model = withContract(v1, policy, { ta: ["air_temperature", "temperatura_ar"] });
    const contract = inputContract(model);
    const { ta, ...rest } = full;
    const viaAlias = checkRecord(contract, { ...rest, temperatura_ar: ta });
    expect(viaAlias).toMatchObject({ ok: true, warnings: [] });
    expect(viaAlias.record.ta).toBe(ta);
    const twice = checkRecord(contract, { ...full, air_temperature: 30 });
    expect(twice.errors).toEqual([expect.objectContaining({ field: "air_temperature", kind: "ambiguous_field" })]);
    const wrong = checkRecord(contract, { ...rest, air_temperature: "x" });
    expect(wrong.errors[0]!.message).toMatch(/^air_temperature \(ta\): expected a number/);
  });
});
