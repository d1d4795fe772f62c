// Bundles each actions/<step>/index.ts into actions/<step>/dist/index.js for the runner's node24
// (one self-contained ESM file: the runner does not run npm install for an action). The bundles are
// committed so that `uses: OWNER/REPO/actions/<step>@v1` works from any repository.
//   node scripts/build-actions.mjs            rebuild every bundle in place
//   node scripts/build-actions.mjs --check    rebuild into a temporary folder and fail (exit 1),
//                                             naming each bundle that differs from the committed one
import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { build } from "esbuild";

/**
 * Two modules every action would load and none uses, dropped from the bundles because parsing them is
 * most of an action's cold start (issue: ≤ 300 ms):
 * - `@actions/http-client` (with undici, ~550 KB) is imported by @actions/core only for
 *   `core.getIDToken()`. No action calls it: the deploy step requests the OIDC token itself
 *   (pipeline/deploy/auth.ts). The stub throws if that ever changes, naming this file.
 * - zod's translated error messages (~300 KB of locales): zod imports all of them for `z.locales`;
 *   the pipeline uses the English default only, which is kept.
 */
const slimBundle = {
  name: "slim-bundle",
  setup(b) {
    b.onResolve({ filter: /^@actions\/http-client(\/lib\/auth)?$/ }, (args) => ({ path: args.path, namespace: "no-http-client" }));
    b.onLoad({ filter: /.*/, namespace: "no-http-client" }, () => ({
      contents: `const why = () => { throw new Error("@actions/http-client is not bundled (scripts/build-actions.mjs): core.getIDToken() is unavailable in these actions"); };
export class HttpClient { constructor() { why(); } }
export class BearerCredentialHandler { constructor() { why(); } }`,
      loader: "js",
    }));
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => (args.importer.includes(`${"node_modules"}/zod/`) ? { path: args.path, namespace: "zod-locales-en", pluginData: args.resolveDir } : undefined));
    b.onLoad({ filter: /.*/, namespace: "zod-locales-en" }, (args) => ({ contents: `export { default as en } from "./en.js";`, resolveDir: join(args.pluginData, "..", "locales"), loader: "js" }));
  },
};

export const BUNDLE_OPTIONS = {
  plugins: [slimBundle],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // Whitespace only: the committed bundle stays readable in a diff, and a third of the size.
  minifyWhitespace: true,
  legalComments: "none",
  // Some CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning",
};

export async function actionSteps(root = ".") {
  const steps = [];
  for (const name of (await readdir(join(root, "actions"))).sort()) {
    const entry = join(root, "actions", name, "index.ts");
    if (await stat(entry).then(() => true, () => false)) steps.push({ name, entry });
  }
  return steps;
}

/**
 * Worker-thread entries (pipeline/train/*-worker.ts) start from a file next to the code that spawns
 * them (`new URL("./forest-worker.js", import.meta.url)`), so an action that trains ships them beside
 * its index.js.
 */
async function workerEntries(root) {
  const dir = join(root, "pipeline", "train");
  const files = await readdir(dir).catch(() => []);
  return files.filter((f) => f.endsWith("-worker.ts")).sort().map((f) => join(dir, f));
}
const TRAINING_ACTIONS = new Set(["train"]);

export async function buildBundles(root = ".", outRoot = root) {
  const steps = await actionSteps(root);
  const workers = await workerEntries(root);
  await Promise.all(
    steps.flatMap(({ name, entry }) => {
      const outdir = join(outRoot, "actions", name, "dist");
      const absWorkingDir = join(process.cwd(), root);
      const builds = [build({ ...BUNDLE_OPTIONS, absWorkingDir, entryPoints: [entry], outfile: join(outdir, "index.js") })];
      if (TRAINING_ACTIONS.has(name)) {
        for (const w of workers) builds.push(build({ ...BUNDLE_OPTIONS, absWorkingDir, entryPoints: [w], outfile: join(outdir, basename(w).replace(/\.ts$/, ".js")) }));
      }
      return builds;
    }),
  );
  return steps.map((s) => s.name);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes("--check")) {
    const out = await mkdtemp(join(tmpdir(), "bundles-"));
    const names = await buildBundles(".", out);
    const stale = [];
    for (const name of names) {
      const files = new Set([...(await readdir(join(out, "actions", name, "dist"))), ...(await readdir(join("actions", name, "dist")).catch(() => []))]);
      for (const file of [...files].sort()) {
        const fresh = await readFile(join(out, "actions", name, "dist", file)).catch(() => null);
        const committed = await readFile(join("actions", name, "dist", file)).catch(() => null);
        if (!fresh) stale.push(`actions/${name}/dist/${file} (no longer built)`);
        else if (!committed || !committed.equals(fresh)) stale.push(`actions/${name}/dist/${file}${committed ? "" : " (missing)"}`);
      }
    }
    if (stale.length) {
      console.error(`out of date with their sources (run npm run build:actions and commit):\n  ${stale.join("\n  ")}`);
      process.exit(1);
    }
    console.log(`bundles up to date: ${names.join(", ")}`);
  } else {
    const names = await buildBundles();
    console.log(`bundled ${names.length} action(s): ${names.join(", ")}`);
  }
}
