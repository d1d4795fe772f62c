import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The entry of a worker module beside `moduleUrl` (`name` without extension). From compiled JS it is
 * name.js. Under tsx/vitest the calling module is the .ts source: the worker then starts from a tiny
 * ESM bootstrap that registers tsx's loader in the worker thread before importing name.ts
 * (`--import tsx` in a worker's execArgv does not reach the worker's own module loading on Node 20).
 */
export function workerEntry(moduleUrl: string, name: string): URL {
  if (!moduleUrl.endsWith(".ts")) return new URL(`./${name}.js`, moduleUrl);
  const tsxRoot = path.dirname(createRequire(moduleUrl).resolve("tsx/package.json"));
  const tsxApi = pathToFileURL(path.join(tsxRoot, "dist", "esm", "api", "index.mjs")).href;
  const entry = new URL(`./${name}.ts`, moduleUrl).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsxApi)};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}
