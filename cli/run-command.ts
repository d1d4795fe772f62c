import { consoleReporter, type Reporter } from "../pipeline/core/reporter.js";
import { exitCodeOf, fromOsError, PipelineError } from "../pipeline/core/errors.js";
import { maskSecrets } from "../pipeline/core/mask.js";

export interface CommandContext {
  reporter: Reporter;
  /** Repository root that relative paths resolve against. */
  root: string;
}

/** Set by the global `--debug` option (cli/main.ts) or PIPELINE_DEBUG=1: internal errors print their stack. */
export function debugEnabled(): boolean {
  return process.env.PIPELINE_DEBUG === "1";
}

/**
 * The text printed for an error that ended a command, masked like every other line (registered
 * secrets and token-looking strings never reach the terminal). A PipelineError prints its message;
 * a known OS error (EACCES, ENOSPC, EROFS, EISDIR…) becomes a clear message naming the path; any
 * other error is a bug: its one-line message, and the stack only with --debug.
 */
export function describeFailure(error: unknown, debug = debugEnabled()): { text: string; exitCode: number } {
  const converted = fromOsError(error);
  if (converted instanceof PipelineError) {
    const cause = debug && converted.cause instanceof Error && converted.cause.stack ? `\n${converted.cause.stack}` : "";
    return { text: maskSecrets(`error: ${converted.message}${debug && converted.stack ? `\n${converted.stack}` : ""}${cause}`) + "\n", exitCode: exitCodeOf(converted) };
  }
  const e = converted as Error | undefined;
  const head = e instanceof Error ? `${e.name}: ${e.message}` : String(converted);
  const tail = debug ? (e instanceof Error && e.stack ? `\n${e.stack}` : "") : "\n(this is a bug in the pipeline; run again with --debug for the stack trace)";
  return { text: maskSecrets(`internal error: ${head}${tail}`) + "\n", exitCode: exitCodeOf(converted) };
}

/**
 * Runs a command body with the CLI's error contract: a PipelineError prints its message and exits
 * with its code; anything else is a bug. The body returns the exit code.
 */
export function action<A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const reporter = consoleReporter({ quiet: process.env.PIPELINE_QUIET === "1" });
    try {
      const code = await body({ reporter, root: process.cwd() }, ...args);
      process.exitCode = code ?? 0;
    } catch (error) {
      const { text, exitCode } = describeFailure(error);
      process.stderr.write(text);
      process.exitCode = exitCode;
    }
  };
}
