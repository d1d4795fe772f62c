import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { startPrism, trimmedDescription, type PrismMock } from "./github-mock.js";

/** The Actions operations the monitoring routes call (workflow_dispatch, run list, repository_dispatch). */
export const ACTIONS_PATHS = [
  "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
  "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
  "/repos/{owner}/{repo}/dispatches",
];

export interface SeenRequest {
  method: string;
  path: string;
  body: unknown;
  /** What Prism answered before the stand-in filled in its state. */
  prismStatus: number;
  /** Prism's request violations (sl-violations header, or the problem+json of its 422): must stay empty. */
  violations: unknown[];
}

export interface StandInRun {
  id: number;
  workflow_id: string;
  status: "queued" | "in_progress" | "completed";
  conclusion: string | null;
  created_at: string;
  inputs: Record<string, unknown>;
  ref: string;
}

export interface ActionsStandIn {
  /** Base URL for Octokit (GITHUB_API_URL). */
  url: string;
  requests: SeenRequest[];
  runs: StandInRun[];
  repositoryDispatches: { event_type: string; client_payload: unknown }[];
  /** Moves a run to completed, as GitHub does when it finishes. */
  complete(id: number, conclusion?: string): void;
  stop(): Promise<void>;
}

/**
 * GitHub's Actions API for the monitoring tests: Prism, serving GitHub's own OpenAPI description of
 * these paths, validates every request (path, method, parameters, body) and produces the response
 * shape; in front of it a small proxy keeps what Prism cannot — state. A dispatch that Prism accepts
 * creates a queued run, and the run list answers with those runs (built from the description's own
 * example run, with id, status, conclusion, times and URL of the stand-in's run), so "a run is
 * queued" and "no run is active" both happen the way they do on GitHub. A request Prism refuses
 * (422 with violations) is passed through unchanged, so the client under test sees the failure.
 *
 * The accept header is rewritten to application/json on the way to Prism: the description lists
 * only that media type, and Prism's content negotiation would refuse GitHub's vnd.github type.
 */
export async function startActionsStandIn(options: { prism?: PrismMock } = {}): Promise<ActionsStandIn> {
  const description = await trimmedDescription(ACTIONS_PATHS);
  const spec = JSON.parse(await readFile(description, "utf8")) as { components: { examples: Record<string, { value: { workflow_runs: Record<string, unknown>[] } }> } };
  const template = spec.components.examples["workflow-run-paginated"]!.value.workflow_runs[0]!;
  const prism = options.prism ?? (await startPrism({ description }));
  const ownPrism = !options.prism;
  const requests: SeenRequest[] = [];
  const runs: StandInRun[] = [];
  const repositoryDispatches: ActionsStandIn["repositoryDispatches"] = [];
  let nextId = 7001;

  const runJson = (run: StandInRun, owner: string, repo: string) => ({
    ...template,
    id: run.id,
    run_number: run.id - 7000,
    status: run.status,
    conclusion: run.conclusion,
    event: "workflow_dispatch",
    head_branch: run.ref,
    created_at: run.created_at,
    updated_at: run.created_at,
    run_started_at: run.created_at,
    path: `.github/workflows/${run.workflow_id}`,
    display_title: "train",
    name: "train",
    html_url: `https://github.com/${owner}/${repo}/actions/runs/${run.id}`,
    url: `https://api.github.com/repos/${owner}/${repo}/actions/runs/${run.id}`,
  });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      void (async () => {
        const raw = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
        headers.accept = "application/json";
        const upstream = await fetch(prism.url + (req.url ?? "/"), { method: req.method, headers, ...(raw.length ? { body: raw } : {}) });
        const text = await upstream.text();
        const violationsHeader = upstream.headers.get("sl-violations");
        let violations: unknown[] = violationsHeader ? (JSON.parse(violationsHeader) as { location: string[] }[]).filter((v) => v.location[0] === "request") : [];
        // Where the description has no 422 of its own, Prism answers a problem+json listing the violations.
        if (upstream.status === 422 && (upstream.headers.get("content-type") ?? "").includes("problem+json")) {
          violations = [...violations, ...((JSON.parse(text) as { validation?: unknown[] }).validation ?? [])];
        }
        const url = new URL(req.url ?? "/", "http://stand-in");
        let body: unknown;
        try {
          body = raw.length ? JSON.parse(raw.toString("utf8")) : null;
        } catch {
          body = raw.toString("utf8");
        }
        requests.push({ method: req.method ?? "", path: url.pathname, body, prismStatus: upstream.status, violations });
        const pass = () => {
          res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
          res.end(text);
        };
        if (upstream.status >= 400 || violations.length) return pass();
        const send = (status: number, json?: unknown) => {
          res.writeHead(status, json === undefined ? {} : { "content-type": "application/json" });
          res.end(json === undefined ? undefined : JSON.stringify(json));
        };
        let m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/workflows\/([^/]+)\/dispatches$/.exec(url.pathname);
        if (m && req.method === "POST") {
          const b = body as { ref: string; inputs?: Record<string, unknown>; return_run_details?: boolean };
          const run: StandInRun = { id: nextId++, workflow_id: decodeURIComponent(m[3]!), status: "queued", conclusion: null, created_at: new Date().toISOString().replace(/\.\d+Z$/, "Z"), inputs: b.inputs ?? {}, ref: b.ref };
          runs.push(run);
          if (!b.return_run_details) return send(204);
          const answer = JSON.parse(text) as Record<string, unknown>;
          return send(200, { ...answer, workflow_run_id: run.id, run_url: runJson(run, m[1]!, m[2]!).url, html_url: runJson(run, m[1]!, m[2]!).html_url });
        }
        m = /^\/repos\/([^/]+)\/([^/]+)\/actions\/workflows\/([^/]+)\/runs$/.exec(url.pathname);
        if (m && req.method === "GET") {
          const workflow = decodeURIComponent(m[3]!);
          const perPage = Number(url.searchParams.get("per_page") ?? 30);
          const mine = runs.filter((r) => r.workflow_id === workflow).reverse();
          const answer = JSON.parse(text) as Record<string, unknown>;
          return send(200, { ...answer, total_count: mine.length, workflow_runs: mine.slice(0, perPage).map((r) => runJson(r, m![1]!, m![2]!)) });
        }
        m = /^\/repos\/([^/]+)\/([^/]+)\/dispatches$/.exec(url.pathname);
        if (m && req.method === "POST") {
          const b = body as { event_type: string; client_payload?: unknown };
          repositoryDispatches.push({ event_type: b.event_type, client_payload: b.client_payload ?? null });
          return send(204);
        }
        return pass();
      })().catch((error: Error) => {
        res.writeHead(599, { "content-type": "text/plain" });
        res.end(`stand-in failure: ${error.message}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    runs,
    repositoryDispatches,
    complete(id, conclusion = "success") {
      const run = runs.find((r) => r.id === id);
      if (!run) throw new Error(`no run ${id}`);
      run.status = "completed";
      run.conclusion = conclusion;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownPrism) await prism.stop();
    },
  };
}
