import type { MonitoringConfig } from "./config.js";
import type { LiveDriftReport } from "./state.js";

export interface DriftAlarmState {
  enabled: boolean;
  event_type: string;
  /** Since when the verdict has been "drifted" without interruption (null: it is not). */
  drifted_since: string | null;
  last_sent: string | null;
  last_error: string | null;
  sustain_seconds: number;
  interval_seconds: number;
}

export interface DriftAlarm {
  /** Evaluates the drift window once; sends the event when drift has lasted long enough. */
  check(): Promise<"sent" | "waiting" | "quiet" | "throttled" | "failed">;
  state(): DriftAlarmState;
}

/**
 * Turns a sustained drift verdict into at most one `repository_dispatch` per interval, so the
 * training workflow can react without a burst of events while drift lasts. "Sustained" means every
 * check for `sustain_seconds` saw the verdict `drifted`; a check below the minimum window or without
 * drift resets it.
 */
export function createDriftAlarm(options: {
  config: MonitoringConfig["drift_dispatch"];
  drift: () => LiveDriftReport;
  send: (eventType: string, payload: Record<string, unknown>) => Promise<void>;
  now?: () => number;
  onError?: (error: Error) => void;
}): DriftAlarm {
  const { config } = options;
  const now = options.now ?? Date.now;
  let driftedSince: number | null = null;
  let lastSent: number | null = null;
  let lastError: string | null = null;
  let sending = false;

  return {
    async check() {
      const report = options.drift();
      const at = now();
      if (report.verdict !== "drifted") {
        driftedSince = null;
        return "quiet";
      }
      driftedSince ??= at;
      if (at - driftedSince < config.sustain_seconds * 1000) return "waiting";
      if (sending || (lastSent !== null && at - lastSent < config.interval_seconds * 1000)) return "throttled";
      sending = true;
      try {
        // client_payload allows at most 10 top-level properties: the drifted features go in one list.
        await options.send(config.event_type, {
          drifted_features: report.features.filter((f) => f.drifted).map((f) => ({ feature: f.feature, statistic: f.statistic, threshold: f.threshold })),
          drifted_share: report.drifted_share,
          window_rows: report.window.rows,
          drifted_since: new Date(driftedSince).toISOString(),
          evaluated_at: report.evaluated_at,
        });
        lastSent = at;
        lastError = null;
        return "sent";
      } catch (error) {
        lastError = (error as Error).message;
        options.onError?.(error as Error);
        return "failed";
      } finally {
        sending = false;
      }
    },
    state() {
      return {
        enabled: config.enabled,
        event_type: config.event_type,
        drifted_since: driftedSince === null ? null : new Date(driftedSince).toISOString(),
        last_sent: lastSent === null ? null : new Date(lastSent).toISOString(),
        last_error: lastError,
        sustain_seconds: config.sustain_seconds,
        interval_seconds: config.interval_seconds,
      };
    },
  };
}
