import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./run.js";
import { toolAvailable } from "./tools.js";

/**
 * The Debian `docker-registry` (CNCF distribution 2.8) on 127.0.0.1 and a free port, storing under
 * a directory: a real registry for the image tests, the benchmark and a local loop, spoken to over
 * plain HTTP (build-image and runImage skip TLS verification for loopback registries only).
 */
export interface LocalRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  stop(): Promise<void>;
}

/** The image tests and benchmark need these Debian packages (.ci/run installs them). */
export async function missingImageTools(): Promise<string[]> {
  const checks: Array<[string, string[]]> = [
    ["buildah", ["--version"]],
    ["skopeo", ["--version"]],
    ["docker-registry", ["--version"]],
  ];
  const missing: string[] = [];
  for (const [tool, args] of checks) if (!(await toolAvailable(tool, args))) missing.push(tool);
  return missing;
}

export async function startRegistry(dir: string): Promise<LocalRegistry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await mkdir(join(dir, "data"), { recursive: true });
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:", `    rootdirectory: ${join(dir, "data")}`, "  delete:", "    enabled: true", "http:", `  addr: ${host}`, ""].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
  let exited = false;
  child.on("exit", () => (exited = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry did not answer on ${host}:\n${log}`);
    }
    await sleep(100);
  }
  return {
    host,
    stop: async () => {
      if (exited) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([gone, sleep(5000).then(() => child.kill("SIGKILL"))]);
    },
  };
}
