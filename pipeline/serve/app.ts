import { randomUUID } from "node:crypto";
import os from "node:os";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { resolve } from "node:path";
import proxyAddr from "@fastify/proxy-addr";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import fastJson from "fast-json-stringify";
import { pino, type DestinationStream, type Logger } from "pino";
import type { z } from "zod";
import { ServingSchema, type DriftSchema, type ServingConfig } from "../config/schema.js";
import type { CheckedRecord, FieldProblem } from "../model/input-contract.js";
import { compilePredictor, predictorFromForest, type CompiledPredictor, type RecordPrediction } from "../model/predictor.js";
import { batchAnswerWriter, batchItemsWriter, type PredictedRows } from "./batch-items.js";
import { startBatchHelpers, type BatchHelpers } from "./batch-helpers.js";
import { monitoringRoutes } from "./monitoring/routes.js";
import { createMonitor, type Monitor } from "./monitoring/state.js";
import { trainingWorkflowFromEnvironment } from "./monitoring/training-workflow.js";
import { createKeyStore, parseKeyEntries, presentedKey, roleAllows, type KeyStore, type Principal, type Role } from "./auth.js";
import { classifyError, errorBody, HttpError, type ErrorType } from "./errors.js";
import { createServerMetrics, type ServerMetrics } from "./metrics.js";
import { coalescingDestination, type ByteTarget } from "./log-destination.js";
import { createPredictionLog } from "./prediction-log.js";
import { LazyRequestLogger } from "./request-logger.js";
import { PREDICT_BATCH_RESPONSE, PREDICT_RESPONSE } from "./response-schemas.js";
import { predictFastPath, predictFrontRoute, type FastAnswer, type PredictFastPathOptions, type RequestHead } from "./predict-fast-path.js";
import { attachHttp1Front } from "./http1-front.js";
import { createRateLimiter, rateLimitHeaders } from "./rate-limit.js";
import { loadServedModel, loadServedModelHere, resolveModelSource, type LoadedServedModel, type ModelState } from "./model-source.js";

/**
 * The prediction service as a fastify app (not listening; start.ts listens and drains). Thin: the
 * input contract and the forest live in pipeline/model/, identity in model-source.ts, keys in
 * auth.ts, metrics in metrics.ts; this file wires them to routes.
 *
 * Route access is declared per route as `config: { auth: "viewer" | "admin" | "predict" }` (absent:
 * open). "predict" needs a key only when serving.auth.predict_requires_key is set. The monitoring
 * routes use the same declaration.
 */

export interface ServerOptions {
  /** PATH to model.json, `production` or `name@vN` (resolved in the registry under root). */
  model: string;
  /** Repository root: the registry, relative model paths and keys_file resolve against it (default cwd). */
  root?: string;
  /** The config's `serving` section (defaults apply to anything left out). */
  serving?: z.input<typeof ServingSchema>;
  /** The config's `drift` section, for live drift in the monitoring endpoints. */
  drift?: z.input<typeof DriftSchema>;
  /** The config's model name: which model `production` means when the registry holds several. */
  modelName?: string;
  /** Serve a model with no expected identity (no serving.json, not in the registry) as ready. */
  allowUnverified?: boolean;
  /** API keys, K_SERVICE, K_REVISION (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go (default: stdout, buffered). */
  logDestination?: DestinationStream;
  /** Random source for log sampling (default Math.random). */
  random?: () => number;
  /** Register the monitoring endpoints (default true). */
  monitoring?: boolean;
  /** "worker" (default): parse the model on a short-lived thread so its parse garbage never stays resident; "main": on this thread. */
  modelLoader?: "worker" | "main";
  /** Process metrics from prom-client (default true; off when many servers share a test process). */
  processMetrics?: boolean;
}

