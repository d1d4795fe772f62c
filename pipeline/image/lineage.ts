import { InputError } from "../core/errors.js";
import type { ImageModel } from "./model-source.js";
import { runTool } from "./tools.js";

/** Label keys the image carries; the deploy reads them back to record what it deployed. */
export const IMAGE_LABELS = {
  revision: "org.opencontainers.image.revision",
  source: "org.opencontainers.image.source",
  created: "org.opencontainers.image.created",
  modelName: "pipeline.model.name",
  modelVersion: "pipeline.model.version",
  modelSha256: "pipeline.model.sha256",
  modelContentSha256: "pipeline.model.content_sha256",
  dataSha256: "pipeline.data.sha256",
} as const;

export interface BuildLineage {
  gitSha: string | null;
  sourceUrl: string | null;
  /** Seconds since 1970: the image's created time and every file time in its layers. */
  sourceDateEpoch: number;
}

/** The Dockerfile's ARGs that become labels, from the lineage and the model. */
export function labelBuildArgs(lineage: BuildLineage, model: ImageModel): Record<string, string> {
  return {
    GIT_SHA: lineage.gitSha ?? "unknown",
    SOURCE_URL: lineage.sourceUrl ?? "",
    CREATED: new Date(lineage.sourceDateEpoch * 1000).toISOString().replace(/\.000Z$/, "Z"),
    MODEL_NAME: model.identity.name,
    MODEL_VERSION: `v${model.identity.version}`,
    MODEL_SHA256: model.identity.sha256,
    MODEL_CONTENT_SHA256: model.identity.content_sha256,
    DATA_SHA256: model.dataSha256,
  };
}

/** The labels an image built from `args` must carry (what tests and the deploy check). */
export function expectedLabels(args: Record<string, string>): Record<string, string> {
  return {
    [IMAGE_LABELS.revision]: args.GIT_SHA!,
    [IMAGE_LABELS.source]: args.SOURCE_URL!,
    [IMAGE_LABELS.created]: args.CREATED!,
    [IMAGE_LABELS.modelName]: args.MODEL_NAME!,
    [IMAGE_LABELS.modelVersion]: args.MODEL_VERSION!,
    [IMAGE_LABELS.modelSha256]: args.MODEL_SHA256!,
    [IMAGE_LABELS.modelContentSha256]: args.MODEL_CONTENT_SHA256!,
    [IMAGE_LABELS.dataSha256]: args.DATA_SHA256!,
  };
}

/** git@github.com:o/r.git and https://x@github.com/o/r.git both become https://github.com/o/r (no credentials). */
export function normaliseSourceUrl(url: string): string {
  const ssh = /^git@([^:]+):(.+?)(\.git)?$/.exec(url);
  if (ssh) return `https://${ssh[1]}/${ssh[2]}`;
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\.git$/, "").replace(/\/$/, "");
  } catch {
    return url;
  }
}

async function git(root: string, args: string[]): Promise<string | null> {
  const r = await runTool("git", args, { cwd: root }).catch(() => null);
  return r && r.code === 0 ? r.stdout.trim() : null;
}

/**
 * The lineage of a build: the commit (GITHUB_SHA in Actions, else HEAD), the repository URL
 * (GITHUB_SERVER_URL/GITHUB_REPOSITORY, else the origin remote) and SOURCE_DATE_EPOCH (else the
 * commit's time, so the same commit builds the same image; else now).
 */
export async function buildLineage(root: string, env: NodeJS.ProcessEnv = process.env, now: () => number = Date.now): Promise<BuildLineage> {
  const gitSha = env.GITHUB_SHA && /^[0-9a-f]{40}$/.test(env.GITHUB_SHA) ? env.GITHUB_SHA : await git(root, ["rev-parse", "HEAD"]);
  let sourceUrl: string | null;
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY) sourceUrl = `${env.GITHUB_SERVER_URL.replace(/\/$/, "")}/${env.GITHUB_REPOSITORY}`;
  else {
    const remote = await git(root, ["remote", "get-url", "origin"]);
    sourceUrl = remote ? normaliseSourceUrl(remote) : null;
  }
  let sourceDateEpoch: number;
  if (env.SOURCE_DATE_EPOCH !== undefined && env.SOURCE_DATE_EPOCH !== "") {
    sourceDateEpoch = Number(env.SOURCE_DATE_EPOCH);
    if (!Number.isInteger(sourceDateEpoch) || sourceDateEpoch < 0) throw new InputError(`SOURCE_DATE_EPOCH: expected whole seconds since 1970, got ${JSON.stringify(env.SOURCE_DATE_EPOCH)}`);
  } else {
    const commitTime = gitSha ? await git(root, ["log", "-1", "--format=%ct", gitSha]) : null;
    sourceDateEpoch = commitTime && /^\d+$/.test(commitTime) ? Number(commitTime) : Math.floor(now() / 1000);
  }
  return { gitSha: gitSha && /^[0-9a-f]{40}$/.test(gitSha) ? gitSha : null, sourceUrl, sourceDateEpoch };
}
