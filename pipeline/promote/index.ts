import { GateFailure, UsageError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import type { Reporter } from "../core/reporter.js";
import type { PipelineConfig } from "../config/schema.js";
import { readRegistry } from "../registry/store.js";
import type { ModelVersion, Registry } from "../registry/schema.js";
import { renderModelCard } from "./card.js";
import { GitClient } from "./git.js";
import { DEFAULT_TOKEN_WARNING, type GitHubClient, type GitHubToken, type PullRequestRef } from "./github.js";
import { readMetricsView } from "./metrics-view.js";
import { prTitle, renderPrBody } from "./pr-body.js";
import { proposeRegistryChange } from "./propose.js";
import { failedGates, readPromotionSource, type PromotionSource } from "./source.js";
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
}

export interface PromoteResult {
  name: string;
  version: number;
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

function plan(source: PromotionSource, config: PipelineConfig, start: Registry, base: Registry, now: Date): Plan {
  const { artifact } = source;
  const name = artifact.name;
  const version = nextVersion(start, name);
  const sha = sha256Hex(source.artifactBytes);
  const same = start.models[name]?.versions.find((v) => v.artifact.sha256 === sha);
  if (same) {
    // A retried job or a double click: registering the same bytes twice would only add noise.
    throw new UsageError(
      `${source.modelFile}: this artifact (sha256 ${sha.slice(0, 12)}…) is already registered as ${name}@v${same.version} [${same.tags.join(", ")}]; nothing to promote` +
        (same.tags.includes("production") ? "" : ` (to make it production again: pipeline rollback ${name} --to v${same.version})`),
    );
  }
  const view = readMetricsView([source.metricsJson, artifact.metrics], artifact.classes);
  const entry = versionEntry(artifact, source.artifactBytes, version, view.scalars, now);
  const champion = base.models[name]?.versions.find((v) => v.tags.includes("production")) ?? null;
  const added = addVersion(start, name, entry, config.model.name === name ? config.model.description : undefined);
  const moved = moveProduction(added, name, version, base);
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

/**
 * Registers a validated model as the next version and moves `production` to it. Without --open-pr
 * the change is written to the working tree; with it, the change is committed on a branch,
 * pushed and proposed as a pull request, whose merge is the promotion.
 */
export async function promote(input: PromoteInput): Promise<PromoteResult> {
  const { root, config, reporter } = input;
  const clock = input.clock ?? (() => new Date());
  if (input.token) {
    reporter.secret(input.token.value);
    if (input.openPr && input.token.kind === "github_token") reporter.warning(DEFAULT_TOKEN_WARNING);
  }
  const source = await readPromotionSource(root, input.modelPath, input.validationReport, input.dataReport);
  if (source.validation) {
    const failed = failedGates(source.validation);
    if (source.validation.passed === false || failed.length) {
      throw new GateFailure(`refusing to promote ${source.artifact.name}: the validate-model report failed${failed.length ? ` (${failed.map((g) => g.name).join(", ")})` : ""}`);
    }
  } else {
    reporter.warning("no validate-model report given (--validation-report): the version is registered as validated on the caller's word");
  }
  const name = source.artifact.name;

  if (!input.openPr) {
    const registry = await readRegistry(root);
    const p = plan(source, config, registry, registry, clock());
    await writeStaged(root, p.files, p.registry);
    reporter.info(`registered ${name} v${p.version} in ${p.entry.artifact.path}${p.replaced ? `; production moves from v${p.replaced}` : ""}`);
    report(reporter, name, p.version, null, null);
    return { name, version: p.version, dir: versionDir(name, p.version), replaced: p.replaced, files: p.files.map((f) => f.path), branch: null, commit: null, pullRequest: null };
  }

  const git = input.git ?? new GitClient(root);
  let made: Plan | null = null;
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
    build: (start, base) => {
      made = plan(source, config, start, base, clock());
      return {
        files: made.files,
        registry: made.registry,
        commitMessage: `${made.title}\n\nRegisters ${name} v${made.version} (${made.entry.trainer.candidate}, artifact sha256 ${made.entry.artifact.sha256.slice(0, 12)}) and moves production to it.`,
        title: made.title,
        body: made.body,
        branch: `promote/${name}-v${made.version}`,
      };
    },
  });
  const p = made as Plan | null;
  if (!p) throw new Error("promotion plan was not built");
  report(reporter, name, p.version, result.branch, result.pullRequest);
  return { name, version: p.version, dir: versionDir(name, p.version), replaced: p.replaced, files: p.files.map((f) => f.path), branch: result.branch, commit: result.commit, pullRequest: result.pullRequest };
}

function report(reporter: Reporter, name: string, version: number, branch: string | null, pr: PullRequestRef | null): void {
  reporter.output("model", name);
  reporter.output("version", String(version));
  if (branch) reporter.output("branch", branch);
  if (pr) {
    reporter.output("pull-request-number", String(pr.number));
    reporter.output("pull-request-url", pr.url);
  }
  reporter.summary(`Promotion of **${name} v${version}**${pr ? `: [#${pr.number}](${pr.url})` : branch ? ` on branch \`${branch}\`` : " written to the working tree"}.`);
}
