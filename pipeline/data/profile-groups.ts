import { Random } from "../core/random.js";
import { groupIds } from "../train/split.js";
import { normalizeCategory } from "./csv-values.js";
import { histogramCounts, profileTable } from "./profile.js";
import type { DataProfile, GroupSummaries } from "./profile-schema.js";
import type { Table } from "./table.js";

/** Seed of the group subset kept under the size budget (fixed: a profile depends on its data only). */
const SUBSET_SEED = 20261201;

/**
 * profileTable plus per-group summaries when the table has the group column: the reference
 * profile that train stores in model.json and `validate-data --profile-out` writes.
 */
export function profileWithGroups(
  table: Table,
  columns: string[],
  options: Parameters<typeof profileTable>[2] & { group?: string; maxGroups: number },
): DataProfile {
  const profile = profileTable(table, columns, options);
  const column = options.group ? table.columns.get(options.group) : undefined;
  if (!options.group || !column) return profile;
  const { ids, count } = groupIds(column, table.rowCount);
  if (count < 2) return profile;
  profile.groups = groupSummaries(table, profile, { column: options.group, ids, count }, { maxGroups: options.maxGroups, seed: SUBSET_SEED });
  return profile;
}

/**
 * Per-group summaries for a reference profile: for every group (a building, or a composite key)
 * the counts of each profiled column in the profile's own bins (histogram bins for numbers,
 * categories for categories). New data arrives a group at a time, so the reference's variability
 * between groups is what a batch of unchanged data varies by; drift calibration resamples these
 * summaries (pipeline/validate-data/drift-calibration.ts).
 *
 * Size budget: at most `maxGroups` groups are kept (a seeded random subset of all groups, which
 * is still a sample of the same population of groups), each costing one count per bin.
 */
export function groupSummaries(
  table: Table,
  profile: DataProfile,
  group: { column: string; ids: Int32Array; count: number },
  options: { maxGroups: number; seed: number },
): GroupSummaries {
  const { ids, count } = group;
  let kept = Int32Array.from({ length: count }, (_, i) => i);
  if (count > options.maxGroups) {
    new Random(options.seed, 11).shuffle(kept);
    kept = kept.slice(0, options.maxGroups).sort();
  }
  const slot = new Int32Array(count).fill(-1);
  kept.forEach((g, i) => (slot[g] = i));
  const k = kept.length;
  const rows = new Array<number>(k).fill(0);
  for (let r = 0; r < ids.length; r++) {
    const s = slot[ids[r]!]!;
    if (s >= 0) rows[s]!++;
  }
  const columns: GroupSummaries["columns"] = {};
  for (const [name, ref] of Object.entries(profile.columns)) {
    const column = table.columns.get(name);
    if (!column) continue;
    if (ref.kind === "category") {
      if (column.kind !== "category") continue;
      const keys = Object.keys(ref.counts);
      const index = new Map(keys.map((key, i) => [key, i]));
      const folded = new Map(keys.map((key, i) => [normalizeCategory(key), i]));
      const codeToKey = column.categories.map((c) => index.get(c) ?? folded.get(normalizeCategory(c)) ?? -1);
      const counts = new Array<number>(k * keys.length).fill(0);
      for (let r = 0; r < ids.length; r++) {
        const s = slot[ids[r]!]!;
        const c = column.codes[r]!;
        if (s < 0 || c < 0) continue;
        const j = codeToKey[c]!;
        if (j >= 0) counts[s * keys.length + j]!++;
      }
      columns[name] = { keys, counts };
    } else {
      if (column.kind === "category") continue;
      const bins = ref.histogram.counts.length;
      const counts = new Array<number>(k * bins).fill(0);
      // Bin each group's values with the profile's edges: collect per group, then count.
      const perGroup: number[][] = Array.from({ length: k }, () => []);
      for (let r = 0; r < ids.length; r++) {
        const s = slot[ids[r]!]!;
        if (s >= 0 && column.missing[r] === 0) perGroup[s]!.push(column.values[r]!);
      }
      perGroup.forEach((values, s) => {
        const c = histogramCounts(Float64Array.from(values), ref.histogram.edges);
        for (let j = 0; j < bins; j++) counts[s * bins + j] = c[j]!;
      });
      columns[name] = { counts };
    }
  }
  return { column: group.column, count, rows, columns };
}
