import { GateFailure } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import type { Reporter } from "../core/reporter.js";
import type { PipelineConfig } from "../config/schema.js";
import { configHash } from "../config/load.js";
import { modelContentHash } from "../model/identity.js";
import { assertRegistryValid } from "../registry/check.js";
import { findSameModel } from "../registry/identity.js";
import { withRegistryLock } from "../registry/lock.js";
import { readRegistry, REGISTRY_FILE } from "../registry/store.js";
import { sourceDateEpoch } from "../core/source-date.js";
import { bindValidationReport } from "./binding.js";
import type { ModelVersion, Registry } from "../registry/schema.js";
import { renderModelCard } from "./card.js";
import { GitClient } from "./git.js";
import { DEFAULT_TOKEN_WARNING, type GitHubClient, type GitHubToken, type PullRequestRef } from "./github.js";
import { readMetricsView } from "./metrics-view.js";
import { prTitle, renderPrBody } from "./pr-body.js";
import { proposeRegistryChange } from "./propose.js";
import { readPromotionSource, type PromotionSource } from "./source.js";
import { addVersion, moveProduction, nextVersion, versionDir, versionEntry, writeStaged, type StagedFile } from "./stage.js";

export interface PromoteInput {
  root: string;
  config: PipelineConfig;
  /** A training output directory or its model.json. */
  modelPath: string;
  /** The validate-model JSON report (path or parsed object). */
  validationReport?: string | object;
  /** The validate-data JSON report (path or parsed object): its drift section goes into the PR body. */
  dataReport?: string | object;
  reporter: Reporter;
  git?: GitClient;
  github?: GitHubClient | null;
  openPr: boolean;
  clock?: () => Date;
  token?: GitHubToken;
  remote?: string;
  /** Register without a validation report: untagged, never validated, so never production. */
  unvalidated?: boolean;
}

export interface PromoteResult {
  name: string;
  /** The registered version; when nothing changed, the existing version that is the same model. */
  version: number;
  /** False when the model was already registered ("nothing to promote"): nothing was written. */
  changed: boolean;
  /** The version this model already is, when `changed` is false. */
  sameAs: number | null;
  /** Whether the version is tagged validated (false with `unvalidated`). */
  validated: boolean;
  /** models/<name>/v<N> */
  dir: string;
  /** The production version this one replaces (archived by the change), if any. */
  replaced: number | null;
  files: string[];
  branch: string | null;
  commit: string | null;
  pullRequest: (PullRequestRef & { action: "created" | "updated" }) | null;
}

interface Plan {
  version: number;
  entry: ModelVersion;
  registry: Registry;
  replaced: number | null;
  champion: ModelVersion | null;
  files: StagedFile[];
  title: string;
  body: string;
  alsoRegistered: number[];
}

/** Versions on the start branch that the base does not have yet (an open PR's own proposals). */
function proposedOnly(start: Registry, base: Registry, name: string): number[] {
  const known = new Set((base.models[name]?.versions ?? []).map((v) => v.version));
  return (start.models[name]?.versions ?? []).map((v) => v.version).filter((v) => !known.has(v));
}

interface SameModel {
  version: ModelVersion;
  /** Same file bytes, or only the same content (lineage and times differ). */
  identical: boolean;
}

