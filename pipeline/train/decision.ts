import type { ModelVersion } from "../registry/schema.js";
import type { DataValidationReport } from "../validate-data/report.js";

/**
 * Whether a training run should train at all. The weekly schedule retrains only when something
 * changed: the data (its sha256 differs from the production version's) or its distribution (drift
 * found against production's reference). A person asking (workflow_dispatch) or the service
 * reporting drift (repository_dispatch) always trains, and `force` overrides everything.
 */
export type TrainingTrigger = "schedule" | "workflow_dispatch" | "repository_dispatch" | "push" | "local";

export interface TrainingDecision {
  train: boolean;
  reason: string;
}

export function decideTraining(input: { report: DataValidationReport; production: ModelVersion | undefined; trigger: TrainingTrigger; force: boolean }): TrainingDecision {
  const { report, production, trigger, force } = input;
  if (force) return { train: true, reason: "forced" };
  if (!production) return { train: true, reason: `no production version of ${report.model} yet` };
  if (trigger !== "schedule") return { train: true, reason: `requested by ${trigger}` };
  if (report.data.sha256 !== production.data.sha256) {
    return { train: true, reason: `the data changed since v${production.version} (sha256 ${report.data.sha256.slice(0, 12)} ≠ ${production.data.sha256.slice(0, 12)})` };
  }
  if (report.drift.drifted > 0) {
    const names = report.drift.columns.filter((c) => c.drifted).map((c) => c.column);
    return { train: true, reason: `drift against production's reference in ${names.join(", ")}` };
  }
  return {
    train: false,
    reason: `the data is the one v${production.version} was trained on (sha256 ${report.data.sha256.slice(0, 12)}) and no drift was found: nothing to train (re-run with force to train anyway)`,
  };
}
