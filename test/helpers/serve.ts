import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DestinationStream } from "pino";
import { sha256Hex } from "../../pipeline/core/hash.js";
import { modelContentHash } from "../../pipeline/model/identity.js";
import { parseModel } from "../../pipeline/model/load.js";
import { PROJECT_ROOT } from "./cli.js";

export const PRODUCTION_MODEL = join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json");

/** A record every feature of the committed model accepts. */
export const GOOD_RECORD = { ta: 24, tr: 24.5, rh: 45, vel: 0.1, clo: 0.6, met: 1.1, t_out: 20, season: "summer", building_type: "office", cooling_type: "air conditioned" };

/** Collects pino's JSON lines (what a log collector would read from stdout). */
export function logCollector(): DestinationStream & { lines: () => Record<string, unknown>[]; text: () => string } {
  let buffer = "";
  return {
    write(chunk: string) {
      buffer += chunk;
    },
    lines: () =>
      buffer
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => buffer,
  };
}

/** A copy of the production model in a fresh directory, with serving.json as the image build writes it. */
export async function bakedModelDir(options: { tamper?: boolean; servingJson?: Record<string, unknown> | null } = {}): Promise<{ dir: string; model: string }> {
  const dir = await mkdtemp(join(tmpdir(), "serve-model-"));
  await mkdir(dir, { recursive: true });
  const model = join(dir, "model.json");
  await copyFile(PRODUCTION_MODEL, model);
  const text = await readFile(model, "utf8");
  const identity = { name: "thermal-comfort", version: 1, sha256: sha256Hex(text), content_sha256: modelContentHash(parseModel(text, "model.json")) };
  if (options.servingJson !== null) await writeFile(join(dir, "serving.json"), JSON.stringify(options.servingJson ?? identity));
  if (options.tamper) {
    // One threshold moved: still a valid artifact, no longer the registered one.
    const parsed = JSON.parse(text);
    parsed.model.trees[0].threshold[0] += 1;
    await writeFile(model, JSON.stringify(parsed) + "\n");
  }
  return { dir, model };
}
