import { consoleReporter, type Reporter } from "../pipeline/core/reporter.js";
import { exitCodeOf, PipelineError } from "../pipeline/core/errors.js";

export interface CommandContext {
  reporter: Reporter;
  /** Repository root that relative paths resolve against. */
  root: string;
}

/**
 * Runs a command body with the CLI's error contract: a PipelineError prints its message and exits
 * with its code; anything else is a bug and prints the stack. The body returns the exit code.
 */
export function action<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const reporter = consoleReporter({ quiet: process.env.PIPELINE_QUIET === "1" });
    try {
      const code = await body({ reporter, root: process.cwd() }, ...args);
      process.exitCode = code ?? 0;
    } catch (error) {
      if (error instanceof PipelineError) {
        process.stderr.write(`error: ${error.message}\n`);
      } else {
        process.stderr.write(`internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      }
      process.exitCode = exitCodeOf(error);
    }
  };
}
