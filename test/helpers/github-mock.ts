import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PROJECT_ROOT } from "./cli.js";

/** GitHub's own OpenAPI description of api.github.com, as shipped in the npm package @octokit/openapi. */
export const GITHUB_OPENAPI = join(PROJECT_ROOT, "node_modules/@octokit/openapi/generated/api.github.com.json");
const PRISM = join(PROJECT_ROOT, "node_modules/.bin/prism");

/** The paths the pipeline calls (pulls, labels, comments, reviewers). */
export const PROMOTION_PATHS = [
  "/repos/{owner}/{repo}/pulls",
  "/repos/{owner}/{repo}/pulls/{pull_number}",
  "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
  "/repos/{owner}/{repo}/issues/{issue_number}/labels",
  "/repos/{owner}/{repo}/issues/{issue_number}/comments",
];

/**
 * GitHub's description cut down to `paths` and every component they reference, unchanged. Prism
 * needs 10-40 s to load the full 13 MB file on this machine and about a second for this subset;
 * the operations and schemas it validates against are byte-for-byte GitHub's.
 */
export async function trimmedDescription(paths: string[] = PROMOTION_PATHS): Promise<string> {
  const full = JSON.parse(await readFile(GITHUB_OPENAPI, "utf8")) as { paths: Record<string, unknown>; components: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  const keep: Record<string, Set<string>> = {};
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/")) {
        const [, , section, name] = v.split("/");
        const set = (keep[section!] ??= new Set());
        if (!set.has(name!)) {
          set.add(name!);
          visit(full.components[section!]?.[name!]);
        }
      } else visit(v);
    }
  };
  const selected: Record<string, unknown> = {};
  for (const p of paths) {
    if (!full.paths[p]) throw new Error(`${p} is not in GitHub's OpenAPI description`);
    selected[p] = full.paths[p];
    visit(full.paths[p]);
  }
  const components: Record<string, Record<string, unknown>> = {};
  for (const [section, names] of Object.entries(keep)) {
    components[section] = Object.fromEntries([...names].map((n) => [n, full.components[section]![n]]));
  }
  const dir = await mkdtemp(join(tmpdir(), "github-openapi-"));
  const file = join(dir, "api.github.com.promotion.json");
  // x-webhooks describes events GitHub sends, not requests it accepts: dropped with the other paths.
  await writeFile(file, JSON.stringify({ ...full, "x-webhooks": undefined, paths: selected, components }));
  return file;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface PrismMock {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts Stoplight Prism as a mock of api.github.com on a free loopback port. Prism validates each
 * request (path, method, parameters, body) against the description and answers 422 with an
 * `sl-violations` header when one does not match; otherwise it answers with the description's example.
 *
 * Not started with `--errors`: that flag also turns violations in Prism's own *responses* into
 * 500s, and several of GitHub's examples do not match their schemas (e.g. `requested_teams[].type`
 * is required but missing from the pulls examples), so every list call would fail for reasons that
 * say nothing about our requests.
 */
export async function startPrism(options: { description?: string; timeoutMs?: number } = {}): Promise<PrismMock> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const description = options.description ?? (await trimmedDescription());
  const port = await freePort();
  const child: ChildProcess = spawn(PRISM, ["mock", "-h", "127.0.0.1", "-p", String(port), description], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`prism did not start within ${timeoutMs} ms:\n${log.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes("Prism is listening")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`prism exited with ${code}:\n${log.slice(-2000)}`));
    });
  });
  child.stdout!.removeAllListeners("data");
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.removeAllListeners("exit");
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  body: string;
}

/**
 * A tiny GitHub stand-in for failure behaviour Prism cannot produce: `respond` decides each answer
 * from the request count (e.g. fail twice with 502, then succeed).
 */
export async function startScriptedServer(respond: (n: number, req: RecordedRequest) => { status: number; body: unknown; headers?: Record<string, string> }): Promise<{ url: string; requests: RecordedRequest[]; stop(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const recorded = { method: req.method ?? "", url: req.url ?? "", body };
      requests.push(recorded);
      const answer = respond(requests.length, recorded);
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
