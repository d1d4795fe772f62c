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

/**
 * Operating-system errors a user can act on (permissions, a full or read-only disk, a directory
 * where a file was expected). They are bad input about the environment, exit 2, and the message
 * names the path; anything else is a bug in the pipeline.
 */
const OS_ERROR_TEXT: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
  EISDIR: "is a directory, expected a file",
  ENOTDIR: "a part of the path is not a directory",
  ENOENT: "no such file or directory",
  EEXIST: "already exists",
  ENOTEMPTY: "directory not empty",
  EMFILE: "too many open files",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many symbolic links",
  EBUSY: "resource busy",
  EXDEV: "cannot rename across file systems",
  EIO: "input/output error",
};

export function isOsError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && code in OS_ERROR_TEXT && (error as NodeJS.ErrnoException).syscall !== undefined;
}

/** A known OS error as an InputError naming the path (and the operation); other errors are returned unchanged. */
export function fromOsError(error: unknown, path?: string): unknown {
  if (error instanceof PipelineError || !isOsError(error)) return error;
  const where = path ?? error.path ?? (error as { dest?: string }).dest;
  const op = error.syscall ? ` (${error.syscall})` : "";
  return new InputError(`${where ? `${where}: ` : ""}cannot ${verbOf(error.syscall)}: ${OS_ERROR_TEXT[error.code!]} [${error.code}]${op}`, { cause: error });
}

function verbOf(syscall: string | undefined): string {
  if (!syscall) return "access it";
  if (/^(open|read|stat|lstat|scandir|realpath|access)/.test(syscall)) return syscall === "open" ? "open it" : "read it";
  if (/^(write|mkdir|mkdtemp|rename|unlink|rmdir|rm|copyfile|fsync|chmod|symlink|link|utime|ftruncate)/.test(syscall)) return "write it";
  return `${syscall} it`;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof PipelineError ? error.exitCode : EXIT_USAGE;
}
