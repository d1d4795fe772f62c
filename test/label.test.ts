import { describe, expect, it } from "vitest";
import { LabelBinningSchema, type LabelBinning } from "../pipeline/config/schema.js";
import { ConfigError } from "../pipeline/core/errors.js";
import { readDataset } from "../pipeline/data/csv.js";
import { binLabel, binLabelValue } from "../pipeline/data/label.js";
import { tableFromRecords } from "../pipeline/data/table.js";
import { smallDataset, tempFile } from "./fixtures/csv-dataset.js";

const seven = LabelBinningSchema.parse({ kind: "seven_point" });
const three = LabelBinningSchema.parse({ kind: "three_class" });

function datasetWith(binning: unknown, labelType: "number" | "category" = "number") {
  return smallDataset({
    columns: {
      ta: { type: "number" },
      vote: labelType === "number" ? { type: "number" } : { type: "category" },
    },
    label: { column: "vote", binning },
    features: ["ta"],
    derived: [],
  });
}

describe("binLabelValue", () => {
  it("seven_point rounds half away from zero and clamps to [-3, 3]", () => {
    const cases: [number, string][] = [
      [-0.5, "slightly cool"],
      [0.5, "slightly warm"],
      [0.49, "neutral"],
      [-0.49, "neutral"],
      [2.5, "hot"],
      [-2.5, "cold"],
      [1.5, "warm"],
      [-1.5, "cool"],
      [3.7, "hot"],
      [-10, "cold"],
      [0, "neutral"],
    ];
    for (const [v, cls] of cases) expect(binLabelValue(v, seven), String(v)).toBe(cls);
  });

  it("three_class: cool < cool_below <= neutral <= warm_above < warm", () => {
    expect(binLabelValue(-0.5, three)).toBe("neutral");
    expect(binLabelValue(0.5, three)).toBe("neutral");
    expect(binLabelValue(-0.51, three)).toBe("cool");
    expect(binLabelValue(0.51, three)).toBe("warm");
    const custom = LabelBinningSchema.parse({ kind: "three_class", cool_below: -1, warm_above: 1, classes: ["c", "n", "w"] });
    expect([-1.5, -1, 1, 1.01].map((v) => binLabelValue(v, custom))).toEqual(["c", "n", "n", "w"]);
  });

  it("reads numeric text, and returns null for missing or unparseable values", () => {
    expect(binLabelValue("2.5", seven)).toBe("hot");
    expect(binLabelValue(" -1 ", three)).toBe("cool");
    expect(binLabelValue("", three)).toBeNull();
    expect(binLabelValue("warm", three)).toBeNull();
    expect(binLabelValue(NaN, seven)).toBeNull();
  });

  it("categorical: configured classes (normalised) or the value itself", () => {
    const closed = LabelBinningSchema.parse({ kind: "categorical", classes: ["cooler", "no change", "warmer"] });
    expect(binLabelValue(" Warmer ", closed)).toBe("warmer");
    expect(binLabelValue("hotter", closed)).toBeNull();
    const open: LabelBinning = LabelBinningSchema.parse({ kind: "categorical" });
    expect(binLabelValue("Cooler", open)).toBe("cooler");
    expect(binLabelValue("", open)).toBeNull();
  });
});

describe("binLabel", () => {
  it("bins a numeric label column with seven_point and counts each class", () => {
    const table = tableFromRecords({ ta: "number", vote: "number" }, [-0.5, 0.5, 2.5, -2.5, null, 0.2, 3].map((vote) => ({ ta: 20, vote })));
    const r = binLabel(table, datasetWith({ kind: "seven_point" }));
    expect(Array.from(r.codes)).toEqual([2, 4, 6, 0, -1, 3, 6]);
    expect(r.classes).toEqual(["cold", "cool", "slightly cool", "neutral", "slightly warm", "warm", "hot"]);
    expect(r.counts).toEqual([1, 0, 1, 1, 1, 0, 2]);
  });

  it("bins with three_class thresholds from the config", () => {
    const table = tableFromRecords({ ta: "number", vote: "number" }, [-3, -0.5, 0, 0.5, 0.6, null].map((vote) => ({ ta: 20, vote })));
    const r = binLabel(table, datasetWith({ kind: "three_class", cool_below: -0.5, warm_above: 0.5 }));
    expect(Array.from(r.codes)).toEqual([0, 1, 1, 1, 2, -1]);
    expect(r.counts).toEqual([1, 3, 1]);
  });

  it("categorical: config order when classes are given (others are missing), data order otherwise", () => {
    const table = tableFromRecords({ ta: "number", vote: "category" }, ["warmer", "cooler", "no change", "cooler", null, "hotter"].map((vote) => ({ ta: 20, vote })));
    const closed = binLabel(table, datasetWith({ kind: "categorical", classes: ["cooler", "no change", "warmer"] }, "category"));
    expect(closed.classes).toEqual(["cooler", "no change", "warmer"]);
    expect(Array.from(closed.codes)).toEqual([2, 0, 1, 0, -1, -1]);
    expect(closed.counts).toEqual([2, 1, 1]);
    const open = binLabel(table, datasetWith({ kind: "categorical" }, "category"));
    expect(open.classes).toEqual(["warmer", "cooler", "no change", "hotter"]);
    expect(open.counts).toEqual([1, 2, 1, 1]);
  });

  it("rejects a binning that does not fit the column type", () => {
    const table = tableFromRecords({ ta: "number", vote: "category" }, [{ ta: 1, vote: "a" }]);
    expect(() => binLabel(table, datasetWith({ kind: "three_class" }, "category"))).toThrow(ConfigError);
    const numeric = tableFromRecords({ ta: "number", vote: "number" }, [{ ta: 1, vote: 1 }]);
    expect(() => binLabel(numeric, datasetWith({ kind: "categorical" }))).toThrow(/categorical binning needs a category column, but "vote" is a number column/);
  });

  it("bins what the reader produced: averaged votes and missing values", async () => {
    const file = await tempFile("votes.csv", "id,ta,tsv\n1,20,-0.5\n2,20,0.51\n3,20,\n4,20,-2.5\n");
    const r = await readDataset(file, smallDataset());
    const binned = binLabel(r.table, smallDataset());
    expect(binned.classes).toEqual(["cool", "neutral", "warm"]);
    expect(Array.from(binned.codes)).toEqual([1, 2, -1, 0]);
  });
});