function plan(source: PromotionSource, config: PipelineConfig, start: Registry, base: Registry, now: Date, validated: boolean): Plan {
  const { artifact } = source;
  const name = artifact.name;
  const version = nextVersion(start, name);
  const view = readMetricsView([source.metricsJson, artifact.metrics], artifact.classes);
  const entry = versionEntry(artifact, source.artifactBytes, version, view.scalars, now, { validated });
  const champion = base.models[name]?.versions.find((v) => v.tags.includes("production")) ?? null;
  const added = addVersion(start, name, entry, config.model.name === name ? config.model.description : undefined);
  // An unvalidated version is registered untagged and never moves production.
  const moved = validated ? moveProduction(added, name, version, base) : { registry: added, replaced: null };
  const finalEntry = moved.registry.models[name]!.versions.find((v) => v.version === version)!;
  const dir = versionDir(name, version);
  const files: StagedFile[] = [
    { path: `${dir}/model.json`, bytes: source.artifactBytes },
    ...source.extras.map((e) => ({ path: `${dir}/${e.name}`, bytes: e.bytes })),
    { path: `${dir}/card.md`, bytes: renderModelCard({ config, artifact, entry: finalEntry, view, champion }) },
  ];
  const alsoRegistered = proposedOnly(start, base, name);
  const body = renderPrBody({ name, kind: "promotion", challenger: finalEntry, challengerView: view, artifact, champion, validation: source.validation, drift: source.validation?.drift ?? source.dataDrift, alsoRegistered });
  return { version, entry: finalEntry, registry: moved.registry, replaced: moved.replaced, champion, files, title: prTitle({ name, kind: "promotion", challenger: finalEntry, champion }), body, alsoRegistered };
}

/** The registered version that is this model already (same bytes, or same content hash), if any. */
async function sameModel(root: string, registry: Registry, source: PromotionSource): Promise<SameModel | null> {
  const sha = sha256Hex(source.artifactBytes);
  const found = await findSameModel(root, registry.models[source.artifact.name]?.versions ?? [], modelContentHash(source.artifact), sha);
  return found ? { version: found, identical: found.artifact.sha256 === sha } : null;
}

/**
 * Registers a validated model as the next version and moves `production` to it. Without --open-pr
 * the change is written to the working tree; with it, the change is committed on a branch,
 * pushed and proposed as a pull request, whose merge is the promotion.
 *
 * Integrity rules (docs/readme-parts/integrity.md): the validation report must be this artifact's
 * passing report made with this configuration (bindValidationReport), or `unvalidated` registers
 * the version untagged; a model already registered (same content hash) is "nothing to promote"
 * and writes nothing; every read-modify-write of the registry holds the registry lock and starts
 * with the registry check.
 */
