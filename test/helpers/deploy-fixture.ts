import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { sha256Hex } from "../../pipeline/core/hash.js";
import { parseModel } from "../../pipeline/model/load.js";
import { compilePredictor } from "../../pipeline/model/predictor.js";
import { parseRegistry, serializeRegistry } from "../../pipeline/registry/store.js";
import { freePort } from "../../pipeline/image/run.js";
import { PROJECT_ROOT, TSX_LOADER } from "./cli.js";

/**
 * A repository root for deploy tests: the project's config with test environments, the committed
 * production model v1 and a second, genuinely different version v2 (the first 60 trees of v1's
 * forest, so its predictions are close but its content hash differs), both in the registry.
 */
export interface DeployRoot {
  root: string;
  v1Path: string;
  v2Path: string;
}

const created: string[] = [];

/** Removes every root made by makeDeployRoot in this process (call in afterAll). */
export async function removeDeployRoots(): Promise<void> {
  await Promise.all(created.splice(0).map((root) => rm(root, { recursive: true, force: true })));
}

export async function makeDeployRoot(environments: Record<string, unknown>, options: { tamperV2?: boolean } = {}): Promise<DeployRoot> {
  const root = await mkdtemp(join(tmpdir(), "deploy-root-"));
  created.push(root);
  const config = parse(await readFile(join(PROJECT_ROOT, "config/pipeline.yaml"), "utf8")) as Record<string, unknown>;
  config.environments = environments;
  await mkdir(join(root, "config"), { recursive: true });
  await writeFile(join(root, "config/pipeline.yaml"), stringify(config));
  const v1Path = join(root, "models/thermal-comfort/v1/model.json");
  const v2Path = join(root, "models/thermal-comfort/v2/model.json");
  await mkdir(join(root, "models/thermal-comfort/v1"), { recursive: true });
  await mkdir(join(root, "models/thermal-comfort/v2"), { recursive: true });
  await copyFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), v1Path);
  const v1 = JSON.parse(await readFile(v1Path, "utf8")) as { model: { trees: unknown[] } };
  const v2 = { ...v1, model: { ...v1.model, trees: v1.model.trees.slice(0, 60) } };
  const v2Text = JSON.stringify(v2);
  await writeFile(v2Path, v2Text);
  const registry = parseRegistry(await readFile(join(PROJECT_ROOT, "models/registry.yaml"), "utf8"));
  const first = registry.models["thermal-comfort"]!.versions[0]!;
  registry.models["thermal-comfort"]!.versions.push({
    ...first,
    version: 2,
    created_at: "2026-11-28T10:00:00.000Z",
    artifact: { path: "models/thermal-comfort/v2/model.json", sha256: sha256Hex(v2Text) },
    tags: ["validated"],
    deployments: [],
  });
  await writeFile(join(root, "models/registry.yaml"), serializeRegistry(registry));
  // A model file changed after registration: the server refuses to be ready with it.
  if (options.tamperV2) await writeFile(v2Path, v2Text + "\n");
  return { root, v1Path, v2Path };
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** The project's real server (`pipeline serve` from source) on a free 127.0.0.1 port. */
export async function startServe(root: string, model: string, options: { waitReady?: boolean } = {}): Promise<RunningServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", TSX_LOADER, join(PROJECT_ROOT, "cli/main.ts"), "serve", "--model", model, "--port", String(port), "--host", "127.0.0.1"], {
    cwd: root,
    env: { ...process.env, PIPELINE_QUIET: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + 90_000;
  const path = options.waitReady === false ? "/health" : "/ready";
  while (true) {
    if (child.exitCode !== null) throw new Error(`pipeline serve exited (${child.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${url}${path}`);
      await r.arrayBuffer();
      if (r.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pipeline serve did not answer ${path} within 90 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A fault-injecting proxy in front of a real server (a test helper, not part of the product): after
 * `healthyPredicts` predictions it answers every POST /predict with 500 itself, and adds what it
 * injected to the server's /metrics counters, the way the platform's request metrics would count them.
 */
export async function faultProxy(upstream: string, healthyPredicts: number): Promise<RunningServer & { injected(): number }> {
  let predicts = 0;
  let injected = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/predict" && ++predicts > healthyPredicts) {
      injected++;
      req.resume();
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "injected fault", type: "internal" } }));
      return;
    }
    if (req.method === "GET" && req.url === "/metrics") {
      void fetch(`${upstream}/metrics`)
        .then((r) => r.text())
        .then((text) => {
          const labels = 'method="POST",route="/predict",status_code="500"';
          const lines = [`http_requests_total{${labels}} ${injected}`];
          for (const le of ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]) lines.push(`http_request_duration_seconds_bucket{le="${le}",${labels}} ${injected}`);
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(text + (injected > 0 ? lines.join("\n") + "\n" : ""));
        });
      return;
    }
    const out = httpRequest(new URL(req.url ?? "/", upstream), { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on("error", () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    injected: () => injected,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * One load row per class on which v1 and v2 agree with some confidence: a canary judged on them
 * compares like with like, so the class-distribution check measures the routing, not the models.
 */
export async function agreeingRows(v1Path: string, v2Path: string): Promise<Array<Record<string, number | string>>> {
  const p1 = compilePredictor(parseModel(await readFile(v1Path, "utf8"), "v1"));
  const p2 = compilePredictor(parseModel(await readFile(v2Path, "utf8"), "v2"));
  const byClass = new Map<number, Record<string, number | string>>();
  for (const season of ["winter", "summer", "spring"]) {
    for (let ta = 12; ta <= 36; ta += 0.5) {
      const row = { ta, tr: ta, rh: 50, vel: 0.1, clo: season === "winter" ? 1.0 : 0.5, met: 1.2, t_out: season === "winter" ? 2 : 25, season, building_type: "office", cooling_type: "air conditioned" };
      const a = p1.predictRecord(row);
      const b = p2.predictRecord(row);
      if (a.classIndex >= 0 && a.classIndex === b.classIndex && a.probabilities![a.classIndex]! > 0.5 && !byClass.has(a.classIndex)) byClass.set(a.classIndex, row);
    }
  }
  return [...byClass.values()];
}

/**
 * Sequential POST /predict on `url` until stopped, request i sending row i mod n. With three rows
 * (one per class) and the stand-in's exact interleaving, every tenth request (a 10% split), every
 * second (50%) and every request (100%) all cycle through the rows, because 3 shares no factor
 * with 10 or 2: each revision's window holds the classes in equal shares (within one), so the class
 * check sees the routing, not the sampling noise of the small windows a short test allows.
 */
export function loadGenerator(url: () => string | undefined, rows: Array<Record<string, unknown>>, intervalMs = 20): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    let i = 0;
    while (running) {
      const base = url();
      if (base) {
        try {
          const row = rows[i++ % rows.length];
          const r = await fetch(`${base}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(row) });
          await r.arrayBuffer();
          sent++;
        } catch {
          // a dropped connection is counted by nobody; keep going
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return sent;
    },
  };
}

export function imageRef(name: string): string {
  return `127.0.0.1:5000/thermal-comfort@sha256:${sha256Hex(name)}`;
}
