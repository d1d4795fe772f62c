import { freePort } from "../pipeline/image/run.js";
/**
 * Shared pieces of bench/serve.ts and bench/serve-soak.ts: the server run the way the image runs it
 * (dist/ compiled by tsc, plain node with the ENTRYPOINT's flags, no tsx), servers on free 127.0.0.1 ports, autocannon runs, and
 * resident memory from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OUT = path.join(ROOT, "out/bench/serve");
export const MODEL = "models/thermal-comfort/v1/model.json";
export const RECORD = { ta: 24, tr: 24.5, rh: 45, vel: 0.1, clo: 0.6, met: 1.1, t_out: 20, season: "summer", building_type: "office", cooling_type: "air conditioned" };

export interface Started {
  name: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface LoadResult {
  requests_per_second: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  total: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** CPU milliseconds a process has used, all its threads (utime + stime from /proc). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime (fields 14 and 15 of stat, counted from the state field here) in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU per request of a load run: the server's (all its threads) and this process's, the load generator. */
export interface CpuPerRequest {
  server_us: number;
  load_generator_us: number;
}

/** `load` with what the server and the load generator spent per request while it ran. */
export async function loadWithCpu(url: string, body: string, pid: number, options: { connections: number; seconds: number }): Promise<LoadResult & { cpu: CpuPerRequest }> {
  const server0 = await cpuMs(pid);
  const client0 = process.cpuUsage();
  const r = await load(url, body, options);
  const client = process.cpuUsage(client0);
  const server = (await cpuMs(pid)) - server0;
  return { ...r, cpu: { server_us: (server * 1000) / r.total, load_generator_us: (client.user + client.system) / r.total } };
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});


/**
 * The server as the image runs it: `npm run build` (tsc, dist/ as the Dockerfile compiles it) and the
 * node flags of the Dockerfile's ENTRYPOINT. Returns the command line up to `serve`.
 */
export async function buildServer(options: { nodeFlags?: string[] } = {}): Promise<string[]> {
  await mkdir(OUT, { recursive: true });
  const built = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" });
  if (built.status !== 0) throw new Error("npm run build failed");
  return [...(options.nodeFlags ?? (await entrypointNodeFlags())), path.join(ROOT, "dist/cli/main.js")];
}

/** The node flags in the Dockerfile's ENTRYPOINT (exec form), e.g. ["--max-semi-space-size=4"]. */
export async function entrypointNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(path.join(ROOT, "Dockerfile"), "utf8");
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (!line) throw new Error("Dockerfile: no exec-form ENTRYPOINT");
  const argv = JSON.parse(line[1]!) as string[];
  if (argv[0] !== "node") throw new Error(`Dockerfile ENTRYPOINT does not start with node: ${line[1]}`);
  return argv.slice(1, argv.findIndex((a) => a.endsWith("main.js")));
}

/**
 * The environment the Dockerfile's runtime stage sets (its ENV lines, NAME=value form), except PORT:
 * the benchmark picks its own ports.
 */
export async function imageEnv(): Promise<Record<string, string>> {
  const dockerfile = await readFile(path.join(ROOT, "Dockerfile"), "utf8");
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const line of runtime.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const pair of line[1]!.trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new Error(`Dockerfile: ENV ${line[1]}: only the NAME=value form is read`);
      if (pair.slice(0, eq) !== "PORT") env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** A serving config for the benchmark: the project's config, with the rate limit out of the way of one load generator. */
export async function benchConfig(extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(OUT, "pipeline.yaml");
  const serving = { rate_limit: { max: 1_000_000_000, window_seconds: 60 }, ...extra };
  await writeFile(file, `extends: ../../../config/pipeline.yaml\nserving: ${JSON.stringify(serving)}\n`);
  return file;
}

async function waitFor(url: string, child: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before answering ${url}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function track(name: string, child: ChildProcess, url: string): Started {
  children.add(child);
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal === null && code !== null) process.stderr.write(`${name} exited ${code}\n${stderr}\n`);
  });
  return {
    name,
    url,
    child,
    stop: () =>
      new Promise<void>((resolveStop) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
        child.once("exit", () => resolveStop());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
      }),
  };
}