export async function promote(input: PromoteInput): Promise<PromoteResult> {
  const { root, config, reporter } = input;
  const clock = input.clock ?? defaultClock();
  if (input.token) {
    reporter.secret(input.token.value);
    if (input.openPr && input.token.kind === "github_token") reporter.warning(DEFAULT_TOKEN_WARNING);
  }
  const source = await readPromotionSource(root, input.modelPath, input.validationReport, input.dataReport);
  const artifactSha = sha256Hex(source.artifactBytes);
  let validated: boolean;
  if (source.validationRaw !== null) {
    bindValidationReport({ raw: source.validationRaw, file: source.validationFile ?? "<validation report>", artifactSha256: artifactSha, configSha256: configHash(config) });
    validated = true;
  } else if (input.unvalidated) {
    reporter.warning("no validate-model report (--unvalidated): the version is registered untagged, never validated, so it cannot become production");
    validated = false;
  } else {
    throw new GateFailure(
      `refusing to promote ${source.artifact.name}: no validate-model report. Pass this model's report with --validation-report FILE, ` +
        "or --unvalidated to register it untagged (never validated, so never production)",
    );
  }
  const name = source.artifact.name;
  const contentSha = modelContentHash(source.artifact);

  if (!input.openPr) {
    return withRegistryLock(root, async () => {
      // Read inside the lock: a copy read before it may already be outdated.
      const registry = await readRegistry(root);
      await assertRegistryValid(root, registry, REGISTRY_FILE);
      const same = await sameModel(root, registry, source);
      if (same) return nothingToPromote(reporter, name, same, contentSha);
      const p = plan(source, config, registry, registry, clock(), validated);
      reporter.info(`staging ${versionDir(name, p.version)} and the registry`);
      await writeStaged(root, p.files, p.registry);
      reporter.info(`registered ${name} v${p.version} in ${p.entry.artifact.path}${validated ? "" : " (untagged: not validated)"}${p.replaced ? `; production moves from v${p.replaced}` : ""}`);
      report(reporter, name, p.version, null, null, true);
      return { name, version: p.version, changed: true, sameAs: null, validated, dir: versionDir(name, p.version), replaced: p.replaced, files: p.files.map((f) => f.path), branch: null, commit: null, pullRequest: null };
    });
  }

  const git = input.git ?? new GitClient(root);
  let made: Plan | null = null;
  let unchanged: SameModel | null = null;
  const result = await proposeRegistryChange({
    root,
    git,
    github: input.github ?? null,
    reporter,
    base: config.promotion.github.base_branch,
    remote: input.remote,
    headPrefix: `promote/${name}-`,
    labels: config.promotion.github.labels,
    reviewers: config.promotion.github.reviewers,
    build: async (start, base, tree) => {
      // Same model already on the start branch (the base, or the open PR's head): nothing to propose.
      unchanged = await sameModel(tree, start, source);
      if (unchanged) return null;
      made = plan(source, config, start, base, clock(), validated);
      return {
        files: made.files,
        registry: made.registry,
        commitMessage: `${made.title}\n\nRegisters ${name} v${made.version} (${made.entry.trainer.candidate}, artifact sha256 ${made.entry.artifact.sha256.slice(0, 12)}, content ${contentSha.slice(0, 12)})${validated ? " and moves production to it" : " untagged (not validated)"}.`,
        title: made.title,
        body: made.body,
        branch: `promote/${name}-v${made.version}`,
      };
    },
  });
  if (unchanged) return nothingToPromote(reporter, name, unchanged, contentSha);
  const p = made as Plan | null;
  if (!p || !result) throw new Error("promotion plan was not built");
  report(reporter, name, p.version, result.branch, result.pullRequest, true);
  return { name, version: p.version, changed: true, sameAs: null, validated, dir: versionDir(name, p.version), replaced: p.replaced, files: p.files.map((f) => f.path), branch: result.branch, commit: result.commit, pullRequest: result.pullRequest };
}

/** The clock of registry times: SOURCE_DATE_EPOCH when set (reproducible builds), else now. */
function defaultClock(): () => Date {
  const pinned = sourceDateEpoch();
  return pinned ? () => pinned : () => new Date();
}

function nothingToPromote(reporter: Reporter, name: string, same: SameModel, contentSha: string): PromoteResult {
  const v = same.version;
  reporter.info(
    `nothing to promote: this is the same model as ${name}@v${v.version} [${v.tags.join(", ") || "untagged"}] (${same.identical ? "identical artifact" : `content sha256 ${contentSha.slice(0, 12)}…; only lineage or times differ`}); nothing was written` +
      (v.tags.includes("production") ? "" : ` (to make it production again: pipeline rollback ${name} --to v${v.version})`),
  );
  report(reporter, name, v.version, null, null, false);
  return { name, version: v.version, changed: false, sameAs: v.version, validated: v.tags.includes("validated"), dir: versionDir(name, v.version), replaced: null, files: [], branch: null, commit: null, pullRequest: null };
}

function report(reporter: Reporter, name: string, version: number, branch: string | null, pr: PullRequestRef | null, changed: boolean): void {
  reporter.output("changed", String(changed));
  reporter.output("model", name);
  reporter.output("version", String(version));
  if (branch) reporter.output("branch", branch);
  if (pr) {
    reporter.output("pull-request-number", String(pr.number));
    reporter.output("pull-request-url", pr.url);
  }
  reporter.summary(
    changed
      ? `Promotion of **${name} v${version}**${pr ? `: [#${pr.number}](${pr.url})` : branch ? ` on branch \`${branch}\`` : " written to the working tree"}.`
      : `Nothing to promote: the model is **${name} v${version}** already.`,
  );
}
