import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { checkRegistry } from "../pipeline/registry/check.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { productionVersion } from "../pipeline/registry/query.js";
import { loadModel } from "../pipeline/model/load.js";
import { predict } from "../pipeline/model/predict.js";
import { sha256File } from "../pipeline/core/hash.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

/** The committed state of this repository is itself a GitOps registry and must stay valid. */
describe("the committed models/ and data/", () => {
  it("registry passes every invariant and names a production model", async () => {
    const registry = await readRegistry(PROJECT_ROOT);
    const result = await checkRegistry(PROJECT_ROOT, registry);
    expect(result.problems).toEqual([]);
    const prod = productionVersion(registry, "thermal-comfort");
    expect(prod?.tags).toContain("validated");
  });

  it("production model loads without training code and answers the sanity cases", async () => {
    const registry = await readRegistry(PROJECT_ROOT);
    const prod = productionVersion(registry, "thermal-comfort")!;
    const model = await loadModel(join(PROJECT_ROOT, prod.artifact.path));
    expect(model.lineage.data_sha256).toBe(prod.data.sha256);
    expect(await sha256File(join(PROJECT_ROOT, prod.data.path))).toBe(prod.data.sha256);
    const [hot, cold] = predict(model, [
      { ta: 35, tr: 35, rh: 80, vel: 0.1, clo: 0.5, met: 1.2, t_out: 33, season: "summer", building_type: "office", cooling_type: "naturally ventilated" },
      { ta: 14, tr: 14, rh: 40, vel: 0.2, clo: 0.6, met: 1.0, t_out: 0, season: "winter", building_type: "office", cooling_type: "air conditioned" },
    ]);
    expect(hot!.label).toBe("warm");
    expect(cold!.label).toBe("cool");
    expect(Object.values(hot!.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});
