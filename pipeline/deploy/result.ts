import type { CanaryStepResult } from "./canary.js";
import type { SmokeResult } from "./smoke.js";
import type { TrafficEntry } from "./traffic.js";

/** What a deploy did. A failed gate is a result (with `reason`), not an exception, so it can be recorded and reported. */
export interface DeployResult {
  environment: string;
  target: "cloud-run" | "local";
  /**
   * deployed: the new revision serves 100%. preview: it runs under its tag with no traffic.
   * rolled_back: traffic had moved and was restored exactly. failed: no traffic had moved to it
   * (or, on a first deploy, there was nothing to restore).
   */
  outcome: "deployed" | "preview" | "rolled_back" | "failed";
  reason?: string;
  model: { name: string; version: number; contentSha256: string };
  image: string;
  revision: string;
  serviceUrl: string;
  tagUrl: string;
  tag: string;
  firstDeploy: boolean;
  /** The split before the deploy (null on a first deploy). */
  previousSplit: TrafficEntry[] | null;
  /** The split at the end (after a restore, equal to previousSplit). */
  finalSplit: TrafficEntry[];
  smoke: SmokeResult | null;
  steps: CanaryStepResult[];
  timings: {
    startedAt: number;
    /** When the new revision reached 100% of traffic. */
    fullTrafficAt?: number;
    /** When the failing check was decided. */
    failedAt?: number;
    /** When the recorded split was serving again. */
    restoredAt?: number;
    finishedAt: number;
  };
  /** Admin API calls retried after 429 / 503 / a dropped connection. */
  apiRetries: number;
}

export function succeeded(result: DeployResult): boolean {
  return result.outcome === "deployed" || result.outcome === "preview";
}
