import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { formatZodError } from "../../config/load.js";
import { ConfigError } from "../../core/errors.js";

const positiveInt = z.number().int().positive();

/**
 * The monitoring part of the server's configuration. Every field has a default, so `{}` is a
 * working setup: a 1,000-entry ring, drift over the last 1,000 inputs with no verdict below 200,
 * live accuracy over the last 500 feedbacks, latency and classes in one-minute buckets for an hour.
 */
export const MonitoringConfigSchema = z
  .object({
    /** Recent predictions kept in memory (GET /monitoring/predictions, feedback look-ups). */
    ring_size: positiveInt.max(1_000_000).default(1000),
    /** Optional JSONL copy of every prediction, rotated by size (file, file.1, … file.<keep>). */
    log: z
      .object({
        path: z.string().min(1),
        max_bytes: positiveInt.default(10 * 1024 * 1024),
        keep: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .optional(),
    /** Time series of latency and classes: bucket width and how many buckets are kept. */
    time_bucket_seconds: positiveInt.default(60),
    time_buckets: positiveInt.max(10_000).default(60),
    feedback: z
      .object({
        /** Live accuracy and macro-F1 are computed over the latest `window` feedbacks. */
        window: positiveInt.default(500),
        /** Predictions that can still receive feedback (request ids remembered), oldest dropped first. */
        max_pending: positiveInt.default(100_000),
      })
      .strict()
      .prefault({}),
    drift: z
      .object({
        /** `count`: the latest `size` inputs; `time`: inputs of the last `seconds` (at most `max_rows`). */
        window: z.enum(["count", "time"]).default("count"),
        size: positiveInt.default(1000),
        seconds: positiveInt.default(3600),
        max_rows: positiveInt.default(50_000),
        /** No verdict (and no drift_score) while the window holds fewer inputs than this. */
        min_rows: positiveInt.default(200),
        /**
         * Reuse the last evaluation for this long even when new inputs arrived (0: always fresh).
         * An evaluation of 1,000 inputs takes milliseconds; a reference with per-group summaries
         * (bootstrap calibration) costs more, and a scraper or dashboard polling under load need
         * not pay it on every request.
         */
        min_interval_seconds: z.number().nonnegative().default(0),
      })
      .strict()
      .prefault({}),
    /** Externally recorded metrics kept (POST /monitoring/metrics), oldest dropped first. */
    external_metrics_max: positiveInt.default(200),
    /** The training workflow that POST /monitoring/run-pipeline dispatches. */
    retrain: z
      .object({
        /** owner/name; default GITHUB_REPOSITORY. */
        repo: z.string().optional(),
        /** Workflow file name or id. */
        workflow: z.string().min(1).default("train.yml"),
        ref: z.string().min(1).default("main"),
        /** Name of the environment variable with the token (default PROMOTION_TOKEN, GH_TOKEN, GITHUB_TOKEN). */
        token_env: z.string().optional(),
        inputs: z.record(z.string(), z.string()).default({}),
        /** GET /monitoring/pipeline-status answers from a cache this old at most (GitHub's rate limit). */
        status_cache_seconds: z.number().nonnegative().default(15),
      })
      .strict()
      .prefault({}),
    /** Optional: a repository_dispatch when live drift stays above its threshold. */
    drift_dispatch: z
      .object({
        enabled: z.boolean().default(false),
        event_type: z.string().min(1).max(100).default("drift-detected"),
        /** How long the drift verdict must stay "drifted" before an event is sent. */
        sustain_seconds: z.number().nonnegative().default(900),
        /** At most one event per this interval. */
        interval_seconds: z.number().positive().default(86_400),
        /** How often the server evaluates the drift window for this. */
        check_seconds: z.number().positive().default(60),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
export type MonitoringConfigInput = z.input<typeof MonitoringConfigSchema>;

/**
 * Validates the config's `serving.monitoring` section (the pipeline schema keeps it open and leaves
 * it to this module). Problems name the full key path, e.g. `serving.monitoring.drift.min_rows`;
 * a relative `log.path` resolves against `root` (the repository root).
 */
export function parseMonitoringConfig(raw: unknown, options: { file?: string; root?: string } = {}): MonitoringConfig {
  const wrapped = { serving: { monitoring: raw ?? {} } };
  const result = z.object({ serving: z.object({ monitoring: MonitoringConfigSchema }) }).safeParse(wrapped);
  if (!result.success) throw new ConfigError(formatZodError(result.error, wrapped, options.file ?? "<config>"));
  const config = result.data.serving.monitoring;
  if (config.log && options.root && !isAbsolute(config.log.path)) config.log.path = resolve(options.root, config.log.path);
  return config;
}