/** `pipeline serve` from dist/ with the image's environment, logs to /dev/null (what a log collector reading stdout costs is not measured). */
export async function startPipelineServer(server: string[], config: string): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, [...server, "serve", "--model", MODEL, "--config", config, "--host", "127.0.0.1", "--port", String(port)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...(await imageEnv()), PIPELINE_QUIET: "1" } });
  const started = track("pipeline serve", child, `http://127.0.0.1:${port}`);
  await waitFor(`${started.url}/ready`, child, "pipeline serve", 120_000);
  return started;
}

/** The ceiling: node:http that reads and parses the body and answers a fixed JSON. */
export async function startCeilingServer(): Promise<Started> {
  const port = await freePort();
  const code = `
    const http = require("node:http");
    const answer = JSON.stringify({ class: "neutral", probabilities: { cool: 0.25, neutral: 0.5, warm: 0.25 }, confidence: 0.5, model_version: "1" });
    http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        try { JSON.parse(body || "{}"); } catch { res.writeHead(400); return res.end(); }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(answer);
      });
    }).listen(${port}, "127.0.0.1");`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "ignore", "pipe"] });
  const started = track("node:http ceiling", child, `http://127.0.0.1:${port}`);
  await waitFor(`${started.url}/health`, child, "ceiling", 30_000);
  return started;
}

/** The floor (bench/serve-floor.ts, from dist/ as `buildServer` compiled it): node:http and the forest, nothing else. */
export async function startFloorServer(model: string): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "dist/bench/serve-floor.js"), path.join(ROOT, model), String(port)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  const started = track("floor", child, `http://127.0.0.1:${port}`);
  await waitFor(`${started.url}/health`, child, "floor", 60_000);
  return started;
}

/** Parameters for the scikit-learn twin of the production forest (read from the artifact itself). */
export async function sklearnParams(): Promise<string> {
  const model = JSON.parse(await readFile(path.join(ROOT, MODEL), "utf8"));
  const p = model.model.params;
  const categories: Record<string, string[]> = {};
  for (const f of model.features) if (f.type === "category") categories[f.name] = f.categories;
  const params = {
    features: model.features.map((f: { name: string }) => f.name),
    categories,
    label: model.label.column,
    cool_below: model.label.binning.cool_below,
    warm_above: model.label.binning.warm_above,
    n_trees: p.n_trees,
    max_depth: p.max_depth,
    min_samples_leaf: p.min_samples_leaf,
    max_samples: p.max_samples,
    class_weight: p.class_weight === "none" ? null : p.class_weight,
  };
  const file = path.join(OUT, "sklearn-params.json");
  await mkdir(OUT, { recursive: true });
  await writeFile(file, JSON.stringify(params));
  return file;
}

export async function startFastApiServer(python: string, csv: string, params: string): Promise<Started> {
  const port = await freePort();
  const child = spawn(python, [path.join(ROOT, "bench/serve_fastapi.py"), "serve", csv, params, String(port)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  const started = track("FastAPI + scikit-learn", child, `http://127.0.0.1:${port}`);
  await waitFor(`${started.url}/health`, child, "FastAPI", 300_000);
  return started;
}

export async function load(url: string, body: string, options: { connections: number; seconds: number; overallRate?: number }): Promise<LoadResult> {
  const r = await autocannon({
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections: options.connections,
    duration: options.seconds,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    timeout: 30,
  });
  return {
    requests_per_second: r.requests.average,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    total: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
  };
}

/** Resident set size of a process in MB (VmRSS), what a container's memory limit counts. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

export function machine(): string {
  const [a, b, c] = os.loadavg();
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), load average ${a!.toFixed(2)} ${b!.toFixed(2)} ${c!.toFixed(2)}, node ${process.version}`;
}

export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
