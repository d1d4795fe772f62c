import { maskSecrets, registerSecret } from "./mask.js";
import { progressDisplay, type ProgressUpdate } from "./progress.js";

/**
 * The outside world a step reports to. The CLI passes a console reporter, the actions pass one
 * backed by @actions/core, tests pass a recording one. Steps never import either directly.
 */
export interface Annotation {
  title?: string;
  file?: string;
  startLine?: number;
  startColumn?: number;
}

export interface Reporter {
  info(message: string): void;
  warning(message: string, annotation?: Annotation): void;
  error(message: string, annotation?: Annotation): void;
  /** Markdown appended to the job summary (the CLI prints nothing for it unless asked). */
  summary(markdown: string): void;
  /** Named result for the next step (a step output in Actions). */
  output(name: string, value: string): void;
  /** A value that must never appear in logs. */
  secret(value: string): void;
  /**
   * Progress of a long step (optional: reporters without a terminal ignore it). Call `progressEnd`
   * when the step is over.
   */
  progress?(update: ProgressUpdate): void;
  progressEnd?(): void;
}

export interface RecordedReporter extends Reporter {
  readonly infos: string[];
  readonly warnings: string[];
  readonly errors: string[];
  readonly summaries: string[];
  readonly outputs: Record<string, string>;
  readonly secrets: string[];
}

export function recordingReporter(): RecordedReporter {
  const r: RecordedReporter = {
    infos: [],
    warnings: [],
    errors: [],
    summaries: [],
    outputs: {},
    secrets: [],
    info: (m) => void r.infos.push(m),
    warning: (m) => void r.warnings.push(m),
    error: (m) => void r.errors.push(m),
    summary: (md) => void r.summaries.push(md),
    output: (name, value) => void (r.outputs[name] = value),
    secret: (v) => void r.secrets.push(v),
  };
  return r;
}

/** Console reporter for the CLI: human lines on stderr so stdout stays machine-readable. */
export function consoleReporter(options: { quiet?: boolean; stream?: NodeJS.WritableStream } = {}): Reporter {
  const out = options.stream ?? process.stderr;
  const progress = progressDisplay(out as NodeJS.WriteStream);
  // The one masking path (core/mask.ts): registered secrets and token-looking strings.
  const mask = maskSecrets;
  const where = (a?: Annotation) =>
    a?.file ? ` (${a.file}${a.startLine ? `:${a.startLine}` : ""}${a.startColumn ? `:${a.startColumn}` : ""})` : "";
  return {
    info: (m) => {
      if (!options.quiet) out.write(mask(m) + "\n");
    },
    warning: (m, a) => out.write(`warning: ${mask(m)}${where(a)}\n`),
    error: (m, a) => out.write(`error: ${mask(m)}${where(a)}\n`),
    summary: () => {},
    output: () => {},
    secret: (v) => registerSecret(v),
    progress: (u) => {
      if (!options.quiet) progress.update(u);
    },
    progressEnd: () => progress.end(),
  };
}
