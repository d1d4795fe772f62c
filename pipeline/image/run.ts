import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { InputError, PipelineError } from "../core/errors.js";
import { isLoopbackRegistry, parseImageReference } from "./reference.js";
import { buildah, buildahGlobalArgs, storageFromEnv, type BuildahStorage } from "./tools.js";

/**
 * Runs an image's entrypoint without a container engine daemon: `buildah from` makes a working
 * container, `buildah run --isolation chroot` runs the entrypoint in its root filesystem with the
 * host's network (chroot isolation has no network namespace), so a server inside answers on
 * 127.0.0.1:<port>. This is the `local` deploy target and the image tests' way to run the image.
 */
export interface RunImageInput {
  reference: string;
  /** Port the server listens on (passed as PORT); 0 picks a free one. */
  port: number;
  env?: Record<string, string>;
  /** Image store; default PIPELINE_BUILDAH_ROOT/PIPELINE_BUILDAH_RUNROOT, else buildah's own. */
  storage?: BuildahStorage;
  /** Path polled until it answers 200 before runImage returns; null returns at once. Default "/health". */
  waitFor?: string | null;
  /** How long the server may take to answer waitFor. Default 60 s. */
  startTimeoutMs?: number;
  /** Each line the process writes (stdout and stderr). */
  onLog?: (line: string) => void;
}

export interface RunningImage {
  url: string;
  port: number;
  /** The buildah working container. */
  container: string;
  /** The last lines the process wrote. */
  logs(): string[];
  /** SIGTERM to the server (it drains), SIGKILL after 10 s, then removes the working container. */
  stop(): Promise<void>;
}

const ImageConfigSchema = z
  .object({
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Env: z.array(z.string()).nullish(),
    WorkingDir: z.string().nullish(),
    User: z.string().nullish(),
  })
  .passthrough();

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Children of a process, from /proc (Linux): the tree buildah run starts. */
async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const all: number[] = [];
    for (const task of tasks) {
      const text = await readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "");
      all.push(...text.trim().split(/\s+/).filter(Boolean).map(Number));
    }
    return all;
  } catch {
    return [];
  }
}

/**
 * The entrypoint's process: the top-most descendant that is not buildah's own (buildah →
 * buildah-chroot-runtime → buildah-chroot-exec → the entrypoint). It gets the SIGTERM, so a server
 * that spawned children of its own still drains them itself.
 */
async function entrypointProcesses(pid: number): Promise<number[]> {
  const found: number[] = [];
  let level = await childrenOf(pid);
  while (level.length) {
    const next: number[] = [];
    for (const child of level) {
      const argv0 = (await readFile(`/proc/${child}/cmdline`, "utf8").catch(() => "")).split("\0")[0] ?? "";
      if (/(^|\/)buildah(-chroot-[a-z]+)?$/.test(argv0)) next.push(...(await childrenOf(child)));
      else found.push(child);
    }
    level = next;
  }
  return found;
}

export async function runImage(input: RunImageInput): Promise<RunningImage> {
  // The same store build-image used (PIPELINE_BUILDAH_ROOT/RUNROOT) unless the caller names one.
  const storage = input.storage ?? storageFromEnv();
  const port = input.port === 0 ? await freePort() : input.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InputError(`port: expected 1-65535 or 0, got ${input.port}`);
  const registry = (() => {
    try {
      return parseImageReference(input.reference.split("@")[0]!).registry;
    } catch {
      return null;
    }
  })();
  const container = `pipeline-run-${randomBytes(4).toString("hex")}`;
  await buildah(["from", "--quiet", "--pull=false", `--tls-verify=${!isLoopbackRegistry(registry)}`, "--name", container, input.reference], storage);

  let child: ChildProcess;
  let removed = false;
  const removeContainer = async () => {
    if (removed) return;
    removed = true;
    await buildah(["rm", container], storage).catch(() => undefined);
  };
  try {
    // buildah 1.28's --format has no json function: read the whole inspect document.
    const inspected = JSON.parse(await buildah(["inspect", "--type", "container", container], storage)) as { OCIv1?: { config?: unknown } };
    const config = ImageConfigSchema.parse(inspected.OCIv1?.config ?? {});
    const command = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
    if (command.length === 0) throw new InputError(`${input.reference}: the image has no entrypoint or command to run`);
    const env = { ...Object.fromEntries((config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])), ...input.env, PORT: String(port) };
    const args = [...buildahGlobalArgs(storage), "run", "--isolation", "chroot"];
    if (config.User) args.push("--user", config.User);
    if (config.WorkingDir) args.push("--workingdir", config.WorkingDir);
    for (const [k, v] of Object.entries(env)) args.push("--env", `${k}=${v}`);
    args.push(container, "--", ...command);
    // Its own process group: stop() can always reach every process of the tree by this one id.
    child = spawn("buildah", args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  } catch (error) {
    await removeContainer();
    throw error;
  }

  const proc: ChildProcess = child;
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 200) tail.shift();
      input.onLog?.(line);
    }
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  let exited: number | null = null;
  const exit = new Promise<void>((resolve) => {
    proc.on("exit", (code, signal) => {
      exited = code ?? (signal ? 128 : -1);
      resolve();
    });
  });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exited === null && proc.pid) {
        // buildah kills its child outright on SIGTERM; the server itself gets SIGTERM so it drains.
        for (const pid of await entrypointProcesses(proc.pid)) {
          try {
            process.kill(pid, "SIGTERM");
          } catch {
            // exited meanwhile
          }
        }
        const drained = await Promise.race([exit.then(() => true), sleep(10_000).then(() => false)]);
        if (!drained) {
          try {
            process.kill(-proc.pid, "SIGKILL");
          } catch {
            // already gone
          }
          await exit;
        }
      }
      await removeContainer();
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  if (input.waitFor !== null) {
    const path = input.waitFor ?? "/health";
    const deadline = Date.now() + (input.startTimeoutMs ?? 60_000);
    for (;;) {
      if (exited !== null) {
        await stop();
        throw new PipelineError(`${input.reference}: the process exited (status ${exited}) before ${path} answered\n${tail.slice(-20).join("\n")}`, 1);
      }
      const ok = await fetch(url + path, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        await stop();
        throw new PipelineError(`${input.reference}: ${path} did not answer 200 within ${(input.startTimeoutMs ?? 60_000) / 1000} s\n${tail.slice(-20).join("\n")}`, 1);
      }
      await sleep(250);
    }
  }
  return { url, port, container, logs: () => [...tail], stop };
}
