import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { EnvironmentConfig } from "../config/schema.js";
import { UsageError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { freePort, runImage } from "../image/run.js";
import { toolAvailable } from "../image/tools.js";
import type { Clock } from "./clock.js";
import type { DeployModel } from "./model-ref.js";
import type { DeployResult } from "./result.js";
import { smokeTest, type SmokeCase } from "./smoke.js";

/**
 * The `local` target: the built image run with buildah (pipeline/image/run.ts), or, without buildah
 * or without an image, the server as a child process, on a free 127.0.0.1 port, with the same smoke
 * test as a Cloud Run revision.
 */

export interface LocalDeployInput {
  environmentName: string;
  environment: EnvironmentConfig;
  root: string;
  model: DeployModel;
  image?: string;
  smokeCases: SmokeCase[];
  fetch: typeof fetch;
  clock: Clock;
  reporter: Reporter;
  /**
   * How to start the CLI (the server runs as `<command> serve --model M --port N`). Default: the
   * built `dist/cli/main.js`, else the TypeScript source through tsx.
   */
  cliCommand?: string[];
  /** Force the process even when buildah and an image are available. */
  forceProcess?: boolean;
}

export interface LocalDeployment {
  result: DeployResult;
  /** Stops the server (idempotent). */
  stop(): Promise<void>;
}

function defaultCli(root: string): string[] {
  const built = join(root, "dist/cli/main.js");
  if (existsSync(built)) return [process.execPath, built];
  const tsx = join(root, "node_modules/tsx/dist/loader.mjs");
  if (existsSync(tsx)) return [process.execPath, "--import", pathToFileURL(tsx).href, join(root, "cli/main.ts")];
  throw new UsageError("the local target needs the CLI: run `npm run build` first");
}


interface RunningServer {
  url: string;
  how: string;
  stop(): Promise<void>;
  /** Resolves with a reason if the server dies. */
  exited: Promise<string>;
}

async function startImage(image: string, port: number): Promise<RunningServer> {
  const handle = await runImage({ reference: image, port, env: { PORT: String(port) }, waitFor: "/health" });
  return { url: handle.url, how: `image ${image} (buildah run, container ${handle.container})`, stop: () => handle.stop(), exited: new Promise<string>(() => {}) };
}

function startProcess(cli: string[], root: string, model: DeployModel, port: number, environmentName: string): RunningServer {
  const [command, ...prefix] = cli;
  const child: ChildProcess = spawn(command!, [...prefix, "serve", "--model", model.path, "--port", String(port), "--host", "127.0.0.1"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), K_SERVICE: `local-${environmentName}`, K_REVISION: `local-${process.pid}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-2000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<string>((resolve) => {
    child.on("exit", (code, signal) => resolve(`the server exited (${signal ?? `code ${code}`}): ${tail.trim().split("\n").slice(-5).join(" | ")}`));
    child.on("error", (error) => resolve(`the server did not start: ${error.message}`));
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  return { url: `http://127.0.0.1:${port}`, how: `process ${cli.map((c) => c.split("/").at(-1)).join(" ")} serve (pid ${child.pid})`, stop, exited };
}

export async function deployLocal(input: LocalDeployInput): Promise<LocalDeployment> {
  const { clock, reporter } = input;
  const startedAt = clock.now();
  const port = await freePort();
  let server: RunningServer | null = null;
  if (input.image && !input.forceProcess && (await toolAvailable("buildah"))) server = await startImage(input.image, port);
  if (!server) {
    if (input.image && !input.forceProcess) reporter.info(`local: buildah is not installed; running the server as a process instead of ${input.image}`);
    server = startProcess(input.cliCommand ?? defaultCli(input.root), input.root, input.model, port, input.environmentName);
  }
  reporter.info(`local: ${server.how} on ${server.url}`);
  const abort = new AbortController();
  const died = server.exited.then((reason) => {
    abort.abort();
    return { died: reason };
  });
  const smoke = await Promise.race([
    smokeTest({ url: server.url, settings: input.environment.smoke, cases: input.smokeCases, expectedVersion: String(input.model.version), expectedContentSha256: input.model.contentSha256, fetch: input.fetch, clock, reporter, signal: abort.signal }),
    died,
  ]);
  const stop = server.stop;
  const base = {
    environment: input.environmentName,
    target: "local" as const,
    model: { name: input.model.name, version: input.model.version, contentSha256: input.model.contentSha256 },
    image: input.image ?? "",
    revision: server.how,
    serviceUrl: server.url,
    tagUrl: server.url,
    tag: "local",
    firstDeploy: true,
    previousSplit: null,
    finalSplit: [],
    steps: [],
    apiRetries: 0,
  };
  if ("died" in smoke) {
    await stop();
    return { result: { ...base, outcome: "failed", reason: smoke.died, smoke: null, timings: { startedAt, failedAt: clock.now(), finishedAt: clock.now() } }, stop };
  }
  if (!smoke.passed) {
    await stop();
    return { result: { ...base, outcome: "failed", reason: smoke.reason, smoke, timings: { startedAt, failedAt: clock.now(), finishedAt: clock.now() } }, stop };
  }
  return { result: { ...base, outcome: "deployed", smoke, timings: { startedAt, fullTrafficAt: clock.now(), finishedAt: clock.now() } }, stop };
}

