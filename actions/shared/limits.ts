/**
 * GitHub's limits on what one step may report. Past them GitHub drops annotations silently and
 * fails the step's summary upload, so the shell enforces them before anything reaches the runner.
 * Pure functions: the reporter in core-reporter.ts applies them, and the tests check them directly.
 */

/** GitHub refuses a step summary over 1 MiB. Keep a margin for the truncation note. */
export const MAX_SUMMARY_BYTES = 1024 * 1024;
/** Per step GitHub shows at most 10 annotations of each level (and 50 per job). */
export const MAX_ANNOTATIONS_PER_LEVEL = 10;

const NOTE = "\n\n> **Summary truncated** to stay under GitHub's 1 MiB step-summary limit; the full reports are in the step's artifacts and log.\n";

/** Cuts Markdown at the last line break that fits, and says so. Byte-accurate for UTF-8. */
export function truncateSummary(markdown: string, maxBytes: number = MAX_SUMMARY_BYTES): string {
  const bytes = Buffer.from(markdown, "utf8");
  if (bytes.length <= maxBytes) return markdown;
  const budget = maxBytes - Buffer.byteLength(NOTE, "utf8");
  let cut = bytes.subarray(0, Math.max(0, budget)).toString("utf8");
  // A cut inside a multi-byte character decodes to U+FFFD: drop it, then back off to a line end.
  cut = cut.replace(/\uFFFD+$/, "");
  const lastBreak = cut.lastIndexOf("\n");
  if (lastBreak > 0) cut = cut.slice(0, lastBreak);
  return cut + NOTE;
}

export type AnnotationLevel = "warning" | "error";

export interface AnnotationDecision {
  /** Send as an annotation. */
  annotate: boolean;
  /** Log line for messages kept out of the annotations (nothing is lost). */
  logLine?: string;
}

/**
 * Lets the first N-1 annotations of each level through and holds the rest; `flush` turns the held
 * ones into the N-th annotation, one aggregate that counts them and quotes the first few.
 */
export class AnnotationBudget {
  private readonly sent: Record<AnnotationLevel, number> = { warning: 0, error: 0 };
  private readonly held: Record<AnnotationLevel, string[]> = { warning: [], error: [] };
  constructor(private readonly perLevel: number = MAX_ANNOTATIONS_PER_LEVEL) {}

  admit(level: AnnotationLevel, message: string): AnnotationDecision {
    if (this.sent[level] < this.perLevel - 1) {
      this.sent[level]++;
      return { annotate: true };
    }
    this.held[level].push(message);
    return { annotate: false, logLine: `${level}: ${message}` };
  }

  /** The aggregate annotations to send at the end of the step, at most one per level. */
  flush(): { level: AnnotationLevel; message: string }[] {
    const out: { level: AnnotationLevel; message: string }[] = [];
    for (const level of ["error", "warning"] as const) {
      const held = this.held[level];
      if (held.length === 0) continue;
      if (held.length === 1) {
        out.push({ level, message: held[0]! });
      } else {
        const quoted = held.slice(0, 5).map((m) => `- ${m.split("\n")[0]!.slice(0, 300)}`);
        const more = held.length > 5 ? [`- … and ${held.length - 5} more`] : [];
        out.push({ level, message: [`${held.length} more ${level}s (GitHub shows ${this.perLevel} per step; all are in the log):`, ...quoted, ...more].join("\n") });
      }
      this.held[level] = [];
    }
    return out;
  }
}
