// Bundles each actions/<step>/index.ts into actions/<step>/dist/index.js for the runner's node24
// (one self-contained ESM file: the runner does not run npm install for an action).
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

const steps = [];
for (const name of await readdir("actions")) {
  const entry = join("actions", name, "index.ts");
  if (await stat(entry).then(() => true, () => false)) steps.push({ name, entry });
}
await Promise.all(
  steps.map(({ name, entry }) =>
    build({
      entryPoints: [entry],
      outfile: join("actions", name, "dist", "index.js"),
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      // Some CommonJS dependencies call require(); give the ESM bundle one.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: "warning",
    }),
  ),
);
console.log(`bundled ${steps.length} action(s): ${steps.map((s) => s.name).join(", ")}`);
