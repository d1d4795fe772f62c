// Prints the README's table of every action's inputs and outputs from the action.yml files, so the
// documentation is generated from what the runner reads (test/workflows.test.ts checks the README).
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";

const rows = [];
for (const name of (await readdir("actions")).sort()) {
  const file = join("actions", name, "action.yml");
  if (!(await stat(file).then(() => true, () => false))) continue;
  const action = parse(await readFile(file, "utf8"));
  const inputs = Object.entries(action.inputs ?? {}).map(([k, v]) => `\`${k}\`${v.required ? " (required)" : v.default !== undefined && v.default !== "" ? ` = \`${String(v.default).replace(/\|/g, "\\|")}\`` : ""}`);
  const outputs = Object.keys(action.outputs ?? {}).map((k) => `\`${k}\``);
  rows.push(`| \`${name}\` | ${action.description?.split(". ")[0].replace(/\|/g, "\\|") ?? ""} | ${inputs.join(", ")} | ${outputs.join(", ")} |`);
}
console.log("| action | what | inputs (default) | outputs |\n|---|---|---|---|\n" + rows.join("\n"));