export interface ServingContext {
  config: ServingConfig;
  state: ModelState;
  metrics: ServerMetrics;
  keys: KeyStore;
  logger: Logger;
  monitor: Monitor | null;
  service: string | null;
  revision: string | null;
  /** Flushes buffered log lines (start.ts calls it before exiting). */
  flushLogs(): void;
  /** Set by start.ts on SIGTERM: responses then close their connection, so draining ends with the last one. */
  draining: boolean;
  /** Requests answered by the /predict fast path (predict-fast-path.ts) rather than fastify's route. */
  fastPathAnswers: number;
  /** Batch records predicted on a helper thread (batch-helpers.ts) rather than the request's. */
  batchRowsHelped: number;
}

declare module "fastify" {
  interface FastifyInstance {
    serving: ServingContext;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    auth?: Role | "predict";
    /** false: not counted against the rate limit (health, readiness, metrics). */
    rateLimit?: false;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The caller's X-Request-Id when it is a sane token, otherwise a new one. */
function requestIdOf(req: { headers: IncomingHttpHeaders }): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}
const NO_WARNINGS: FieldProblem[] = [];
/** Below this many records a batch stays on its thread: a message to a helper and back costs more than the rows. */
const MIN_SHARED_BATCH = 128;

async function loadKeys(config: ServingConfig, env: NodeJS.ProcessEnv, root: string): Promise<KeyStore> {
  const entries = [];
  const fromEnv = env[config.auth.keys_env];
  if (fromEnv) entries.push(...parseKeyEntries(fromEnv, `environment variable ${config.auth.keys_env}`));
  if (config.auth.keys_file) {
    const text = await readFile(resolve(root, config.auth.keys_file), "utf8");
    entries.push(...parseKeyEntries(text, "serving.auth.keys_file"));
  }
  return createKeyStore(entries);
}

function destination(options: ServerOptions, onDrop: (lines: number) => void): DestinationStream {
  // Lines are gathered into writes of at least 64 kB (at most a second late): with one write per line
  // each prediction cost a write system call on libuv's thread pool, the largest single cost per
  // request under load, and at 8 kB handing the writes to the pool still cost 0.8 µs per prediction
  // (README "Logs"). start.ts flushes what is left on exit.
  if (options.logDestination) return options.logDestination;
  // pino's types give SonicBoom a string write() only; in buffer mode it takes the Buffers handed to it.
  const stdout = pino.destination({ dest: 1, sync: false, contentMode: "buffer" }) as unknown as ByteTarget;
  return coalescingDestination(stdout, { minLength: 64 * 1024, flushIntervalMs: 1000, onDrop });
}

function versionLabel(served: LoadedServedModel): string {
  return served.version === null ? "unverified" : String(served.version);
}

/** Fields of a batch record are named `records[i].field`, so a caller can find them. */
function batchFields(index: number, problems: FieldProblem[]): FieldProblem[] {
  return problems.map((p) => ({ ...p, field: `records[${index}].${p.field}` }));
}

export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const config = ServingSchema.parse(options.serving ?? {});
  const env = options.env ?? process.env;
  const root = options.root ?? process.cwd();
  const random = options.random ?? Math.random;
  const service = env.K_SERVICE ?? null;
  const revision = env.K_REVISION ?? null;
  // Lines stdout could not take (reported through the logger, which is made just below).
  let reportDropped = (_lines: number): void => {};
  const dest = destination(options, (lines) => reportDropped(lines));
  // ISO time, formatted once per millisecond: at thousands of lines a second, toISOString per line showed in profiles.
  let lastMs = -1;
  let lastTime = "";
  const isoTime = (): string => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = `,"time":"${new Date(ms).toISOString()}"`;
    }
    return lastTime;
  };
  const loggerOptions = {
    level: config.log.level,
    messageKey: "message",
    base: { service, revision },
    timestamp: isoTime,
    // Cloud Logging reads `severity`.
    formatters: { level: (label: string) => ({ severity: label.toUpperCase() }) },
  };
  // The general log redacts anything that could carry a key (request headers, error details).
  const logger = pino(
    {
      ...loggerOptions,
      redact: {
        paths: ["req.headers.authorization", 'req.headers["x-api-key"]', "headers.authorization", 'headers["x-api-key"]', "authorization", "api_key", "apiKey", "token", "password", "secret", "err.headers.authorization"],
        censor: "***",
      },
    },
    dest,
  );
  reportDropped = (lines) => logger.warn({ event: "log_lines_dropped", lines }, `${lines} log lines dropped: stdout did not take them`);
  const flushLogs = () => {
    const d = dest as { flushSync?: () => void };
    try {
      d.flushSync?.();
    } catch {
      // A destination that is not ready yet has nothing buffered.
    }
  };

  const keys = await loadKeys(config, env, root);
  const metrics = createServerMetrics({ defaultMetrics: options.processMetrics });

  let state: ModelState;
  try {
    const source = await resolveModelSource(options.model, root, options.modelName);
    const load = options.modelLoader === "main" ? loadServedModelHere : loadServedModel;
    state = await load(source, { allowUnverified: options.allowUnverified });
  } catch (error) {
    state = { status: "failed", path: null, reason: `model ${options.model}: ${(error as Error).message.split("\n")[0]}` };
  }
  let predictor: CompiledPredictor | null = null;
  let monitor: Monitor | null = null;
  if (state.status === "ready") {
    const served = state.served;
    predictor = served.forest ? predictorFromForest(served.model, served.forest) : compilePredictor(served.model);
    metrics.setModelInfo({ name: served.name, version: versionLabel(served), sha256: served.sha256, content_sha256: served.content_sha256 });
    logger.info({ event: "model_loaded", model: served.name, version: served.version, sha256: served.sha256, content_sha256: served.content_sha256, identity: served.expected?.source ?? "unverified" }, "model loaded");
    if (options.monitoring !== false) {
      monitor = createMonitor({ model: served.model, drift: options.drift, config: config.monitoring, root, driftGauge: metrics.driftScore, onLogError: (e) => logger.warn({ event: "monitoring_log_error", err: e.message }, "monitoring log write failed") });
    }
  } else if (state.status === "failed") {
    logger.error({ event: "model_not_ready", reason: state.reason }, "model not ready");
  }
  // Prediction lines hold only what the handler puts there (request id, the prepared feature values,
  // class, confidence, latency, version): no header or free-form field can reach them, so they need
  // no redaction pass (which cost a tenth of the server's time per request).
  const contractFields = predictor?.contract.fields ?? [];
  const predictionLog = createPredictionLog({
    destination: dest,
    level: config.log.level,
    service,
    revision,
    time: isoTime,
    fields: contractFields.map((f) => f.name),
    knownTexts: Object.fromEntries(contractFields.flatMap((f) => (f.type === "category" ? [[f.name, f.categories]] : []))),
  });
  if (config.auth.predict_requires_key && keys.size === 0) logger.warn({ event: "no_api_keys" }, `predict requires a key but ${config.auth.keys_env} holds none: every prediction is refused`);

  // POST /predict is answered before fastify sees it (predict-fast-path.ts); set once the routes exist.
  let fastPath: ((req: IncomingMessage, res: ServerResponse) => boolean) | null = null;
  // And before node's server builds its request objects, by the HTTP/1.1 front (http1-front.ts).
  let frontRoute: ReturnType<typeof predictFrontRoute> | null = null;
  const app = Fastify({
    serverFactory: (handler, opts) => {
      const server = createHttpServer((req, res) => {
        if (fastPath === null || !fastPath(req, res)) handler(req, res);
      });
      if (config.http1_front) attachHttp1Front(server, { method: "POST", path: "/predict", bodyLimit: config.body_limit_bytes, accepts: (head) => frontRoute !== null && frontRoute.accepts(head), route: (head, body) => frontRoute!.route(head, body) });
      // What fastify does to the server it makes itself.
      const o = opts as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number };
      server.keepAliveTimeout = o.keepAliveTimeout;
      server.requestTimeout = o.requestTimeout;
      server.setTimeout(o.connectionTimeout);
      return server;
    },
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // One line per prediction is written below; fastify's own per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "request_id" }),
    childLoggerFactory: (base, bindings, childOptions) => new LazyRequestLogger(base as unknown as Logger, bindings, childOptions) as unknown as FastifyBaseLogger,
    bodyLimit: config.body_limit_bytes,
    trustProxy: config.trust_proxy,
    genReqId: requestIdOf,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    requestTimeout: 30_000,
  });

  // JSON only: fastify also parses text/plain by default, which would turn a wrong content type into a 400 instead of a 415.
  app.removeContentTypeParser("text/plain");

  const context: ServingContext = { config, state, metrics, keys, logger, monitor, service, revision, flushLogs, draining: false, fastPathAnswers: 0, batchRowsHelped: 0 };
  app.decorate("serving", context);
  app.decorateRequest("principal", null);

  const now = () => new Date();
  const send = (reply: FastifyReply, request: FastifyRequest, status: number, error: ReturnType<typeof classifyError>) => {
    if (error.headers) for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    return reply.code(status).type("application/json; charset=utf-8").send(errorBody(error.type, error.message, request.id, now(), error.fields));
  };

  // Which methods each path has, for 405 with Allow instead of 404.
  const methodsByPath = new Map<string, Set<string>>();
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const set = methodsByPath.get(route.url) ?? new Set<string>();
    for (const m of methods) set.add(m);
    methodsByPath.set(route.url, set);
  });

  const principalOf = (headers: IncomingHttpHeaders): Principal | null => {
    const key = presentedKey(headers);
    return key === null ? null : keys.authenticate(key);
  };
  // The client address as fastify's request.ip gives it (the same trust rule), for the fast path.
  const trustAll = () => true;
  const clientAddress = (req: RequestHead): string => {
    if (!config.trust_proxy) return req.socket.remoteAddress ?? "";
    const all = proxyAddr.all(req as IncomingMessage, trustAll);
    return all[all.length - 1] ?? "";
  };
  const limiter = config.rate_limit.enabled ? createRateLimiter({ max: config.rate_limit.max, windowMs: config.rate_limit.window_seconds * 1000 }) : null;
  /** The 429 for a client past its limit, or null (counted either way). */
  const rateLimited = (principal: Principal | null, address: string): HttpError | null => {
    if (limiter === null) return null;
    const d = limiter.hit(principal ? `key:${principal.keyId}` : `ip:${address}`);
    if (d.allowed) return null;
    const headers = rateLimitHeaders(d);
    return new HttpError(429, "rate_limited", `rate limit of ${d.limit} requests per ${config.rate_limit.window_seconds} s exceeded; retry in ${headers["retry-after"]} s`, { headers, rejection: "rate_limited" });
  };

  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    request.principal = principalOf(request.headers);
    if (request.routeOptions.config?.rateLimit !== false) {
      const limited = rateLimited(request.principal, request.ip);
      if (limited) return done(limited);
    }
    done();
  });

  /** The refusal for a request that lacks the access a route declares, or null when it may pass. */
  const accessProblem = (principal: Principal | null, headers: IncomingHttpHeaders, needed: Role | "predict" | undefined): HttpError | null => {
    if (needed === undefined || (needed === "predict" && !config.auth.predict_requires_key)) return null;
    // Viewer routes are open on a server without keys; admin routes never are.
    if (needed === "viewer" && keys.size === 0) return null;
    const role: Role = needed === "predict" ? "viewer" : needed;
    const hasKey = presentedKey(headers) !== null;
    if (!principal) {
      metrics.countRejection(hasKey ? "invalid_api_key" : "missing_api_key");
      return new HttpError(401, "unauthorized", hasKey ? "the API key is not valid" : "an API key is required (Authorization: Bearer <key> or X-API-Key)", { headers: { "www-authenticate": 'Bearer realm="pipeline"' } });
    }
    if (!roleAllows(principal.role, role)) {
      metrics.countRejection("forbidden");
      return new HttpError(403, "forbidden", `this needs the ${role} role; the key has ${principal.role}`);
    }
    return null;
  };

  // Access is enforced after rate limiting (route-level onRequest) and before the body is parsed.
  app.addHook("preParsing", (request, _reply, payload, done) => {
    const problem = accessProblem(request.principal, request.headers, request.routeOptions.config.auth);
    if (problem) return done(problem);
    done(null, payload);
  });

  app.addHook("onSend", (_request, reply, payload, done) => {
    if (context.draining) reply.header("connection", "close");
    done(null, payload);
  });

  app.addHook("onResponse", (request, reply, done) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const classified = classifyError(error);
    if (classified.statusCode >= 500) request.log.error({ event: "internal_error", err: error }, "internal error");
    if (classified.rejection) metrics.countRejection(classified.rejection);
    return send(reply, request, classified.statusCode, classified);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0]!;
    const methods = methodsByPath.get(path);
    if (methods && !methods.has(request.method)) {
      return send(reply, request, 405, { statusCode: 405, type: "method_not_allowed", message: `${request.method} is not allowed on ${path}; use ${[...methods].join(", ")}`, headers: { allow: [...methods].join(", ") } });
    }
    return send(reply, request, 404, { statusCode: 404, type: "not_found", message: `no route ${request.method} ${path}` });
  });

  const open = { config: { rateLimit: false } } as const;

  const notReady = (): HttpError => new HttpError(503, "not_ready", state.status === "failed" ? "no model is being served (see /ready)" : "the model is still loading");

  app.get("/health", open, async () => ({ status: "healthy" }));

  app.get("/ready", open, async (_request, reply) => {
    if (state.status === "ready") {
      const s = state.served;
      return { ready: true, model: { name: s.name, version: s.version, sha256: s.sha256, content_sha256: s.content_sha256 }, identity: s.expected?.source ?? "unverified" };
    }
    reply.code(503);
    return { ready: false, status: state.status, reason: state.status === "failed" ? state.reason : "loading" };
  });

  app.get("/model", async () => {
    if (state.status !== "ready") throw notReady();
    const s = state.served;
    const m = s.model;
    const contract = predictor!.contract;
    return {
      name: s.name,
      version: s.version,
      sha256: s.sha256,
      content_sha256: s.content_sha256,
      identity: s.expected?.source ?? "unverified",
      service,
      revision,
      task: m.task,
      classes: m.classes,
      label: m.label,
      features: contract.fields.map((f) => ({
        name: f.name,
        type: f.type,
        required: f.required,
        aliases: f.keys.slice(1),
        ...(f.type === "number" ? { range: f.range, range_source: f.range ? (f.rangeIsConfigured ? "config" : "training") : null } : { categories: f.categories }),
        on_unknown_category: f.type === "category" ? f.onUnknownCategory : undefined,
        on_out_of_range: f.type === "number" ? f.onOutOfRange : undefined,
      })),
      input_policy: contract.policy,
      // Computed by the model from the features above (never sent by a client): which ones, from which inputs.
      derived_features: m.preprocessing.physics ?? null,
      algorithm: m.model.algorithm,
      trees: s.treeCount,
      // The class answered is argmax of probability x weight (pipeline/model/decision.ts); null = plain argmax.
      decision_weights: m.model.decision_weights ?? null,
      metrics: m.metrics,
      lineage: m.lineage,
      max_batch: config.max_batch,
    };
  });

  app.get("/metrics", open, async (_request, reply) => {
    // Evaluating drift here keeps drift_score current for the scraper (cached until a new prediction).
    monitor?.driftScores();
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const sampleRate = config.log.prediction_sample_rate;
  // Fixed once the model is loaded: computed here, not per prediction.
  const servedVersion = state.status === "ready" ? versionLabel(state.served) : "";
  const checkOptions = { numericText: "warn" } as const;
  const logPrediction = (requestId: string, checked: CheckedRecord, cls: string, confidence: number, latencyMs: number) => {
    if (sampleRate <= 0 || (sampleRate < 1 && random() >= sampleRate)) return;
    predictionLog.write({ requestId, record: checked.record, cls, confidence, latencyMs, modelVersion: servedVersion, warnings: checked.warnings.length });
  };

  /** One predicted record as the API answers it; counts, logs and hands it to the monitor. */
  const answer = (requestId: string, p: RecordPrediction, latencyMs: number) => {
    const classes = predictor!.classes;
    const proba = p.probabilities!;
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < classes.length; c++) probabilities[classes[c]!] = proba[c]!;
    const cls = classes[p.classIndex]!;
    const confidence = proba[p.classIndex]!;
    metrics.countPrediction(cls, servedVersion);
    logPrediction(requestId, p.checked, cls, confidence, latencyMs);
    // ─── MONITORING PLUG-IN POINT (1/2): every predicted record goes to the monitor. ───
    monitor?.recordRows({ request_id: requestId, indexed: false, from: 0, to: 1, time: Date.now(), inputs: [p.checked], classIndex: [p.classIndex], probabilities: proba, latency_ms: latencyMs, model_version: servedVersion });
    return { class: cls, probabilities, confidence, warnings: p.checked.warnings.length ? p.checked.warnings : NO_WARNINGS };
  };

  /** The answer to one record (throws the 400 that names its fields); both paths to /predict use it. */
  const predictOne = (body: unknown, requestId: string, started: number) => {
    if (state.status !== "ready") throw notReady();
    const p = predictor!.predictRecord(body, checkOptions);
    if (!p.checked.ok) {
      metrics.countRejection(p.checked.errors[0]!.kind);
      throw new HttpError(400, "invalid_input", `the record cannot be predicted: ${p.checked.errors.map((e) => e.message).join("; ").slice(0, 500)}`, { fields: p.checked.errors });
    }
    const a = answer(requestId, p, performance.now() - started);
    return { class: a.class, probabilities: a.probabilities, confidence: a.confidence, warnings: a.warnings, model_version: servedVersion, content_sha256: state.served.content_sha256, request_id: requestId };
  };

  app.post("/predict", { config: { auth: "predict" }, schema: { response: PREDICT_RESPONSE } }, async (request, reply) => {
    const started = performance.now();
    const result = predictOne(request.body, request.id, started);
    reply.header("x-model-version", servedVersion);
    return result;
  });

  // The same route on node's server directly (see predict-fast-path.ts): the same functions decide.
  // fastify compiles the route schema with the same library and options, so both paths write the same bytes.
  const serializePrediction = fastJson(PREDICT_RESPONSE[200] as unknown as Parameters<typeof fastJson>[0]);
  const JSON_TYPE = "application/json; charset=utf-8";
  const failure = (error: unknown, requestId: string, started: number): FastAnswer => {
    const c = classifyError(error);
    if (c.rejection) metrics.countRejection(c.rejection);
    const headers = ["x-request-id", requestId];
    if (c.headers) for (const [k, v] of Object.entries(c.headers)) headers.push(k, v);
    const payload = JSON.stringify(errorBody(c.type, c.message, requestId, now(), c.fields));
    headers.push("content-type", JSON_TYPE, "content-length", String(Buffer.byteLength(payload)));
    if (context.draining) headers.push("connection", "close");
    metrics.observeRequest("POST", "/predict", c.statusCode, (performance.now() - started) / 1000);
    return { status: c.statusCode, headers, payload };
  };
  const fastPathOptions: PredictFastPathOptions = {
    path: "/predict",
    bodyLimit: config.body_limit_bytes,
    open: () => state.status === "ready" && !context.draining,
    requestId: requestIdOf,
    admit(req) {
      const principal = principalOf(req.headers);
      const refusal = rateLimited(principal, clientAddress(req)) ?? accessProblem(principal, req.headers, "predict");
      return refusal === null ? null : { refusal };
    },
    answer(body, requestId, started) {
      context.fastPathAnswers++;
      let result: ReturnType<typeof predictOne>;
      try {
        result = predictOne(body, requestId, started);
      } catch (error) {
        return failure(error, requestId, started);
      }
      const payload = serializePrediction(result);
      const headers = ["x-request-id", requestId, "x-model-version", servedVersion, "content-type", JSON_TYPE, "content-length", String(Buffer.byteLength(payload))];
      if (context.draining) headers.push("connection", "close");
      metrics.observeRequest("POST", "/predict", 200, (performance.now() - started) / 1000);
      return { status: 200, headers, payload };
    },
    fail(error, requestId, started) {
      context.fastPathAnswers++;
      return failure(error, requestId, started);
    },
  };
  fastPath = predictFastPath(fastPathOptions);
  frontRoute = predictFrontRoute(fastPathOptions);

  // Large batches are shared with helper threads (batch-helpers.ts), started by the first one: a
  // server that never gets a batch never pays for them.
  const batchThreads = config.batch_threads ?? Math.min(2, os.availableParallelism());
  let batchHelpers: BatchHelpers | null = null;
  const helpersFor = (rows: number): BatchHelpers | null => {
    if (batchThreads < 2 || rows < MIN_SHARED_BATCH || state.status !== "ready") return null;
    if (batchHelpers === null) {
      const served = state.served;
      batchHelpers = startBatchHelpers({ model: served.model, forest: predictor!.forest, width: predictor!.contract.width, threads: batchThreads - 1, capacity: config.max_batch });
    }
    return batchHelpers;
  };
  // Registered now: fastify takes no hooks once it listens, and the helpers start later.
  app.addHook("onClose", async () => batchHelpers?.close());
  const writeItems = state.status === "ready" ? batchItemsWriter(state.served.model.classes) : null;
  const writeBatchAnswer = batchAnswerWriter();

  app.post("/predict/batch", { config: { auth: "predict" }, schema: { response: PREDICT_BATCH_RESPONSE } }, async (request, reply) => {
    const started = performance.now();
    if (state.status !== "ready") throw notReady();
    const served = state.served;
    const body = request.body as unknown;
    const records = Array.isArray(body) ? body : typeof body === "object" && body !== null && Object.hasOwn(body, "records") ? (body as { records: unknown }).records : undefined;
    if (!Array.isArray(records)) {
      metrics.countRejection("not_a_batch");
      throw new HttpError(400, "invalid_input", 'expected {"records": [ ... ]} or a JSON array of records', { fields: [{ field: "records", kind: "wrong_type", message: "records: expected a list of records" }] });
    }
    if (records.length === 0) {
      metrics.countRejection("empty_batch");
      throw new HttpError(400, "invalid_input", "the batch has no records", { fields: [{ field: "records", kind: "missing_required", message: "records: at least one record" }] });
    }
    if (records.length > config.max_batch) {
      metrics.countRejection("batch_too_large");
      throw new HttpError(413, "payload_too_large", `the batch has ${records.length} records; at most ${config.max_batch} per request`);
    }
    const n = records.length;
    const p = predictor!;
    const width = p.contract.width;
    const k = p.classes.length;
    // A large batch is walked by the helpers while this thread checks it, then answers, logs and
    // monitors it chunk by chunk (batch-helpers.ts); a small one is all done here.
    const shared = helpersFor(n)?.begin(n) ?? null;
    try {
      const matrix = shared?.matrix ?? new Float64Array(n * width);
      const warnings = new Map<number, FieldProblem[]>();
      const rows: PredictedRows = { requestId: request.id, proba: shared?.proba ?? new Float64Array(n * k), classIndex: shared?.classIndex ?? new Int32Array(n), warnings };
      // Rows [from, to) of the matrix walked (tree by tree, cache-friendly) on this thread.
      const walkHere = (from: number, to: number): void => {
        p.predictRows(matrix.subarray(from * width, to * width), to - from, width, rows.proba.subarray(from * k, to * k));
        p.chooseClasses(rows.proba, from, to, rows.classIndex);
      };
      // All records checked before any is answered: one bad record and nothing is predicted.
      const checked = p.checkRecords(records, checkOptions, matrix, shared ? { every: shared.chunkRows, report: (upTo) => shared.checked(upTo) } : undefined);
      let fields: FieldProblem[] | null = null;
      let bad = 0;
      for (let i = 0; i < n; i++) {
        const c = checked[i]!;
        if (!c.ok) {
          bad++;
          fields ??= [];
          if (fields.length < 100) fields.push(...batchFields(i, c.errors));
        } else if (c.warnings.length > 0) warnings.set(i, c.warnings);
      }
      if (fields) {
        metrics.countRejection(fields[0]!.kind);
        throw new HttpError(400, "invalid_input", `${bad} of ${n} records cannot be predicted; nothing was predicted (the fields name each problem)`, { fields });
      }
      shared?.checked(n);
      // Records [from, to) answered, logged, counted and monitored, with the batch's time so far per
      // record. The monitor takes them as columns, and metrics take the counts per class once.
      const classCounts = new Int32Array(k);
      const pieces: string[] = [];
      const answerRows = (from: number, to: number) => {
        pieces.push(writeItems!(rows, from, to));
        const perRecord = (performance.now() - started) / n;
        for (let i = from; i < to; i++) {
          const c = rows.classIndex[i]!;
          classCounts[c]!++;
          logPrediction(`${request.id}:${i}`, checked[i]!, p.classes[c]!, rows.proba[i * k + c]!, perRecord);
        }
        monitor?.recordRows({ request_id: request.id, indexed: true, from, to, time: Date.now(), inputs: checked, classIndex: rows.classIndex, probabilities: rows.proba, latency_ms: perRecord, model_version: servedVersion });
      };
      if (shared === null) {
        walkHere(0, n);
        answerRows(0, n);
      } else {
        for (let chunk = shared.next(walkHere); chunk !== null; chunk = shared.next(walkHere)) {
          if (chunk.helped) context.batchRowsHelped += chunk.to - chunk.from;
          answerRows(chunk.from, chunk.to);
        }
      }
      for (let c = 0; c < k; c++) if (classCounts[c]! > 0) metrics.countPrediction(p.classes[c]!, servedVersion, classCounts[c]!);
      reply.header("x-model-version", servedVersion).type(JSON_TYPE);
      return writeBatchAnswer(pieces, { model_version: servedVersion, content_sha256: served.content_sha256, request_id: request.id });
    } finally {
      shared?.end();
    }
  });

  // ─── MONITORING PLUG-IN POINT (2/2): the monitoring routes and the dashboard (pipeline/serve/monitoring/). ───
  if (monitor && state.status === "ready") {
    const served = state.served;
    const retrain = monitor.config.retrain;
    let github: ReturnType<typeof trainingWorkflowFromEnvironment> | null = null;
    await app.register(monitoringRoutes, {
      monitor,
      model: { name: served.name, version: served.version === null ? null : String(served.version), sha256: served.sha256, content_sha256: served.content_sha256, metrics: served.model.metrics },
      authorize: (role) => async (request) => {
        const problem = accessProblem(request.principal, request.headers, role);
        if (problem) throw problem;
      },
      // Built on first use: the token is read (and masked) only when a GitHub route is called.
      github: () => (github ??= trainingWorkflowFromEnvironment(retrain, env)),
      sendError: (request, reply, e) => {
        const body = errorBody(e.type as ErrorType, e.message, request.id, now(), e.fields);
        return reply.code(e.status).type("application/json; charset=utf-8").send({ ...body, ...e.extra });
      },
    });
  }

  return app;
}

