/**
 * Progress of a long step (trees fitted, build steps done). On a terminal it redraws one line with
 * a bar, the count, the elapsed time and an estimate; anywhere else (CI logs, pipes) it stays quiet
 * until the step ends and then prints one line, so a log never fills with redraws.
 */
export interface ProgressUpdate {
  /** What is counted, e.g. "train forest-balanced" or "build image". */
  label: string;
  done: number;
  /** null when the end is not known (then no bar and no estimate). */
  total: number | null;
  unit?: string;
}

export function formatProgress(update: ProgressUpdate, elapsedMs: number, width = 24): string {
  const unit = update.unit ? ` ${update.unit}` : "";
  const secs = (elapsedMs / 1000).toFixed(1);
  if (!update.total || update.total <= 0) return `${update.label}: ${update.done}${unit}, ${secs} s`;
  const share = Math.min(1, Math.max(0, update.done / update.total));
  const filled = Math.round(share * width);
  const bar = "█".repeat(filled) + "░".repeat(width - filled);
  const eta = share > 0 && share < 1 ? `, about ${((elapsedMs / share - elapsedMs) / 1000).toFixed(0)} s left` : "";
  return `${update.label} ${bar} ${update.done}/${update.total}${unit}, ${secs} s${eta}`;
}

export interface ProgressDisplay {
  update(update: ProgressUpdate): void;
  /** Ends the line on a terminal; elsewhere prints the final count once. */
  end(): void;
}

export function progressDisplay(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, now: () => number = () => performance.now()): ProgressDisplay {
  let started: number | null = null;
  let last: ProgressUpdate | null = null;
  let lastDraw = 0;
  return {
    update(update) {
      started ??= now();
      last = update;
      if (!stream.isTTY) return;
      const t = now();
      // Redraw at most ~10 times a second, and always for the last unit.
      if (t - lastDraw < 100 && update.done !== update.total) return;
      lastDraw = t;
      const line = formatProgress(update, t - started);
      const max = (stream.columns ?? 100) - 1;
      stream.write(`\r${line.length > max ? line.slice(0, max) : line}\x1b[K`);
    },
    end() {
      if (last === null || started === null) return;
      const line = formatProgress(last, now() - started);
      stream.write(stream.isTTY ? `\r${line}\x1b[K\n` : `${line}\n`);
      last = null;
      started = null;
    },
  };
}
