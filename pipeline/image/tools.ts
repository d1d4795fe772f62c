import { spawn } from "node:child_process";
import { PipelineError } from "../core/errors.js";

/**
 * The container tools (buildah, docker) are real binaries, spawned with argument arrays (never a
 * shell). Their output is streamed to a line callback, because a cold build runs for minutes and
 * a silent step looks hung in CI logs.
 */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with every line of stderr and stdout (progress); stdout is still collected. */
  onLine?: (line: string) => void;
  timeoutMs?: number;
  /** How a failure names the step, e.g. "buildah bud" (default the command). */
  what?: string;
}

export function runTool(command: string, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const lines = (chunk: string, carry: { rest: string }) => {
      if (!options.onLine) return;
      const parts = (carry.rest + chunk).split("\n");
      carry.rest = parts.pop() ?? "";
      for (const line of parts) if (line.trim()) options.onLine(line);
    };
    const outCarry = { rest: "" };
    const errCarry = { rest: "" };
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      lines(d, outCarry);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      lines(d, errCarry);
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          child.kill("SIGKILL");
        }, options.timeoutMs)
      : null;
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(new PipelineError(error.code === "ENOENT" ? `${command} is not installed (not found on PATH)` : `cannot run ${command}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      for (const carry of [outCarry, errCarry]) if (carry.rest.trim()) options.onLine?.(carry.rest);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
  });
}

/** Runs a tool and fails with its exit code and the tail of its stderr (where it says why). */
export async function runToolChecked(command: string, args: string[], options: ToolOptions = {}): Promise<string> {
  const result = await runTool(command, args, options);
  if (result.code !== 0) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-15).join("\n");
    throw new PipelineError(`${options.what ?? command} failed (exit ${result.code}):\n${tail}`, 1);
  }
  return result.stdout;
}

/** Where buildah keeps images. vfs works without fuse or overlay support (containers, CI, this machine). */
export interface BuildahStorage {
  /** Storage root (default buildah's own: /var/lib/containers/storage for root). */
  root?: string;
  /** Run root for locks and mounts. */
  runroot?: string;
}

export function buildahGlobalArgs(storage: BuildahStorage = {}): string[] {
  const args = ["--storage-driver", "vfs"];
  if (storage.root) args.push("--root", storage.root);
  if (storage.runroot) args.push("--runroot", storage.runroot);
  return args;
}

export function buildah(args: string[], storage: BuildahStorage = {}, options: ToolOptions = {}): Promise<string> {
  return runToolChecked("buildah", [...buildahGlobalArgs(storage), ...args], { what: `buildah ${args[0]}`, ...options });
}

/** Storage from the environment, so the CLI, the local deploy target and tests can share one store. */
export function storageFromEnv(env: NodeJS.ProcessEnv = process.env): BuildahStorage {
  return { root: env.PIPELINE_BUILDAH_ROOT || undefined, runroot: env.PIPELINE_BUILDAH_RUNROOT || undefined };
}

/** `docker info` succeeds only when an engine answers (the CLI alone is not enough). */
export async function dockerEngineAvailable(): Promise<boolean> {
  try {
    const r = await runTool("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 20_000 });
    return r.code === 0 && r.stdout.trim() !== "";
  } catch {
    return false;
  }
}

export async function toolAvailable(command: string, versionArgs: string[] = ["--version"]): Promise<boolean> {
  try {
    return (await runTool(command, versionArgs, { timeoutMs: 20_000 })).code === 0;
  } catch {
    return false;
  }
}
