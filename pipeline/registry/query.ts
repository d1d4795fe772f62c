import { UsageError } from "../core/errors.js";
import type { ModelVersion, Registry } from "./schema.js";

export interface ModelSummary {
  name: string;
  versions: number;
  latest: number | null;
  production: number | null;
  /** Primary metrics of the production version (or the latest when none is in production). */
  metrics: Record<string, number>;
  last_deployed: string | null;
}

export interface HistoryEvent {
  time: string;
  version: number;
  event: "registered" | "deployed";
  detail: string;
}

export interface VersionRef {
  name: string;
  version: number | null;
}

/** Parses `name` or `name@vN` (also `name@N`). */
export function parseVersionRef(spec: string): VersionRef {
  const m = /^([a-z0-9][a-z0-9-]*)(?:@v?(\d+))?$/.exec(spec);
  if (!m) throw new UsageError(`"${spec}": expected a model name or name@vN (e.g. thermal-comfort@v3)`);
  return { name: m[1]!, version: m[2] === undefined ? null : Number(m[2]) };
}

export function productionVersion(registry: Registry, name: string): ModelVersion | undefined {
  return registry.models[name]?.versions.find((v) => v.tags.includes("production"));
}

export function listModels(registry: Registry): ModelSummary[] {
  return Object.entries(registry.models)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, model]) => {
      const latest = model.versions.length ? Math.max(...model.versions.map((v) => v.version)) : null;
      const prod = model.versions.find((v) => v.tags.includes("production"));
      const shown = prod ?? model.versions.find((v) => v.version === latest);
      const deployments = model.versions.flatMap((v) => v.deployments).map((d) => d.time).sort();
      return {
        name,
        versions: model.versions.length,
        latest,
        production: prod?.version ?? null,
        metrics: shown?.metrics ?? {},
        last_deployed: deployments.at(-1) ?? null,
      };
    });
}

/** The named version, or without @vN the production version (the latest when none is). */
export function showVersion(registry: Registry, ref: VersionRef): { name: string; version: ModelVersion } {
  const model = registry.models[ref.name];
  if (!model) throw new UsageError(`no model "${ref.name}" in the registry (known: ${Object.keys(registry.models).join(", ") || "none"})`);
  let version: ModelVersion | undefined;
  if (ref.version !== null) version = model.versions.find((v) => v.version === ref.version);
  else version = model.versions.find((v) => v.tags.includes("production")) ?? model.versions.at(-1);
  if (!version) {
    throw new UsageError(`${ref.name} has no version${ref.version !== null ? ` v${ref.version}` : "s"} (known: ${model.versions.map((v) => `v${v.version}`).join(", ") || "none"})`);
  }
  return { name: ref.name, version };
}

/** Registrations and deployments in time order: what happened to a model, for people. */
export function modelHistory(registry: Registry, name: string): HistoryEvent[] {
  const model = registry.models[name];
  if (!model) throw new UsageError(`no model "${name}" in the registry (known: ${Object.keys(registry.models).join(", ") || "none"})`);
  const events: HistoryEvent[] = [];
  for (const v of model.versions) {
    events.push({ time: v.created_at, version: v.version, event: "registered", detail: `${v.trainer.candidate} (seed ${v.trainer.seed}); tags: ${v.tags.join(", ") || "none"}` });
    for (const d of v.deployments) {
      events.push({ time: d.time, version: v.version, event: "deployed", detail: `${d.environment} ${d.status} revision ${d.revision} (${d.git_sha.slice(0, 7)})` });
    }
  }
  return events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.version - b.version);
}

/** A plain-text table with aligned columns (for terminals; scripts use --json). */
export function formatTable(headers: string[], rows: (string | number | null)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? "-" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(cells[0]!), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n") + "\n";
}

export function formatMetric(value: number | undefined): string {
  return value === undefined ? "-" : Number.isInteger(value) ? String(value) : value.toFixed(4);
}
