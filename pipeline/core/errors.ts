/**
 * Exit codes are part of the CLI contract: 0 passed, 1 a gate or validation failed,
 * 2 usage, configuration or unreadable input. Every step throws one of these so that the
 * CLI and the actions can map failures without knowing which step raised them.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class PipelineError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_USAGE, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad CLI arguments or action inputs. */
export class UsageError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_USAGE, options);
  }
}

/** A configuration file that does not match its schema. */
export class ConfigError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_USAGE, options);
  }
}

/** An input file (CSV, model, registry) that cannot be read or parsed; names the file and where. */
export class InputError extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_USAGE, options);
  }
}

/** A gate or invariant that failed: the input was readable but did not pass. */
export class GateFailure extends PipelineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT_FAILED, options);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof PipelineError ? error.exitCode : EXIT_USAGE;
}
