import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { PROJECT_ROOT } from "./cli.js";
import { BUNDLE_OPTIONS } from "../../scripts/build-actions.mjs";

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Bundles actions/<step>/index.ts the way `npm run build:actions` does, into a temp dir. */
export async function bundleAction(step: string): Promise<string> {
  const outdir = await mkdtemp(join(tmpdir(), `action-${step}-`));
  const outfile = join(outdir, "index.js");
  await build({ ...BUNDLE_OPTIONS, entryPoints: [join(PROJECT_ROOT, "actions", step, "index.ts")], outfile, logLevel: "error" });
  return outfile;
}

/** GITHUB_OUTPUT uses `name<<DELIM\nvalue\nDELIM` blocks (see @actions/core file commands). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (m) {
      const [, name, delim] = m;
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i]!);
      out[name!] = value.join("\n");
    } else if (lines[i]!.includes("=")) {
      const [name, ...rest] = lines[i]!.split("=");
      out[name!] = rest.join("=");
    }
  }
  return out;
}

/**
 * Runs a bundled action as the runner does: inputs as INPUT_<NAME> (upper-cased, spaces to
 * underscores), file commands through GITHUB_OUTPUT / GITHUB_STEP_SUMMARY, the workspace as cwd.
 */
export async function runAction(
  bundle: string,
  inputs: Record<string, string>,
  options: { workspace: string; env?: NodeJS.ProcessEnv; event?: unknown },
): Promise<ActionRun> {
  const dir = await mkdtemp(join(tmpdir(), "runner-"));
  const outputFile = join(dir, "output");
  const summaryFile = join(dir, "summary");
  const eventFile = join(dir, "event.json");
  await writeFile(outputFile, "");
  await writeFile(summaryFile, "");
  await writeFile(eventFile, JSON.stringify(options.event ?? {}));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_ACTIONS: "true",
    CI: "true",
    GITHUB_WORKSPACE: options.workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_REPOSITORY: "acme/thermal-comfort",
    GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
    RUNNER_TEMP: dir,
    ...options.env,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, "_").toUpperCase()}`] = v;
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bundle], { cwd: options.workspace, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return {
    ...result,
    outputs: parseOutputFile(await readFile(outputFile, "utf8")),
    summary: await readFile(summaryFile, "utf8"),
  };
}
