import * as core from "@actions/core";
import type { Reporter } from "../../pipeline/core/reporter.js";

/**
 * The Reporter the library steps see when they run as a GitHub Action: log lines, annotations
 * (shown on the PR diff), the job summary, step outputs, and masking of secrets.
 */
export function actionsReporter(): Reporter {
  return {
    info: (m) => core.info(m),
    warning: (m, a) => core.warning(m, a ?? {}),
    error: (m, a) => core.error(m, a ?? {}),
    summary: (md) => {
      // Outside a runner GITHUB_STEP_SUMMARY is unset and core.summary would throw.
      if (process.env.GITHUB_STEP_SUMMARY) core.summary.addRaw(md, true);
    },
    output: (name, value) => core.setOutput(name, value),
    secret: (v) => {
      if (v) core.setSecret(v);
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
 * with the exit code the CLI would use (1 = gate failed, 2 = bad input).
 */
export async function runAction(body: (reporter: Reporter) => Promise<number>): Promise<void> {
  const reporter = actionsReporter();
  let code: number;
  try {
    code = await body(reporter);
  } catch (error) {
    const { exitCodeOf, PipelineError } = await import("../../pipeline/core/errors.js");
    core.setFailed(error instanceof PipelineError ? error.message : ((error as Error)?.stack ?? String(error)));
    code = exitCodeOf(error);
  }
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.write();
  if (code !== 0 && process.exitCode === undefined) core.setFailed(`step failed (exit ${code})`);
  process.exitCode = code;
}
