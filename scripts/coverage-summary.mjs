// Turns vitest's coverage/coverage-summary.json into a Markdown table for the job summary:
// the whole tree and the library (pipeline/) on its own, which is held to the coverage target.
import { readFileSync } from "node:fs";
import { relative } from "node:path";

const file = process.argv[2] ?? "coverage/coverage-summary.json";
const summary = JSON.parse(readFileSync(file, "utf8"));
const kinds = ["lines", "statements", "functions", "branches"];
const sum = (entries) => {
  const acc = Object.fromEntries(kinds.map((k) => [k, { covered: 0, total: 0 }]));
  for (const e of entries) {
    for (const k of kinds) {
      acc[k].covered += e[k].covered;
      acc[k].total += e[k].total;
    }
  }
  return acc;
};
const pct = (c) => (c.total === 0 ? "100.0" : ((100 * c.covered) / c.total).toFixed(1));
const files = Object.entries(summary).filter(([k]) => k !== "total");
const library = sum(files.filter(([k]) => relative(process.cwd(), k).startsWith("pipeline/")).map(([, v]) => v));
const rows = [
  ["everything", summary.total],
  ["pipeline/ (the library)", library],
];
console.log("### Test coverage\n\n| scope | lines | statements | functions | branches |\n|---|---:|---:|---:|---:|");
for (const [name, c] of rows) console.log(`| ${name} | ${kinds.map((k) => `${pct(c[k])}%`).join(" | ")} |`);
