import { UsageError } from "./errors.js";

/**
 * SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/): seconds since the
 * Unix epoch that replace "now" in everything the pipeline writes (lineage.created_at, registry
 * created_at), so two runs on the same inputs give byte-identical files. Unset or empty: null.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): Date | null {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === "") return null;
  if (!/^\d{1,12}$/.test(raw)) throw new UsageError(`SOURCE_DATE_EPOCH=${JSON.stringify(raw)}: expected a non-negative integer (seconds since 1970-01-01 UTC)`);
  return new Date(Number(raw) * 1000);
}
