import { z } from "zod";
import { writeJsonAtomic } from "../core/atomic.js";
import type { DeployResult } from "./result.js";

/**
 * The deploy's JSON result (`--result FILE`, the action's `result` input): what the deploy workflow
 * uploads, what `recordDeploymentResults` writes into the registry and what the Slack step reads
 * (status, environment, revision, service_url, canary). snake_case, a schema version, one zod schema.
 */
export const DEPLOY_RESULT_VERSION = 1;

const SplitSchema = z.array(z.object({ revision: z.string(), percent: z.number(), tag: z.string().optional() }).strict());

export const DeployResultFileSchema = z
  .object({
    schema_version: z.literal(DEPLOY_RESULT_VERSION),
    /** succeeded | preview | rolled_back | failed: the registry's deployment status, plus preview. */
    status: z.enum(["succeeded", "preview", "rolled_back", "failed"]),
    rolled_back: z.boolean(),
    reason: z.string().optional(),
    environment: z.string(),
    target: z.enum(["cloud-run", "local"]),
    model: z.object({ name: z.string(), version: z.number().int().positive(), content_sha256: z.string() }).strict(),
    image: z.string(),
    /** sha256:<64 hex> when the image was pinned by digest. */
    image_digest: z.string().nullable(),
    revision: z.string(),
    service_url: z.string(),
    tag_url: z.string(),
    tag: z.string(),
    git_sha: z.string().nullable(),
    time: z.string(),
    first_deploy: z.boolean(),
    previous_split: SplitSchema.nullable(),
    final_split: SplitSchema,
    smoke: z.object({ passed: z.boolean(), checks: z.array(z.object({ name: z.string(), passed: z.boolean(), detail: z.string() }).strict()) }).strict().nullable(),
    canary: z
      .object({
        passed: z.boolean(),
        steps: z.array(
          z
            .object({
              percent: z.number(),
              passed: z.boolean(),
              reason: z.string().optional(),
              held_seconds: z.number(),
              checks: z.array(z.object({ name: z.string(), passed: z.boolean(), value: z.number().nullable(), limit: z.number(), detail: z.string() }).strict()),
            })
            .strict(),
        ),
        failed_at: z.number().optional(),
        reason: z.string().optional(),
      })
      .strict(),
    timings: z
      .object({
        started_at: z.string(),
        finished_at: z.string(),
        /** Seconds from the start to 100% of traffic on the new revision. */
        seconds_to_full_traffic: z.number().nullable(),
        /** Seconds from the failed check to the restored split. */
        seconds_to_restore: z.number().nullable(),
      })
      .strict(),
    api_retries: z.number().int().nonnegative(),
  })
  .strict();
export type DeployResultFile = z.infer<typeof DeployResultFileSchema>;

export function imageDigest(image: string): string | null {
  return /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1] ?? null;
}

export function toResultFile(result: DeployResult, gitSha: string | null): DeployResultFile {
  const failedStep = result.steps.find((s) => !s.judgement.passed);
  const iso = (ms: number) => new Date(ms).toISOString();
  const t = result.timings;
  return {
    schema_version: DEPLOY_RESULT_VERSION,
    status: result.outcome === "deployed" ? "succeeded" : result.outcome,
    rolled_back: result.outcome === "rolled_back",
    ...(result.reason ? { reason: result.reason } : {}),
    environment: result.environment,
    target: result.target,
    model: { name: result.model.name, version: result.model.version, content_sha256: result.model.contentSha256 },
    image: result.image,
    image_digest: imageDigest(result.image),
    revision: result.revision,
    service_url: result.serviceUrl,
    tag_url: result.tagUrl,
    tag: result.tag,
    git_sha: gitSha,
    time: iso(t.finishedAt),
    first_deploy: result.firstDeploy,
    previous_split: result.previousSplit,
    final_split: result.finalSplit,
    smoke: result.smoke ? { passed: result.smoke.passed, checks: result.smoke.checks } : null,
    canary: {
      passed: result.outcome === "deployed" && result.steps.every((s) => s.judgement.passed),
      steps: result.steps.map((s) => ({
        percent: s.percent,
        passed: s.judgement.passed,
        ...(s.judgement.reason ? { reason: s.judgement.reason } : {}),
        held_seconds: Math.round(s.heldSeconds * 1000) / 1000,
        checks: s.judgement.checks,
      })),
      ...(failedStep ? { failed_at: failedStep.percent, reason: failedStep.judgement.reason } : {}),
    },
    timings: {
      started_at: iso(t.startedAt),
      finished_at: iso(t.finishedAt),
      seconds_to_full_traffic: t.fullTrafficAt !== undefined ? (t.fullTrafficAt - t.startedAt) / 1000 : null,
      seconds_to_restore: t.failedAt !== undefined && t.restoredAt !== undefined ? (t.restoredAt - t.failedAt) / 1000 : null,
    },
    api_retries: result.apiRetries,
  };
}

export async function writeDeployResult(path: string, file: DeployResultFile): Promise<void> {
  await writeJsonAtomic(path, DeployResultFileSchema.parse(file));
}

/** The job summary: what was deployed, where, and every check with its figure. */
export function deployMarkdown(file: DeployResultFile): string {
  const icon = file.status === "succeeded" || file.status === "preview" ? "✅" : file.status === "rolled_back" ? "↩️" : "❌";
  const lines = [
    `### ${icon} Deploy ${file.model.name} v${file.model.version} to ${file.environment}: ${file.status.replace("_", " ")}`,
    "",
    ...(file.reason ? [`**Reason:** ${file.reason}`, ""] : []),
    "| | |",
    "|---|---|",
    `| revision | \`${file.revision}\` |`,
    `| service | ${file.service_url || "–"} |`,
    `| tag URL | ${file.tag_url || "–"} (tag \`${file.tag}\`) |`,
    `| image | \`${file.image || "–"}\` |`,
    `| traffic before | ${fmtSplit(file.previous_split)} |`,
    `| traffic after | ${fmtSplit(file.final_split)} |`,
    ...(file.timings.seconds_to_full_traffic !== null ? [`| start → 100% traffic | ${file.timings.seconds_to_full_traffic.toFixed(1)} s |`] : []),
    ...(file.timings.seconds_to_restore !== null ? [`| failed check → split restored | ${file.timings.seconds_to_restore.toFixed(1)} s |`] : []),
  ];
  if (file.smoke) {
    lines.push("", "**Smoke test**", "", "| check | result |", "|---|---|", ...file.smoke.checks.map((c) => `| ${c.passed ? "✔" : "✖"} ${c.name} | ${c.detail.replace(/\|/g, "\\|")} |`));
  }
  for (const step of file.canary.steps) {
    lines.push("", `**Canary ${step.percent}%** (${step.held_seconds.toFixed(1)} s)`, "", "| check | result |", "|---|---|", ...step.checks.map((c) => `| ${c.passed ? "✔" : "✖"} ${c.name} | ${c.detail.replace(/\|/g, "\\|")} |`));
  }
  return lines.join("\n") + "\n";
}

function fmtSplit(split: DeployResultFile["final_split"] | null): string {
  if (!split) return "– (first deploy)";
  const serving = split.filter((e) => e.percent > 0);
  return serving.length ? serving.map((e) => `\`${e.revision}\` ${e.percent}%`).join(", ") : "–";
}
