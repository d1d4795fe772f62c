import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import { z } from "zod";
import { dashboardRoutes } from "../dashboard.js";
import type { MonitoringConfig } from "./config.js";
import { createDriftAlarm, type DriftAlarm } from "./drift-alarm.js";
import type { Monitor } from "./state.js";
import { isActiveRun, type TrainingWorkflow, type WorkflowRunSummary } from "./training-workflow.js";

export type Role = "viewer" | "admin";

/** What the monitoring endpoints say about the served model. */
export interface MonitoringModelInfo {
  name: string;
  /** Registry version as a string ("1"), null when the model is unverified. */
  version: string | null;
  sha256?: string | null;
  content_sha256: string;
  /** The artifact's own evaluation (`model.json` metrics). */
  metrics: Record<string, unknown>;
}

/** The GitHub side: a workflow client, or null with the reason it is not configured. */
export type GitHubFactory = () => { workflow: TrainingWorkflow | null; reason: string | null };

export interface ErrorReplyInput {
  status: number;
  type: string;
  message: string;
  fields?: { field: string; message: string }[];
  /** Extra top-level members beside `error` (the 409 of run-pipeline carries the run). */
  extra?: Record<string, unknown>;
}

export interface MonitoringRoutesOptions {
  monitor: Monitor;
  model: MonitoringModelInfo | (() => MonitoringModelInfo);
  /**
   * The server's API-key check, one preHandler per role. Without it the viewer routes are open
   * and the admin routes answer 403 (no keys, no admin).
   */
  authorize?: (role: Role) => preHandlerAsyncHookHandler;
  /** Default: GitHub is not configured (run-pipeline answers 503, pipeline-status says why). */
  github?: GitHubFactory;
  /** Default: the monitor's config. */
  config?: MonitoringConfig;
  /** Error replies in the server's envelope; default: `{error:{message,type,timestamp,request_id,fields?}}` built here. */
  sendError?: (request: FastifyRequest, reply: FastifyReply, error: ErrorReplyInput) => FastifyReply;
  /** Register GET /dashboard too (default true). */
  dashboard?: boolean;
  /** A drift alarm to use instead of the one built from `drift_dispatch` (tests drive its checks). */
  driftAlarm?: DriftAlarm;
  now?: () => number;
}

/** How long a dispatched run counts as active while GitHub's run list does not show it yet. */
const DISPATCH_GRACE_MS = 60_000;

const FeedbackBody = z.object({ request_id: z.string().min(1).max(200), actual: z.string().min(1).max(200) }).strict();

const ExternalMetricBody = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "snake_case, starting with a letter, at most 64 characters"),
    value: z.number().finite(),
    source: z.string().min(1).max(200),
    time: z.iso.datetime({ offset: true }).optional(),
    note: z.string().max(500).optional(),
  })
  .strict();

const PredictionsQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.coerce.number().int().min(1).optional(),
  })
  .strict();

const RunPipelineBody = z
  .object({ inputs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/), z.string().max(1000)).optional() })
  .strict();

type Fields = { field: string; message: string }[];

function fieldsOf(error: z.ZodError, root: string): Fields {
  return error.issues.map((i) => ({ field: i.path.length ? i.path.map(String).join(".") : root, message: i.message }));
}

export function defaultSendError(request: FastifyRequest, reply: FastifyReply, e: ErrorReplyInput): FastifyReply {
  return reply.code(e.status).send({
    error: { message: e.message, type: e.type, timestamp: new Date().toISOString(), request_id: request.id, ...(e.fields ? { fields: e.fields } : {}) },
    ...e.extra,
  });
}

/**
 * The monitoring API (and, by default, the dashboard page): live figures, feedback, drift, externally
 * recorded metrics, recent predictions, and the retraining controls that go through GitHub.
 */
