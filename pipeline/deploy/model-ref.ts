import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { z } from "zod";
import type { PipelineConfig } from "../config/schema.js";
import { InputError, UsageError } from "../core/errors.js";
import type { ModelArtifact } from "../model/artifact-schema.js";
import { describeProblems } from "../model/input-contract.js";
import { compilePredictor } from "../model/predictor.js";
import { resolveModelSource } from "../serve/model-source.js";
import { sha256Hex } from "../core/hash.js";
import { parseModel } from "../model/load.js";
import { modelContentHash } from "../model/identity.js";
import type { SmokeCase } from "./smoke.js";

/**
 * The model a deploy ships: resolved exactly as the server resolves `--model` (registry reference,
 * or a path with serving.json beside it or registered in the registry), because the smoke test
 * expects the server to report this very version.
 */
export interface DeployModel {
  name: string;
  version: number;
  contentSha256: string;
  sha256: string;
  path: string;
  artifact: ModelArtifact;
}

export async function resolveDeployModel(spec: string, root: string, config: PipelineConfig): Promise<DeployModel> {
  const source = await resolveModelSource(spec, root, config.model.name);
  if (!source.expected) throw new UsageError(`--model ${spec}: not a registered version (deploy production, name@vN, or a model.json the registry lists or with serving.json beside it)`);
  let bytes: Buffer;
  try {
    bytes = await readFile(source.path);
  } catch (error) {
    throw new InputError(`--model ${spec}: cannot read ${source.path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const sha256 = sha256Hex(bytes);
  const expected = source.expected;
  // The same refusal the server makes: a changed file is not the version it claims to be.
  if (sha256 !== expected.sha256) throw new UsageError(`--model ${spec}: sha256 ${sha256} does not match the ${expected.source} (${expected.sha256})`);
  const artifact = parseModel(bytes.toString("utf8"), source.path);
  const contentSha256 = modelContentHash(artifact);
  if (expected.content_sha256 && expected.content_sha256 !== contentSha256) throw new UsageError(`--model ${spec}: content hash ${contentSha256} does not match the ${expected.source}`);
  return { name: expected.name, version: expected.version, contentSha256, sha256, path: source.path, artifact };
}

const RowsSchema = z.array(z.record(z.string(), z.union([z.number(), z.string(), z.null()]))).min(1);

/**
 * The smoke test's fixture rows: the config's sanity cases plus any rows in `smoke.rows_file`. The
 * expected class of each is what the artifact being deployed predicts locally, through the same
 * input contract the server uses, so the revision must answer exactly like the file that was gated.
 */
export async function smokeCases(model: DeployModel, config: PipelineConfig, rowsFile: string | undefined, root: string): Promise<SmokeCase[]> {
  const predictor = compilePredictor(model.artifact);
  const cases: SmokeCase[] = [];
  const add = (name: string, input: Record<string, number | string | null>, expectNot?: string[], expect?: string) => {
    const p = predictor.predictRecord(input);
    if (p.classIndex < 0) throw new InputError(`smoke case "${name}": the model refuses its input (${describeProblems(p.checked.errors)})`);
    const predicted = model.artifact.classes[p.classIndex]!;
    // A sanity case the artifact itself fails would fail the smoke test for the wrong reason: say so now.
    if (expect !== undefined && predicted !== expect) throw new UsageError(`smoke case "${name}": ${model.name}@v${model.version} predicts "${predicted}", the sanity case expects "${expect}"; this model should not have passed validate-model`);
    if (expectNot?.includes(predicted)) throw new UsageError(`smoke case "${name}": ${model.name}@v${model.version} predicts "${predicted}", which the sanity case forbids`);
    cases.push({ name, input, expect: predicted, ...(expectNot?.length ? { expectNot } : {}) });
  };
  for (const c of config.promotion.gates.sanity.cases) add(c.name, c.input, c.expect_not, c.expect);
  if (rowsFile) {
    const path = resolve(root, rowsFile);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, "utf8"));
    } catch (error) {
      throw new InputError(`${rowsFile}: cannot read smoke rows (${(error as Error).message})`);
    }
    const parsed = RowsSchema.safeParse(Array.isArray(raw) ? raw : (raw as { records?: unknown })?.records);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new InputError(`${rowsFile}: expected a non-empty list of records; at ${issue.path.join(".") || "(root)"}: ${issue.message}`);
    }
    parsed.data.forEach((row, i) => add(`${rowsFile} row ${i + 1}`, row));
  }
  // Without configured cases (a config `pipeline init` wrote), records typical of the training data:
  // the service must answer them exactly as the artifact does.
  if (cases.length === 0) for (const [name, input] of typicalRecords(model.artifact)) add(name, input);
  if (cases.length === 0) throw new UsageError("no smoke rows: add promotion.gates.sanity.cases to the config or set environments.<env>.smoke.rows_file");
  return cases;
}

/**
 * Records from the artifact's reference profile: every feature at its training quartile or median
 * (numbers) and its most frequent category. Features the profile does not describe are left out.
 */
export function typicalRecords(artifact: ModelArtifact): [string, Record<string, number | string | null>][] {
  const columns = artifact.reference_profile.columns;
  const at = (q: number) => {
    const record: Record<string, number | string | null> = {};
    for (const f of artifact.features) {
      const c = columns[f.name];
      if (!c || c.count === 0) continue;
      if (c.kind === "number") record[f.name] = c.quantiles[Math.round(q * (c.quantiles.length - 1))]!;
      else {
        const top = Object.entries(c.counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
        if (top) record[f.name] = top[0];
      }
    }
    return record;
  };
  if (Object.keys(at(0.5)).length === 0) return [];
  return [
    ["typical record (training medians, most frequent categories)", at(0.5)],
    ["training lower quartiles", at(0.25)],
    ["training upper quartiles", at(0.75)],
  ];
}
