import { describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { InputError } from "../pipeline/core/errors.js";
import { readDataset } from "../pipeline/data/csv.js";
import { missingCount, getColumn } from "../pipeline/data/table.js";
import { smallDataset, tempFile } from "./fixtures/csv-dataset.js";

const HEADER = "id,city,season,ta,day,tsv";

/** Reads `content` and returns the InputError it must raise (exit code 2, file named). */
async function inputError(name: string, content: string | Uint8Array): Promise<InputError> {
  const file = await tempFile(name, content);
  const error = await readDataset(file, smallDataset()).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  const e = error as InputError;
  expect(e.exitCode).toBe(2);
  expect(e.message.startsWith(`${file}: `)).toBe(true);
  return e;
}

describe("readDataset: bad input is a clear InputError, never a crash", () => {
  it("an empty file, or one with only blank lines", async () => {
    expect((await inputError("empty.csv", "")).message).toMatch(/the file is empty \(no header row\)/);
    expect((await inputError("blank.csv", "\n \r\n\t\n")).message).toMatch(/the file is empty/);
  });

  it("a header without data rows", async () => {
    expect((await inputError("header.csv", `${HEADER}\n`)).message).toMatch(/has a header but no data rows/);
    expect((await inputError("header2.csv", `${HEADER}\n\n\n`)).message).toMatch(/no data rows/);
  });

  it("the wrong delimiter: suggests the one the header uses", async () => {
    const e = await inputError("semi.csv", "id;city;season;ta;day;tsv\n1;a;winter;20;;0\n");
    expect(e.message).toMatch(/line 1: only 1 column found in header; is the delimiter ';'\? \(dataset\.delimiter is ','\)/);
    const tab = await inputError("tab.csv", "id\tcity\tta\ttsv\n1\ta\t20\t0\n");
    expect(tab.message).toMatch(/is the delimiter tab\?/);
  });

  it("ragged rows: names the line and both field counts", async () => {
    const more = await inputError("more.csv", `${HEADER}\n1,a,winter,20,,0\n2,a,winter,20,,0,extra\n`);
    expect(more.message).toMatch(/line 3: 7 fields, but the header has 6; quote values that contain the delimiter ','/);
    const fewer = await inputError("fewer.csv", `${HEADER}\n1,a,winter,20,,0\n2,a,winter\n3,a,winter,20,,0\n`);
    expect(fewer.message).toMatch(/line 3: 3 fields, but the header has 6; a row ends early/);
    const last = await inputError("last.csv", `${HEADER}\n1,a,winter,20,,0\n2,a`);
    expect(last.message).toMatch(/line 3: 2 fields, but the header has 6/);
    const spanning = await inputError("span.csv", `${HEADER}\n1,"a\nb",winter,20\n`);
    expect(spanning.message).toMatch(/lines 2-3: 4 fields, but the header has 6/);
  });

  it("an unterminated quote: names the line where it opened", async () => {
    const e = await inputError("quote.csv", `${HEADER}\n1,a,winter,20,,0\n2,"never closed,winter,20,,0\n3,a,winter,20,,0\n`);
    expect(e.message).toMatch(/line 3: unterminated quote: the quoted field that opens on line 3 is never closed/);
    const inHeader = await inputError("quote-header.csv", `id,"city,ta,tsv\n1,a,20,0\n`);
    expect(inHeader.message).toMatch(/opens on line 1/);
  });

  it("a binary file (NUL bytes)", async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52]);
    // The PNG signature holds two line feeds, so its first NUL byte starts line 3.
    expect((await inputError("image.csv", png)).message).toMatch(/line 3 contains a NUL byte \(byte 1 of the line\); this looks like a binary file/);
    const nulInData = await inputError("nul.csv", Buffer.concat([Buffer.from(`${HEADER}\n1,a,winter,20,,0\n2,a`), Buffer.from([0]), Buffer.from(",winter,20,,0\n")]));
    expect(nulInData.message).toMatch(/line 3 contains a NUL byte/);
  });

  it("a binary file large enough for the background check still reports the NUL byte, not a parse error", async () => {
    const rows = `${HEADER}\n` + "1,a,winter,20,,0\n".repeat(600_000);
    const bytes = Buffer.from(rows + "2,\u0000\u0001\u0002,,,,,,,\n" + "1,a,winter,20,,0\n");
    expect(bytes.length).toBeGreaterThan(8 * 1024 * 1024);
    expect((await inputError("big-binary.csv", bytes)).message).toMatch(/line 600002 contains a NUL byte/);
  });

  it("a file that is not UTF-8 (Latin-1): names the line and suggests re-encoding", async () => {
    const latin1 = Buffer.from(`${HEADER}\n1,Sao,winter,20,,0\n2,S\u00e3o Paulo,winter,20,,0\n`, "latin1");
    const e = await inputError("latin1.csv", latin1);
    expect(e.message).toMatch(/line 3: invalid UTF-8 \(byte 0xe3 at byte 4 of the line\).*Latin-1.*re-encode it as UTF-8/);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\n`, "utf16le")]);
    expect((await inputError("utf16.csv", utf16)).message).toMatch(/UTF-16 encoded; re-encode it as UTF-8/);
  });

  it("a missing label column (and other required columns): names what was looked for and what the header has", async () => {
    const e = await inputError("nolabel.csv", "id,city,season,ta\n1,a,winter,20\n");
    expect(e.message).toMatch(/required column "tsv" not found \(looked for tsv, sensacao_termica\); header has: id, city, season, ta/);
    const noTa = await inputError("nota.csv", "id,tsv,rh\n1,0,50\n");
    expect(noTa.message).toMatch(/required column "ta" not found \(looked for ta, temperatura_ar, air_temperature\)/);
  });

  it("an all-missing column is not a reader error: it reads, every value missing", async () => {
    const file = await tempFile("allmissing.csv", `${HEADER}\n1,a,winter,,,0\n2,b,summer,,,1\n3,c,autumn,,,-1\n`);
    const r = await readDataset(file, smallDataset());
    expect(r.table.rowCount).toBe(3);
    expect(missingCount(getColumn(r.table, "ta"))).toBe(3);
    expect(missingCount(getColumn(r.table, "day"))).toBe(3);
    expect(r.violationCount).toBe(0);
  });

  it("non-numeric text in a numeric column is a violation, not an error", async () => {
    const file = await tempFile("text.csv", `${HEADER}\n1,a,winter,warm,,0\n2,a,winter,21,,zero\n`);
    const r = await readDataset(file, smallDataset());
    expect(r.violations).toEqual([
      { row: 1, line: 2, column: "ta", value: "warm", reason: "not a number" },
      { row: 2, line: 3, column: "tsv", value: "zero", reason: "not a number" },
    ]);
    expect(missingCount(getColumn(r.table, "ta"))).toBe(1);
  });

  it("a line longer than 1 MiB", async () => {
    const huge = `${HEADER}\n1,a,winter,20,,0\n2,${"x".repeat(1.2 * 1024 * 1024)},winter,20,,0\n`;
    expect((await inputError("huge.csv", huge)).message).toMatch(/line 3 is longer than 1 MiB/);
    const noNewline = `${HEADER}\n1,a,winter,20,,0\n${"y".repeat(1.1 * 1024 * 1024)}`;
    expect((await inputError("huge-eof.csv", noNewline)).message).toMatch(/line 3 is longer than 1 MiB/);
    const quoted = `${HEADER}\n1,"${"z".repeat(1.1 * 1024 * 1024)}\nmore",winter,20,,0\n`;
    expect((await inputError("huge-quoted.csv", quoted)).message).toMatch(/line 2 is longer than 1 MiB/);
    const header = `${"h".repeat(1.1 * 1024 * 1024)},id\n1,2\n`;
    expect((await inputError("huge-header.csv", header)).message).toMatch(/line 1 is longer than 1 MiB/);
  });

  it("duplicate header names: names both positions", async () => {
    const e = await inputError("dup.csv", "id,ta,city,TA,tsv\n1,20,a,21,0\n");
    expect(e.message).toMatch(/line 1: duplicate column name "TA" in the header \(columns 2 and 4\)/);
    const aliases = await inputError("dup-alias.csv", "id,temperatura_ar,air_temperature,tsv\n1,20,21,0\n");
    expect(aliases.message).toMatch(/"temperatura_ar" \(column 2\) and "air_temperature" \(column 3\) both match config column "ta"/);
  });

  it("a .gz file that is not gzip, and a truncated gzip", async () => {
    const notGzip = await inputError("data.csv.gz", `${HEADER}\n1,a,winter,20,,0\n`);
    expect(notGzip.message).toMatch(/the name ends in \.gz but the file is not gzip data \(starts with bytes 69 64 2c 63/);
    const full = gzipSync(`${HEADER}\n` + "1,a,winter,20,,0\n".repeat(1000));
    const truncated = await inputError("cut.csv.gz", full.subarray(0, Math.floor(full.length / 2)));
    expect(truncated.message).toMatch(/gzip data is truncated or corrupt \(unexpected end of file\)/);
    const corrupt = Buffer.from(full);
    corrupt.fill(0xaa, 10, 40);
    expect((await inputError("corrupt.csv.gz", corrupt)).message).toMatch(/gzip data is truncated or corrupt/);
  });

  it("a file that does not exist, or a directory", async () => {
    const missing = await readDataset("/nonexistent/data.csv", smallDataset()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(InputError);
    expect((missing as InputError).message).toBe("/nonexistent/data.csv: cannot read data (file not found)");
    const dir = await readDataset("/tmp", smallDataset()).catch((e: unknown) => e);
    expect((dir as InputError).message).toMatch(/^\/tmp: cannot read data \(it is a directory\)/);
  });
});
