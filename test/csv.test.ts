import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { loadConfig } from "../pipeline/config/load.js";
import { readDataset } from "../pipeline/data/csv.js";
import { parseDateText, parseNumberText, parsePlainDecimal } from "../pipeline/data/csv-values.js";
import { cellText, getColumn, missingCount, type CategoryColumn, type DateColumn, type NumberColumn } from "../pipeline/data/table.js";
import { smallDataset, tempFile } from "./fixtures/csv-dataset.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

const num = (t: { columns: Map<string, unknown> }, name: string) => t.columns.get(name) as NumberColumn;
const cat = (t: { columns: Map<string, unknown> }, name: string) => t.columns.get(name) as CategoryColumn;
const catValues = (c: CategoryColumn) => Array.from(c.codes, (k) => (k < 0 ? null : c.categories[k]));

const HEADER = "id,city,season,ta,day,tsv";

describe("readDataset: parsing", () => {
  it("reads typed columns in config order, then derived columns", async () => {
    const file = await tempFile("d.csv", `${HEADER}\n1,Lisbon,winter,21.5,2021-01-15,0\n2,Porto,summer,28,2021-07-01,1.5\n`);
    const r = await readDataset(file, smallDataset());
    expect(r.table.rowCount).toBe(2);
    expect([...r.table.columns.keys()]).toEqual(["id", "city", "season", "ta", "day", "tsv", "month_year"]);
    expect(Array.from(num(r.table, "ta").values)).toEqual([21.5, 28]);
    expect(catValues(cat(r.table, "city"))).toEqual(["Lisbon", "Porto"]);
    // A closed category set keeps the config's order, whatever order the data comes in.
    expect(cat(r.table, "season").categories).toEqual(["winter", "spring", "summer", "autumn"]);
    expect(r.violationCount).toBe(0);
    expect(r.bytes).toBe(readFileSync(file).length);
    expect(r.sha256).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
  });

  it("handles RFC 4180 quoting: delimiters, doubled quotes and newlines inside quotes", async () => {
    const csv = `${HEADER}\n1,"Rio de Janeiro, RJ","summer",30,2021-01-01,1\n2,"the ""old"" town",winter,20,,0\n3,"two\nlines",spring,22,,0\n4,"",autumn,"23.5",,-1\n`;
    const r = await readDataset(await tempFile("q.csv", csv), smallDataset());
    expect(r.table.rowCount).toBe(4);
    expect(catValues(cat(r.table, "city"))).toEqual(["Rio de Janeiro, RJ", 'the "old" town', "two\nlines", null]);
    expect(catValues(cat(r.table, "season"))).toEqual(["summer", "winter", "spring", "autumn"]);
    expect(Array.from(num(r.table, "ta").values)).toEqual([30, 20, 22, 23.5]);
  });

  it("reads CRLF, a UTF-8 BOM and a missing final newline the same as plain LF", async () => {
    const rows = ["1,Köln,winter,21.5,2021-01-15,0", "2,Zürich,summer,28,2021-07-01,1"];
    const plain = await readDataset(await tempFile("lf.csv", `${HEADER}\n${rows.join("\n")}\n`), smallDataset());
    const windows = await readDataset(await tempFile("crlf.csv", `\ufeff${HEADER}\r\n${rows.join("\r\n")}`), smallDataset());
    expect(windows.table.rowCount).toBe(2);
    expect(windows.headerMap.id).toBe("id");
    for (const name of plain.table.columns.keys()) {
      const a = getColumn(plain.table, name);
      const b = getColumn(windows.table, name);
      expect(Array.from({ length: 2 }, (_, i) => cellText(b, i))).toEqual(Array.from({ length: 2 }, (_, i) => cellText(a, i)));
    }
    expect(catValues(cat(windows.table, "city"))).toEqual(["Köln", "Zürich"]);
  });

  it("reads bare-CR line endings and grows its columns past the first estimate", async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `${i + 1},x,winter,${20 + (i % 5)},,0`);
    const r = await readDataset(await tempFile("cr.csv", `${HEADER}\r${lines.join("\r")}\r`), smallDataset());
    expect(r.table.rowCount).toBe(50);
    expect(num(r.table, "id").values[49]).toBe(50);
    expect(num(r.table, "ta").values.length).toBe(50);
  });

  it("skips blank lines instead of reading them as rows of missing values", async () => {
    const r = await readDataset(await tempFile("b.csv", `\n${HEADER}\n1,a,winter,20,,0\n\n  \t\n2,b,winter,99,,0\n\n  `), smallDataset());
    expect(r.table.rowCount).toBe(2);
    expect(Array.from(num(r.table, "id").values)).toEqual([1, 2]);
    // Physical line numbers still count the skipped lines.
    expect(r.violations.map((v) => [v.row, v.line])).toEqual([[2, 6]]);
    // A line that starts with spaces but has values is a row.
    const spaced = await readDataset(await tempFile("s.csv", `${HEADER}\n  1,a,winter,20,,0\n`), smallDataset());
    expect(num(spaced.table, "id").values[0]).toBe(1);
  });

  it("detects gzip by its magic bytes, whatever the file is called", async () => {
    const csv = `${HEADER}\n1,a,winter,20,2020-02-02,0\n2,b,summer,30,2020-03-03,2\n`;
    for (const name of ["d.csv.gz", "d.csv"]) {
      const file = await tempFile(name, gzipSync(csv));
      const r = await readDataset(file, smallDataset());
      expect(r.table.rowCount).toBe(2);
      expect(Array.from(num(r.table, "tsv").values)).toEqual([0, 2]);
      // Size and hash are of the file on disk, not of the decompressed text.
      expect(r.bytes).toBe(readFileSync(file).length);
    }
  });

  it("resolves aliases case-insensitively and reports absent and extra columns", async () => {
    const csv = " ID ,Temperatura_Ar,ESTACAO,Sensacao_Termica,notes\n1,21,Summer,0,hello\n2,22,winter,1,\n";
    const r = await readDataset(await tempFile("a.csv", csv), smallDataset());
    expect(r.headerMap).toEqual({ id: "ID", season: "ESTACAO", ta: "Temperatura_Ar", tsv: "Sensacao_Termica" });
    expect(r.missingColumns).toEqual(["city", "day"]);
    expect(r.extraColumns).toEqual(["notes"]);
    expect(Array.from(num(r.table, "ta").values)).toEqual([21, 22]);
    // Absent optional columns are in the table, every value missing, so later steps see the column.
    expect(missingCount(getColumn(r.table, "city"))).toBe(2);
    expect(missingCount(getColumn(r.table, "day"))).toBe(2);
    expect(missingCount(getColumn(r.table, "month_year"))).toBe(2);
  });

  it("prefers a column's own name over another column's alias", async () => {
    const csv = "id,ta,temperatura_ar,tsv\n1,20,99,0\n";
    const r = await readDataset(await tempFile("p.csv", csv), smallDataset());
    expect(r.headerMap.ta).toBe("ta");
    expect(r.extraColumns).toEqual(["temperatura_ar"]);
    expect(num(r.table, "ta").values[0]).toBe(20);
  });

  it("normalises categories (trim, case, non-breaking space) and flags values outside the set", async () => {
    const csv = `${HEADER}\n1,a, Summer ,20,,0\n2,a,SUMMER,20,,0\n3,a,summer\u00a0,20,,0\n4,a,monsoon,20,,0\n5,a,,20,,0\n6, a ,winter,20,,0\n`;
    const r = await readDataset(await tempFile("c.csv", csv), smallDataset());
    const season = cat(r.table, "season");
    expect(catValues(season)).toEqual(["summer", "summer", "summer", null, null, "winter"]);
    expect(r.violations).toEqual([{ row: 4, line: 5, column: "season", value: "monsoon", reason: "not one of winter, spring, summer, autumn" }]);
    // normalize: false keeps values as written.
    expect(catValues(cat(r.table, "city"))).toEqual(["a", "a", "a", "a", "a", " a "]);
  });

  it("parses ISO dates and timestamps as UTC and derives month_year in calendar order", async () => {
    const csv = [
      HEADER,
      "1,a,winter,20,2021-03-04,0",
      "2,a,winter,20,1995-05-18T00:00:00Z,0",
      "3,a,winter,20,2021-03-04T10:30:00+02:00,0",
      "4,a,winter,20,2021-03-04 10:30:00,0",
      "5,a,winter,20,2021-02-30,0",
      "6,a,winter,20,,0",
      "7,a,winter,20,May 5 2021,0",
      "8,a,winter,20,1999-12-31T23:59:59.5Z,0",
    ].join("\n");
    const r = await readDataset(await tempFile("dates.csv", csv), smallDataset());
    const day = getColumn(r.table, "day") as DateColumn;
    expect(day.values[0]).toBe(Date.UTC(2021, 2, 4));
    expect(day.values[1]).toBe(Date.UTC(1995, 4, 18));
    expect(day.values[2]).toBe(Date.UTC(2021, 2, 4, 8, 30));
    expect(day.values[3]).toBe(Date.UTC(2021, 2, 4, 10, 30));
    expect(day.values[7]).toBe(Date.UTC(1999, 11, 31, 23, 59, 59, 500));
    expect(Array.from(day.missing)).toEqual([0, 0, 0, 0, 1, 1, 1, 0]);
    expect(r.violations.map((v) => [v.row, v.value, v.reason])).toEqual([
      [5, "2021-02-30", "not a date"],
      [7, "May 5 2021", "not a date"],
    ]);
    const my = cat(r.table, "month_year");
    expect(my.categories).toEqual(["1995-05", "1999-12", "2021-03"]);
    expect(catValues(my)).toEqual(["2021-03", "1995-05", "2021-03", "2021-03", null, null, null, "1999-12"]);
  });

  it("reads numbers exactly as Number() does, treats NA tokens as missing and flags text", async () => {
    const csv = `${HEADER}\n1,a,winter,1e1,,0\n2,a,winter,NA,,0\n3,a,winter,abc,,0\n4,a,winter,  21.25 ,,0\n5,a,winter,0x10,,0\n6,a,winter,-0.1234567890123456789,,0\n7,a,winter,NaN,,0\n8,a,winter,.5,,0\n9,a,winter,-,,0\n`;
    const r = await readDataset(await tempFile("n.csv", csv), smallDataset());
    const ta = num(r.table, "ta");
    expect(Array.from(ta.missing)).toEqual([0, 1, 1, 0, 1, 0, 1, 0, 1]);
    expect(ta.values[0]).toBe(10);
    expect(ta.values[3]).toBe(21.25);
    expect(ta.values[5]).toBe(Number("-0.1234567890123456789"));
    expect(ta.values[7]).toBe(0.5);
    const notNumbers = r.violations.filter((v) => v.reason === "not a number").map((v) => [v.row, v.value]);
    expect(notNumbers).toEqual([
      [3, "abc"],
      [5, "0x10"],
      [9, "-"],
    ]);
    // The out-of-range values (10, 0.5, -0.12...) are kept and flagged.
    expect(r.violations.filter((v) => v.reason === "out of range [5, 45]").map((v) => v.row)).toEqual([6, 8]);
    expect(ta.values[5]).toBeLessThan(0);
  });

  it("the plain-decimal fast path agrees bit for bit with Number()", () => {
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 20000; i++) {
      const intDigits = Math.floor(rand() * 8);
      const fracDigits = Math.floor(rand() * 10);
      let text = rand() < 0.3 ? "-" : "";
      for (let k = 0; k < intDigits; k++) text += Math.floor(rand() * 10);
      if (fracDigits > 0) text += "." + Array.from({ length: fracDigits }, () => Math.floor(rand() * 10)).join("");
      if (!/\d/.test(text)) continue;
      const bytes = Buffer.from(`,${text},`);
      const fast = parsePlainDecimal(bytes, 1, bytes.length - 1);
      expect(Object.is(fast, Number(text)) || Number.isNaN(fast), text).toBe(true);
      expect(Object.is(parseNumberText(text), Number(text)), text).toBe(true);
    }
    expect(parseDateText("2020-02-29")).toBe(Date.UTC(2020, 1, 29));
    expect(parseDateText("2019-02-29")).toBeNaN();
  });

  it("numbers violations by data row and physical line, also after a multi-line quoted field", async () => {
    const csv = `${HEADER}\n1,"line one\nline two\nline three",winter,20,,0\n\n2,b,winter,99,,0\n3,b,winter,20,,7\n`;
    const r = await readDataset(await tempFile("lines.csv", csv), smallDataset());
    expect(r.table.rowCount).toBe(3);
    expect(r.violations).toEqual([
      { row: 2, line: 6, column: "ta", value: "99", reason: "out of range [5, 45]" },
      { row: 3, line: 7, column: "tsv", value: "7", reason: "out of range [-3, 3]" },
    ]);
  });

  it("lists the first violations and counts all of them, per column", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `${i + 1},a,${i % 2 ? "winter" : "dry"},${i < 20 ? 100 : 20},,0`);
    const r = await readDataset(await tempFile("cap.csv", `${HEADER}\n${rows.join("\n")}\n`), smallDataset(), { maxListedViolations: 5 });
    expect(r.violations).toHaveLength(5);
    expect(r.violationCount).toBe(35);
    expect(r.violationsByColumn).toEqual({ ta: 20, season: 15 });
    expect(r.violations[0]).toEqual({ row: 1, line: 2, column: "season", value: "dry", reason: "not one of winter, spring, summer, autumn" });
    expect(r.violations[1]).toEqual({ row: 1, line: 2, column: "ta", value: "100", reason: "out of range [5, 45]" });
  });

  it("reads the ASHRAE Global Thermal Comfort Database II with its profile", async () => {
    const { config } = await loadConfig("config/datasets/ashrae-db2.yaml", PROJECT_ROOT);
    const r = await readDataset(join(PROJECT_ROOT, config.dataset.path), config.dataset);
    expect(r.table.rowCount).toBe(106171);
    expect(r.sha256).toBe("47a06244e0c14d8147413d7108efc6c15f2136698601c14ccd9038d01bfa01b2");
    expect(r.missingColumns).toEqual([]);
    expect(r.extraColumns.length).toBe(64 - Object.keys(config.dataset.columns).length);
    expect(missingCount(getColumn(r.table, "ta"))).toBe(0);
    expect(missingCount(getColumn(r.table, "thermal_sensation"))).toBe(0);
    // tr is missing in about a third of rows (dataset README).
    const trShare = missingCount(getColumn(r.table, "tr")) / r.table.rowCount;
    expect(trShare).toBeGreaterThan(0.3);
    expect(trShare).toBeLessThan(0.36);
    // The non-breaking space in one climate value is normalised away.
    expect(cat(r.table, "climate").categories.some((c) => c.includes("\u00a0"))).toBe(false);
    expect(cat(r.table, "season").categories).toEqual(["winter", "spring", "summer", "autumn", "hot/wet", "cool/dry"]);
    expect(getColumn(r.table, "timestamp").kind).toBe("date");
    expect(cat(r.table, "month_year").categories[0]).toMatch(/^\d{4}-\d{2}$/);
  });
});