export const monitoringRoutes: FastifyPluginAsync<MonitoringRoutesOptions> = async (app: FastifyInstance, options: MonitoringRoutesOptions) => {
  const { monitor } = options;
  const config = options.config ?? monitor.config;
  const now = options.now ?? Date.now;
  const sendError = options.sendError ?? defaultSendError;
  const modelInfo = typeof options.model === "function" ? options.model : () => options.model as MonitoringModelInfo;
  // Buffered JSONL lines are written before the server finishes closing (SIGTERM drain included).
  app.addHook("onClose", async () => monitor.close());
  const github: GitHubFactory = options.github ?? (() => ({ workflow: null, reason: "GitHub is not configured for this server" }));
  const adminDenied: preHandlerAsyncHookHandler = async (request, reply) => {
    sendError(request, reply, { status: 403, type: "forbidden", message: "admin routes need API keys, and this server has none configured" });
  };
  const guard = (role: Role): preHandlerAsyncHookHandler[] => (options.authorize ? [options.authorize(role)] : role === "admin" ? [adminDenied] : []);

  const badRequest = (request: FastifyRequest, reply: FastifyReply, message: string, fields: Fields) => sendError(request, reply, { status: 400, type: "invalid_input", message, fields });

  const gitHubFailure = (request: FastifyRequest, reply: FastifyReply, error: unknown) => {
    const status = (error as { status?: number }).status;
    // Octokit's messages name GitHub's answer and docs link, never the token.
    const message = `GitHub answered ${status ?? "no response"}: ${(error as Error).message.split("\n")[0]}`;
    request.log.warn({ err: { message, status } }, "GitHub call failed");
    return sendError(request, reply, { status: 502, type: "upstream_error", message });
  };

  // --- live figures ---
  app.get("/monitoring/metrics", { preHandler: guard("viewer") }, async () => {
    const model = modelInfo();
    const drift = monitor.drift();
    return {
      model: { name: model.name, version: model.version, sha256: model.sha256 ?? null, content_sha256: model.content_sha256 },
      model_metrics: model.metrics,
      live: monitor.metrics(),
      drift: { verdict: drift.verdict, compared: drift.compared, drifted: drift.drifted, window_rows: drift.window.rows, min_rows: drift.window.min_rows },
    };
  });

  app.post("/monitoring/feedback", { preHandler: guard("viewer") }, async (request, reply) => {
    const parsed = FeedbackBody.safeParse(request.body);
    if (!parsed.success) return badRequest(request, reply, "feedback needs {request_id, actual}", fieldsOf(parsed.error, "(body)"));
    const result = monitor.recordFeedback(parsed.data.request_id, parsed.data.actual);
    switch (result.status) {
      case "unknown_request":
        return sendError(request, reply, { status: 404, type: "not_found", message: `no recent prediction has request_id "${parsed.data.request_id}" (only the latest ${config.feedback.max_pending} are remembered)` });
      case "unknown_class":
        return badRequest(request, reply, `actual must be one of the model's classes`, [{ field: "actual", message: `expected one of ${result.classes.join(", ")}, got "${parsed.data.actual}"` }]);
      case "duplicate":
        return sendError(request, reply, { status: 409, type: "conflict", message: `feedback for "${parsed.data.request_id}" was already recorded (actual "${result.actual}")` });
      case "recorded": {
        const live = monitor.metrics().feedback;
        return reply.code(201).send({ recorded: true, request_id: result.request_id, predicted: result.predicted, actual: result.actual, correct: result.correct, live: { n: live.n, window: live.window, accuracy: live.accuracy, macro_f1: live.macro_f1 } });
      }
    }
  });

  // --- drift ---
  let alarm: DriftAlarm | null = options.driftAlarm ?? null;
  if (!alarm && config.drift_dispatch.enabled) {
    alarm = createDriftAlarm({
      config: config.drift_dispatch,
      drift: () => monitor.drift(),
      now,
      send: async (eventType, payload) => {
        const { workflow, reason } = github();
        if (!workflow) throw new Error(reason ?? "GitHub is not configured");
        await workflow.repositoryDispatch(eventType, payload);
      },
      onError: (error) => app.log.warn({ err: { message: error.message } }, "drift-detected dispatch failed"),
    });
  }
  if (alarm && config.drift_dispatch.enabled) {
    const a = alarm;
    const timer = setInterval(() => void a.check(), config.drift_dispatch.check_seconds * 1000);
    timer.unref();
    app.addHook("onClose", async () => clearInterval(timer));
  }

  app.get("/monitoring/drift", { preHandler: guard("viewer") }, async () => ({ ...monitor.drift(), alarm: alarm?.state() ?? null }));

  // --- externally recorded metrics ---
  app.post("/monitoring/metrics", { preHandler: guard("admin") }, async (request, reply) => {
    const parsed = ExternalMetricBody.safeParse(request.body);
    if (!parsed.success) return badRequest(request, reply, "a metric needs {name, value, source, time?, note?}", fieldsOf(parsed.error, "(body)"));
    const metric = monitor.recordExternalMetric(parsed.data);
    return reply.code(201).send({ recorded: true, metric });
  });

  // --- recent predictions ---
  app.get("/monitoring/predictions", { preHandler: guard("viewer") }, async (request, reply) => {
    const parsed = PredictionsQuery.safeParse(request.query ?? {});
    if (!parsed.success) return badRequest(request, reply, "query: limit (1-500) and before (a sequence number) are the only parameters", fieldsOf(parsed.error, "(query)"));
    return monitor.predictions(parsed.data);
  });

  // --- retraining through GitHub ---
  let inFlight = false;
  let lastDispatch: { at: number; run: { id: number; url: string } | null; url: string } | null = null;
  let statusCache: { at: number; body: unknown } | null = null;

  /** The run that blocks a new dispatch: one GitHub lists as unfinished, or ours if GitHub does not list it yet. */
  const blockingRun = (runs: WorkflowRunSummary[]): WorkflowRunSummary | null => {
    const active = runs.find(isActiveRun);
    if (active) return active;
    if (lastDispatch && now() - lastDispatch.at < DISPATCH_GRACE_MS) {
      const listed = lastDispatch.run ? runs.find((r) => r.id === lastDispatch!.run!.id) : undefined;
      if (!listed) {
        return {
          id: lastDispatch.run?.id ?? 0,
          run_number: null,
          status: "queued",
          conclusion: null,
          event: "workflow_dispatch",
          head_branch: null,
          head_sha: null,
          title: null,
          url: lastDispatch.run?.url ?? lastDispatch.url,
          created_at: new Date(lastDispatch.at).toISOString(),
          updated_at: null,
          run_started_at: null,
        };
      }
    }
    return null;
  };

  app.post("/monitoring/run-pipeline", { preHandler: guard("admin") }, async (request, reply) => {
    const parsed = RunPipelineBody.safeParse(request.body ?? {});
    if (!parsed.success) return badRequest(request, reply, "run-pipeline takes an optional {inputs: {name: value}}", fieldsOf(parsed.error, "(body)"));
    const { workflow, reason } = github();
    if (!workflow) return sendError(request, reply, { status: 503, type: "not_configured", message: `cannot start the training workflow: ${reason ?? "GitHub is not configured"}` });
    if (inFlight) {
      return sendError(request, reply, { status: 409, type: "run_in_progress", message: "a dispatch of the training workflow is being sent right now", extra: { run: null } });
    }
    inFlight = true;
    try {
      const runs = await workflow.recentRuns(20);
      const blocking = blockingRun(runs);
      if (blocking) {
        return sendError(request, reply, { status: 409, type: "run_in_progress", message: `training run ${blocking.id} is ${blocking.status}: wait for it to finish (${blocking.url})`, extra: { run: blocking } });
      }
      const result = await workflow.dispatch({ ...config.retrain.inputs, ...parsed.data.inputs });
      lastDispatch = { at: now(), run: result.run ? { id: result.run.id, url: result.run.url } : null, url: result.workflow_url };
      statusCache = null;
      request.log.info({ workflow: workflow.workflow, ref: workflow.ref, run: result.run?.id ?? null }, "training workflow dispatched");
      return reply.code(202).send({
        status: "dispatched",
        repo: `${workflow.repo.owner}/${workflow.repo.repo}`,
        workflow: workflow.workflow,
        ref: workflow.ref,
        run: result.run,
        url: result.run?.url ?? result.workflow_url,
      });
    } catch (error) {
      return gitHubFailure(request, reply, error);
    } finally {
      inFlight = false;
    }
  });

  app.get("/monitoring/pipeline-status", { preHandler: guard("viewer") }, async (request, reply) => {
    const { workflow, reason } = github();
    if (!workflow) return { configured: false, reason, run: null };
    const maxAge = config.retrain.status_cache_seconds * 1000;
    if (statusCache && now() - statusCache.at < maxAge) return statusCache.body;
    try {
      const runs = await workflow.recentRuns(5);
      const body = {
        configured: true,
        repo: `${workflow.repo.owner}/${workflow.repo.repo}`,
        workflow: workflow.workflow,
        run: runs[0] ?? null,
        active: blockingRun(runs) !== null,
        fetched_at: new Date(now()).toISOString(),
      };
      statusCache = { at: now(), body };
      return body;
    } catch (error) {
      return gitHubFailure(request, reply, error);
    }
  });

  if (options.dashboard !== false) await app.register(dashboardRoutes);
};
