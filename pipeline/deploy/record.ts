import { readFile } from "node:fs/promises";
import { InputError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { recordDeployment, type DeploymentRecord } from "../registry/deployments.js";
import { DeployResultFileSchema, type DeployResultFile } from "./result-file.js";

/**
 * From deploy results to registry entries. A preview moved no traffic and a local run is a laptop:
 * neither is a deployment. A result without a digest, URL or git sha cannot be recorded (the
 * registry requires them) and is skipped with a warning naming what is missing.
 */
export function deploymentRecordOf(file: DeployResultFile, reporter?: Reporter, source = "deploy result"): DeploymentRecord | null {
  if (file.status === "preview" || file.target === "local") return null;
  const missing = [!file.image_digest && "image digest", !file.service_url && "service URL", !file.git_sha && "git sha"].filter(Boolean);
  if (missing.length) {
    reporter?.warning(`${source}: not recorded in the registry (no ${missing.join(", ")})`);
    return null;
  }
  return {
    model: file.model.name,
    version: file.model.version,
    deployment: {
      environment: file.environment,
      image_digest: file.image_digest!,
      revision: file.revision,
      url: file.service_url,
      time: file.time,
      git_sha: file.git_sha!,
      status: file.status === "succeeded" ? "succeeded" : file.status,
    },
  };
}

export async function readDeployResult(path: string): Promise<DeployResultFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new InputError(`${path}: cannot read the deploy result (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const parsed = DeployResultFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${path}: not a deploy result: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}

/** `pipeline registry record-deployment FILE...` (the deploy workflow's record job): all or nothing, under the registry lock. */
export async function recordDeploymentResults(root: string, paths: string[], reporter: Reporter): Promise<number> {
  const records: DeploymentRecord[] = [];
  for (const path of paths) {
    const record = deploymentRecordOf(await readDeployResult(path), reporter, path);
    if (record) records.push(record);
  }
  if (records.length) await recordDeployment(root, ...records);
  for (const r of records) reporter.info(`registry: ${r.model}@v${r.version} ${r.deployment.status} in ${r.deployment.environment} (${r.deployment.revision})`);
  return records.length;
}
