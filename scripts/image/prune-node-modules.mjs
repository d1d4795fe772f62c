// Runs inside the image's build stage, after the compile (exec-form RUN: the base has no shell).
// Removes the build-only packages listed by `pipeline build-image` (typescript, @types) and the
// files that matter only to a compiler or a reader (type declarations, source maps, Markdown),
// keeping licence texts. Usage: node prune-node-modules.mjs BUILD-ONLY.json NODE_MODULES_PARENT
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";

const [listFile, parent] = process.argv.slice(2);
if (!listFile || !parent) {
  console.error("usage: prune-node-modules.mjs BUILD-ONLY.json DIR (DIR holds node_modules)");
  process.exit(2);
}
const buildOnly = JSON.parse(await readFile(listFile, "utf8"));
for (const path of buildOnly) {
  if (!/^node_modules\//.test(path) || path.includes("..")) throw new Error(`${listFile}: not a node_modules path: ${path}`);
  await rm(join(parent, path), { recursive: true, force: true });
}

const droppable = /\.(d\.ts|d\.mts|d\.cts|map|md|markdown|tsbuildinfo)$/i;
const licence = /^(licen[cs]e|copying|notice)/i;
let removed = 0;
async function walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walk(path);
    else if (droppable.test(entry.name) && !licence.test(entry.name)) {
      await rm(path);
      removed++;
    }
  }
}
await walk(join(parent, "node_modules"));
console.log(`pruned ${buildOnly.length} build-only packages and ${removed} declaration/map/doc files`);
