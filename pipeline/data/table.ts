/**
 * The in-memory dataset: one typed array per column, no row objects. Numbers are Float64Array
 * with a missing mask (a NaN in `values` is never the only signal, so a literal "NaN" in a file
 * is still caught); categories are dictionary codes; dates are epoch milliseconds (UTC).
 */
export interface NumberColumn {
  kind: "number";
  name: string;
  values: Float64Array;
  /** 1 = missing. values[i] is NaN where missing. */
  missing: Uint8Array;
}

export interface CategoryColumn {
  kind: "category";
  name: string;
  /** Index into `categories`; -1 = missing. */
  codes: Int32Array;
  categories: string[];
}

export interface DateColumn {
  kind: "date";
  name: string;
  /** Epoch ms at UTC; NaN where missing. */
  values: Float64Array;
  missing: Uint8Array;
}

export type Column = NumberColumn | CategoryColumn | DateColumn;

export interface Table {
  rowCount: number;
  /** In the order of the config's `dataset.columns` (then derived columns). */
  columns: Map<string, Column>;
}

export function isMissing(column: Column, row: number): boolean {
  return column.kind === "category" ? column.codes[row]! < 0 : column.missing[row] === 1;
}

export function missingCount(column: Column): number {
  let n = 0;
  if (column.kind === "category") {
    for (let i = 0; i < column.codes.length; i++) if (column.codes[i]! < 0) n++;
  } else {
    for (let i = 0; i < column.missing.length; i++) n += column.missing[i]!;
  }
  return n;
}

export function getColumn(table: Table, name: string): Column {
  const c = table.columns.get(name);
  if (!c) throw new Error(`column "${name}" is not in the table`);
  return c;
}

/** A string view of one cell, for reports and error messages. */
export function cellText(column: Column, row: number): string {
  if (isMissing(column, row)) return "";
  if (column.kind === "category") return column.categories[column.codes[row]!]!;
  if (column.kind === "date") return new Date(column.values[row]!).toISOString().slice(0, 10);
  return String(column.values[row]);
}

/** Builds a table from plain arrays: for tests and small derived tables, not the hot path. */
export function tableFromRecords(
  spec: Record<string, "number" | "category" | "date">,
  records: Record<string, number | string | null | undefined>[],
): Table {
  const n = records.length;
  const columns = new Map<string, Column>();
  for (const [name, kind] of Object.entries(spec)) {
    if (kind === "category") {
      const index = new Map<string, number>();
      const categories: string[] = [];
      const codes = new Int32Array(n);
      records.forEach((r, i) => {
        const v = r[name];
        if (v === null || v === undefined || v === "") return void (codes[i] = -1);
        const s = String(v);
        let code = index.get(s);
        if (code === undefined) {
          code = categories.length;
          categories.push(s);
          index.set(s, code);
        }
        codes[i] = code;
      });
      columns.set(name, { kind, name, codes, categories });
    } else {
      const values = new Float64Array(n);
      const missing = new Uint8Array(n);
      records.forEach((r, i) => {
        const v = r[name];
        const num = v === null || v === undefined || v === "" ? NaN : kind === "date" && typeof v === "string" ? Date.parse(v) : Number(v);
        values[i] = num;
        if (Number.isNaN(num)) missing[i] = 1;
      });
      columns.set(name, { kind, name, values, missing });
    }
  }
  return { rowCount: n, columns };
}

/** Selects rows by index into a new table (copies; used for splits, not inside the trainer). */
export function takeRows(table: Table, rows: ArrayLike<number>): Table {
  const n = rows.length;
  const columns = new Map<string, Column>();
  for (const [name, c] of table.columns) {
    if (c.kind === "category") {
      const codes = new Int32Array(n);
      for (let i = 0; i < n; i++) codes[i] = c.codes[rows[i]!]!;
      columns.set(name, { ...c, codes });
    } else {
      const values = new Float64Array(n);
      const missing = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        values[i] = c.values[rows[i]!]!;
        missing[i] = c.missing[rows[i]!]!;
      }
      columns.set(name, { ...c, values, missing });
    }
  }
  return { rowCount: n, columns };
}
