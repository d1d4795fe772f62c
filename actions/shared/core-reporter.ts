import * as core from "@actions/core";
import { maskSecrets, registerSecret } from "../../pipeline/core/mask.js";
import type { Reporter } from "../../pipeline/core/reporter.js";
import { AnnotationBudget, truncateSummary } from "./limits.js";
import { progressDisplay } from "../../pipeline/core/progress.js";

/**
 * The Reporter the library steps see when they run as a GitHub Action: log lines, annotations
 * (shown on the PR diff), the job summary, step outputs, and masking of secrets. It keeps GitHub's
 * per-step limits (limits.ts): annotations over the cap are aggregated, the summary is truncated.
 */
export interface ActionsReporter extends Reporter {
  /** Sends the aggregated annotations and writes the (truncated) job summary. */
  finish(): Promise<void>;
}

export function actionsReporter(): ActionsReporter {
  const budget = new AnnotationBudget();
  const summaries: string[] = [];
  const progress = progressDisplay({ write: (line: string) => (core.info(line.replace(/\n$/, "")), true) } as unknown as NodeJS.WritableStream);
  const annotate = (level: "warning" | "error", m: string, a?: Parameters<Reporter["warning"]>[1]) => {
    const decision = budget.admit(level, m);
    if (decision.annotate) (level === "warning" ? core.warning : core.error)(maskSecrets(m), a ?? {});
    else core.info(maskSecrets(decision.logLine!));
  };
  return {
    info: (m) => core.info(maskSecrets(m)),
    warning: (m, a) => annotate("warning", m, a),
    error: (m, a) => annotate("error", m, a),
    summary: (md) => void summaries.push(md),
    output: (name, value) => core.setOutput(name, value),
    secret: (v) => {
      if (v) core.setSecret(v);
      registerSecret(v);
    },
    // A runner's log is not a terminal: one line when the long step ends, no redraws.
    progress: (u) => progress.update(u),
    progressEnd: () => progress.end(),
    finish: async () => {
      for (const { level, message } of budget.flush()) (level === "warning" ? core.warning : core.error)(message);
      // Outside a runner GITHUB_STEP_SUMMARY is unset and core.summary would throw.
      if (process.env.GITHUB_STEP_SUMMARY && summaries.length > 0) {
        await core.summary.addRaw(truncateSummary(summaries.join("\n")), true).write();
      }
    },
  };
}

/** Reads an input; an empty one is undefined (GitHub passes "" for inputs not given). */
export function optionalInput(name: string): string | undefined {
  const v = core.getInput(name);
  return v === "" ? undefined : v;
}

/**
 * Runs an action body: writes the job summary, and turns a thrown error into a failed step
 * with the exit code the CLI would use (1 = gate failed, 2 = bad input). Only a PipelineError's
 * message reaches the log; anything else is reported without its stack unless ACTIONS_STEP_DEBUG
 * (the runner's debug switch) is on. Registered secrets are masked by the runner either way.
 */
export async function runAction(body: (reporter: Reporter) => Promise<number>): Promise<void> {
  const reporter = actionsReporter();
  let code: number;
  try {
    code = await body(reporter);
  } catch (error) {
    const { exitCodeOf, PipelineError } = await import("../../pipeline/core/errors.js");
    const debug = core.isDebug();
    const message = error instanceof PipelineError ? error.message : debug ? ((error as Error)?.stack ?? String(error)) : `internal error: ${(error as Error)?.message ?? String(error)}`;
    // The one masking path: the runner masks registered secrets, this also masks unregistered token shapes.
    core.setFailed(maskSecrets(message));
    code = exitCodeOf(error);
  }
  await reporter.finish();
  if (code !== 0 && process.exitCode === undefined) core.setFailed(`step failed (exit ${code})`);
  process.exitCode = code;
}
