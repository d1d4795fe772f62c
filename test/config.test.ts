import { describe, expect, it } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, parseConfig } from "../pipeline/config/load.js";
import { ConfigError } from "../pipeline/core/errors.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

describe("config/pipeline.yaml", () => {
  it("loads the committed config and the ASHRAE profile", async () => {
    const base = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    expect(base.config.model.name).toBe("thermal-comfort");
    expect(base.config.dataset.label.binning.kind).toBe("three_class");
    expect(base.sha256).toMatch(/^[0-9a-f]{64}$/);
    const ashrae = await loadConfig("config/datasets/ashrae-db2.yaml", PROJECT_ROOT);
    expect(ashrae.config.dataset.path).toBe("../shared/datasets/ashrae-db2-v2.1.0.csv.gz");
    // Sections the profile does not override come from the base it extends; lists it sets replace the base's.
    expect(ashrae.config.preprocessing).toEqual(base.config.preprocessing);
    expect(ashrae.config.split).toEqual(base.config.split);
    expect(ashrae.config.training.candidates.map((c) => c.name)).toEqual([...base.config.training.candidates.map((c) => c.name), "gbm-balanced"]);
    expect(ashrae.config.training.tune_decision_weights).toBe(true);
    expect(base.config.training.tune_decision_weights).toBe(false);
    // Its own registry entry, and smoke cases that give the inputs its model requires (never missing in DB II).
    expect(ashrae.config.model.name).toBe("thermal-comfort-ashrae");
    for (const c of ashrae.config.promotion.gates.sanity.cases) expect(Object.keys(c.input)).toEqual(expect.arrayContaining(["country", "climate", "lat"]));
    expect(ashrae.sha256).not.toBe(base.sha256);
  });

  it("names the key path, the expectation and the value found", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const raw = structuredClone(config) as unknown as Record<string, Record<string, Record<string, unknown>>>;
    raw.validation!.missing!.max_share = "high";
    expect(() => parseConfig(raw, "config/pipeline.yaml")).toThrowError(/validation\.missing\.max_share: expected a number, got "high"/);
    try {
      parseConfig(raw, "x.yaml");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
    }
  });

  it("rejects unknown columns in features, unknown keys and out-of-range shares", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const raw = structuredClone(config) as unknown as { dataset: { features: string[] }; drift: Record<string, unknown>; extra?: number };
    raw.dataset.features.push("nope");
    raw.drift.alpha = 2;
    raw.extra = 1;
    let message = "";
    try {
      parseConfig(raw, "c.yaml");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/dataset\.features\.10: unknown column "nope"/);
    expect(message).toMatch(/drift\.alpha: expected a number <= 1, got 2/);
    expect(message).toMatch(/unknown key "extra"/);
  });

  it("reports YAML syntax errors with line and column, and missing files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cfg-"));
    await writeFile(join(dir, "bad.yaml"), "version: 1\nmodel: [unclosed\n");
    await expect(loadConfig("bad.yaml", dir)).rejects.toThrowError(/bad\.yaml:\d+:\d+: invalid YAML/);
    await expect(loadConfig("missing.yaml", dir)).rejects.toThrowError(/missing\.yaml: cannot read configuration \(file not found\)/);
  });
});
