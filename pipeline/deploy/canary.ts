import type { EnvironmentConfig } from "../config/schema.js";
import { PipelineError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { judgeStep, windowBetween, type RevisionWindow, type StepJudgement } from "./canary-analysis.js";
import type { Clock } from "./clock.js";
import { parsePrometheusText, type Sample } from "./prometheus.js";

/**
 * One canary step, once traffic has moved: read both revisions' /metrics at the start, hold for at
 * least `hold_seconds` and until the new revision has served `min_requests`, read them again and
 * judge the difference. It stops early when the new revision is already clearly failing (its 5xx
 * share over the limit on at least min_requests requests), so a bad revision gets traffic for as
 * short a time as possible.
 */

export interface MetricsEndpoint {
  url: string;
  headers?: Record<string, string>;
}

export interface CanaryStepInput {
  percent: number;
  canary: MetricsEndpoint;
  /** The stable revision; null when it serves nothing in this step (100%). */
  stable: MetricsEndpoint | null;
  /** The stable window of the last step in which it served, for comparisons at 100%. */
  stableReference: RevisionWindow | null;
  settings: EnvironmentConfig["canary"];
  fetch: typeof fetch;
  clock: Clock;
  reporter: Reporter;
}

export interface CanaryStepResult {
  percent: number;
  judgement: StepJudgement;
  canaryWindow: RevisionWindow;
  stableWindow: RevisionWindow | null;
  heldSeconds: number;
  /** When the verdict was reached (ms since epoch): a failed check's time, for the recovery figure. */
  decidedAt: number;
}

async function scrape(endpoint: MetricsEndpoint, fetchImpl: typeof fetch): Promise<Sample[]> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const response = await fetchImpl(new URL("/metrics", endpoint.url), { headers: endpoint.headers ?? {}, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      if (response.ok) return parsePrometheusText(text);
      lastError = `${response.status} ${text.slice(0, 200)}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
  }
  throw new PipelineError(`cannot read ${endpoint.url}/metrics: ${lastError}`, 1);
}

export async function runCanaryStep(input: CanaryStepInput): Promise<CanaryStepResult> {
  const { settings, clock, reporter } = input;
  const started = clock.now();
  const canaryStart = await scrape(input.canary, input.fetch);
  const stableStart = input.stable ? await scrape(input.stable, input.fetch) : null;
  const holdMs = settings.hold_seconds * 1000;
  const giveUpMs = holdMs + settings.max_wait_seconds * 1000;
  let canaryEnd = canaryStart;
  while (true) {
    const elapsed = clock.now() - started;
    const window = windowBetween(canaryStart, canaryEnd, settings.routes);
    const enough = window.requests >= settings.min_requests;
    const failingFast = enough && window.errors5xx / window.requests > settings.thresholds.max_5xx_share;
    if (failingFast || (elapsed >= holdMs && enough) || elapsed >= giveUpMs) break;
    await clock.sleep(Math.min(settings.poll_seconds * 1000, Math.max(1, (enough ? holdMs : giveUpMs) - elapsed)));
    canaryEnd = await scrape(input.canary, input.fetch);
  }
  const stableEnd = input.stable ? await scrape(input.stable, input.fetch) : null;
  const canaryWindow = windowBetween(canaryStart, canaryEnd, settings.routes);
  const stableWindow = stableStart && stableEnd ? windowBetween(stableStart, stableEnd, settings.routes) : null;
  const reference = stableWindow && stableWindow.requests > 0 ? stableWindow : input.stableReference;
  const judgement = judgeStep(canaryWindow, reference, settings.thresholds, settings.min_requests);
  const decidedAt = clock.now();
  for (const c of judgement.checks) reporter.info(`canary ${input.percent}% ${c.passed ? "✔" : "✖"} ${c.name}: ${c.detail}`);
  return { percent: input.percent, judgement, canaryWindow, stableWindow, heldSeconds: (decidedAt - started) / 1000, decidedAt };
}
