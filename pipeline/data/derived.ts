import type { DatasetConfig } from "../config/schema.js";
import { ConfigError } from "../core/errors.js";
import { epochDay, yearMonthFromDays } from "./csv-values.js";
import { cellText, isMissing, type CategoryColumn, type Column, type Table } from "./table.js";

/**
 * "YYYY-MM" of a date column (the original project's `mes_ano`), missing where the date is.
 * Categories are in calendar order, so codes sort like the months they name.
 */
export function monthYearColumn(name: string, source: Column): CategoryColumn {
  if (source.kind !== "date") throw new ConfigError(`derived column "${name}": "${source.name}" must be a date column for month_year`);
  const n = source.values.length;
  // Month keys (year * 12 + month - 1) through a per-day lookup table: dates cluster in a few
  // thousand days, so each row costs two array reads instead of a calendar conversion.
  let minDay = Infinity;
  let maxDay = -Infinity;
  for (let i = 0; i < n; i++) {
    if (source.missing[i] === 1) continue;
    const day = epochDay(source.values[i]!);
    if (day < minDay) minDay = day;
    if (day > maxDay) maxDay = day;
  }
  const codes = new Int32Array(n).fill(-1);
  if (minDay > maxDay) return { kind: "category", name, codes, categories: [] };
  const monthOfDay = new Int32Array(maxDay - minDay + 1);
  for (let day = minDay; day <= maxDay; day++) {
    const { year, month } = yearMonthFromDays(day);
    monthOfDay[day - minDay] = year * 12 + month - 1;
  }
  const firstMonth = monthOfDay[0]!;
  const used = new Int32Array(monthOfDay[monthOfDay.length - 1]! - firstMonth + 1);
  for (let i = 0; i < n; i++) {
    if (source.missing[i] === 1) continue;
    const k = monthOfDay[epochDay(source.values[i]!) - minDay]! - firstMonth;
    codes[i] = k;
    used[k] = 1;
  }
  // Renumber the months that occur, in calendar order.
  const categories: string[] = [];
  for (let k = 0; k < used.length; k++) {
    if (used[k] === 0) continue;
    used[k] = categories.length;
    const key = firstMonth + k;
    categories.push(`${String(Math.floor(key / 12)).padStart(4, "0")}-${String((key % 12) + 1).padStart(2, "0")}`);
  }
  for (let i = 0; i < n; i++) if (codes[i]! >= 0) codes[i] = used[codes[i]!]!;
  return { kind: "category", name, codes, categories };
}

/**
 * One category per distinct combination of the source columns' values (a composite group key):
 * the parts joined with " | " as the category's name, missing when any part is missing (a row
 * without its contributor or city cannot be said to belong with anyone).
 */
export function compositeColumn(name: string, sources: Column[], rowCount: number): CategoryColumn {
  const codes = new Int32Array(rowCount).fill(-1);
  const categories: string[] = [];
  const index = new Map<string, number>();
  for (let r = 0; r < rowCount; r++) {
    const parts: string[] = [];
    let missing = false;
    for (const s of sources) {
      if (isMissing(s, r)) {
        missing = true;
        break;
      }
      parts.push(cellText(s, r));
    }
    if (missing) continue;
    const key = parts.join(" | ");
    let code = index.get(key);
    if (code === undefined) {
      code = categories.length;
      categories.push(key);
      index.set(key, code);
    }
    codes[r] = code;
  }
  return { kind: "category", name, codes, categories };
}

/** Appends the config's derived columns to the table, after the read columns. */
export function addDerivedColumns(table: Table, dataset: DatasetConfig): void {
  for (const d of dataset.derived) {
    if (d.kind === "composite") {
      const sources = d.from.map((f) => {
        const c = table.columns.get(f);
        if (!c) throw new ConfigError(`dataset.derived: "${d.name}" is composed of "${f}", which is not in the table`);
        return c;
      });
      table.columns.set(d.name, compositeColumn(d.name, sources, table.rowCount));
      continue;
    }
    const source = table.columns.get(d.from);
    if (!source) throw new ConfigError(`dataset.derived: "${d.name}" is derived from "${d.from}", which is not in the table`);
    table.columns.set(d.name, monthYearColumn(d.name, source));
  }
}
