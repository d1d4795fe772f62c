import { PipelineError } from "../core/errors.js";
import type { Clock } from "./clock.js";
import type { CloudRunApi } from "./cloud-run-api.js";
import { readyCondition, type Operation, type Revision } from "./cloud-run-types.js";

/** A Cloud Run change that did not finish in time, or finished with an error, or a revision that failed. */
export class DeployStepError extends PipelineError {
  constructor(message: string) {
    super(message, 1);
  }
}

/**
 * Waits on a long-running operation with operations.wait (the server holds the call, so no polling
 * storm), falling back to operations.get pacing when a wait returns early, until `deadline`.
 */
export async function waitForOperation(api: CloudRunApi, operation: Operation, deadline: number, clock: Clock, what: string): Promise<Operation> {
  let op = operation;
  while (!op.done) {
    const remaining = deadline - clock.now();
    if (remaining <= 0) throw new DeployStepError(`${what}: operation ${op.name} did not finish in time`);
    const before = clock.now();
    op = await api.waitOperation(op.name, Math.min(60, Math.max(1, remaining / 1000)));
    // A wait that came back early and not done: do not spin.
    if (!op.done && clock.now() - before < 500) await clock.sleep(Math.min(1000, Math.max(0, deadline - clock.now())));
  }
  if (op.error) throw new DeployStepError(`${what}: ${op.error.message ?? `operation failed (code ${op.error.code ?? "?"})`}`);
  return op;
}

/** Why a revision is not ready: its Ready condition's reason (e.g. HEALTH_CHECK_CONTAINER_ERROR) and message. */
export function revisionFailure(revision: Revision | null): string | null {
  const ready = readyCondition(revision?.conditions);
  if (!ready || ready.state !== "CONDITION_FAILED") return null;
  const reason = ready.revisionReason ?? ready.reason ?? "REVISION_FAILED";
  return `${reason}${ready.message ? `: ${ready.message}` : ""}`;
}

/** Waits until the revision's Ready condition succeeds; fails with its reason, or when `deadline` passes. */
export async function waitForRevisionReady(api: CloudRunApi, name: string, deadline: number, clock: Clock): Promise<Revision> {
  let last = "not created yet";
  while (true) {
    const revision = await api.getRevision(name);
    const failure = revisionFailure(revision);
    if (failure) throw new DeployStepError(`revision ${name.split("/").at(-1)} is not ready: ${failure}`);
    const ready = readyCondition(revision?.conditions);
    if (revision && ready?.state === "CONDITION_SUCCEEDED" && !revision.reconciling) return revision;
    if (ready) last = `${ready.state ?? "?"}${ready.message ? ` (${ready.message})` : ""}`;
    if (clock.now() >= deadline) throw new DeployStepError(`revision ${name.split("/").at(-1)} did not become ready in time (Ready: ${last})`);
    await clock.sleep(Math.min(1000, Math.max(0, deadline - clock.now())));
  }
}
