import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { checkMessage, omitDefaults } from "./cloud-run-proto.js";

/**
 * A local stand-in for the Cloud Run Admin API v2: the methods the deploy calls (services get,
 * create, patch; operations get and wait; revisions get and list), with traffic, tags, traffic
 * statuses, `reconciling`, conditions and long-running operations.
 *
 * It answers the way Google does, and checks the way Google does:
 * - every request body and query is checked against the v2 description in @google-cloud/run's
 *   protos.json (cloud-run-proto.ts): unknown fields, wrong types, output-only fields set and
 *   required fields missing are refused with 400 INVALID_ARGUMENT;
 * - Cloud Run's own rules: traffic percentages summing to 100, unique tags, referenced revisions
 *   existing, revision names prefixed by the service name and not reused for another template,
 *   etags (409 ABORTED on a stale one), 409 ALREADY_EXISTS, 404 NOT_FOUND, a bearer token;
 * - every response it sends is checked against protos.json too (int64 as strings, defaults such as
 *   `percent: 0` omitted, enums by name): `responseProblems` must stay empty.
 *
 * A new revision "starts its container" through `startRevision` (the tests start a real
 * `pipeline serve` process), then must pass the template's startup probe (HTTP GET on its path,
 * period and failure threshold as configured) before it is Ready; otherwise it fails with
 * HEALTH_CHECK_CONTAINER_ERROR. Each tag gets a URL (a local port) proxying to its revision's
 * server, and the service URL splits requests by the traffic percentages (smooth weighted
 * round-robin, so a 10% step gets exactly every tenth request), so the canary reads real /metrics.
 */

export interface RevisionContainer {
  service: string;
  revision: string;
  image: string;
  /** The container port of the template (the server is told PORT). */
  port: number;
  env: Record<string, string>;
}

/** Starts (or reuses) the server for a revision; returns its base URL. A throw is a container that cannot start. */
export type StartRevision = (container: RevisionContainer) => Promise<{ url: string }>;

export interface CloudRunStandInOptions {
  startRevision: StartRevision;
  /** The bearer token the API accepts. */
  token: string;
  /** How long a traffic-only change takes to roll out (ms). */
  operationMs?: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
}

interface TargetSpec {
  type?: string;
  revision?: string;
  percent?: number;
  tag?: string;
}

interface StatusEntry {
  type: string;
  revision: string;
  percent: number;
  tag?: string;
  uri?: string;
}

interface RevisionState {
  name: string;
  uid: string;
  createTime: string;
  template: Record<string, unknown>;
  state: "CONDITION_RECONCILING" | "CONDITION_SUCCEEDED" | "CONDITION_FAILED";
  reason?: string;
  message?: string;
  transition: string;
  upstream?: string;
}

interface ServiceState {
  id: string;
  name: string;
  parent: string;
  uid: string;
  generation: number;
  observedGeneration: number;
  createTime: string;
  updateTime: string;
  /** Client-settable fields as last sent (labels, template, traffic, description, ...). */
  spec: Record<string, unknown>;
  revisions: Map<string, RevisionState>;
  revisionOrder: string[];
  latestCreated?: string;
  latestReady?: string;
  statuses: StatusEntry[];
  reconciling: boolean;
  terminal: { state: string; message?: string; reason?: string; revisionReason?: string; transition: string };
  etag: string;
  url: string;
  router: Server;
  tagServers: Map<string, { server: Server; url: string }>;
  /** Smooth weighted round-robin state of the service URL. */
  wrr: Map<string, number>;
}

interface OperationState {
  name: string;
  done: boolean;
  metadata: Record<string, unknown>;
  response?: Record<string, unknown>;
  error?: { code: number; message: string };
  waiters: Array<() => void>;
}

const SERVICE_TYPE = "google.cloud.run.v2.Service";
const REVISION_TYPE = "google.cloud.run.v2.Revision";
const OPERATION_TYPE = "google.longrunning.Operation";
const TAG_RE = /^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$/;
const SERVICE_ID_RE = /^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/;
/** Query parameters every Google API accepts (system parameters). */
const SYSTEM_PARAMS = new Set(["alt", "prettyPrint", "fields", "$fields", "key", "quotaUser", "$.xgafv", "access_token"]);

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

const now = () => new Date().toISOString();

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : x));
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class CloudRunStandIn {
  apiUrl = "";
  readonly calls: RecordedCall[] = [];
  /** Problems found in the stand-in's own responses (must stay empty: the stand-in answers like Google). */
  readonly responseProblems: string[] = [];
  /** Requests the service URL routed, per revision. */
  readonly routed = new Map<string, number>();
  private readonly services = new Map<string, ServiceState>();
  private readonly operations = new Map<string, OperationState>();
  private readonly faults: Array<{ status: number; retryAfter?: string }> = [];
  private stall = false;
  private server: Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: CloudRunStandInOptions) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.apiUrl = await listen(this.server);
    return this;
  }

  /** The next `count` API calls answer `status` (429 RESOURCE_EXHAUSTED or 503 UNAVAILABLE), with Retry-After if given. */
  failNext(count: number, status: 429 | 503, retryAfter?: string): void {
    for (let i = 0; i < count; i++) this.faults.push({ status, ...(retryAfter !== undefined ? { retryAfter } : {}) });
  }

  /** While on, operations started never finish (a stuck rollout). */
  stallOperations(on: boolean): void {
    this.stall = on;
  }

  /** The resolved split a service serves, as Cloud Run reports it. */
  split(serviceName: string): Array<{ revision: string; percent: number; tag?: string }> {
    const s = this.services.get(serviceName);
    return (s?.statuses ?? []).map((e) => ({ revision: e.revision, percent: e.percent, ...(e.tag ? { tag: e.tag } : {}) }));
  }

  /** The service URL (splits by traffic percent), once the service has been rolled out. */
  serviceUrl(serviceName: string): string | undefined {
    return this.services.get(serviceName)?.url || undefined;
  }

  hasService(serviceName: string): boolean {
    return this.services.has(serviceName);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const op of this.operations.values()) op.waiters.splice(0).forEach((w) => w());
    const closing: Promise<void>[] = [];
    const close = (s: Server) => closing.push(new Promise((r) => s.close(() => r())));
    for (const s of this.services.values()) {
      s.router.closeAllConnections();
      close(s.router);
      for (const t of s.tagServers.values()) {
        t.server.closeAllConnections();
        close(t.server);
      }
    }
    if (this.server) {
      this.server.closeAllConnections();
      close(this.server);
    }
    await Promise.all(closing);
  }

  // ---------------------------------------------------------------- API front end

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://standin");
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    let body: unknown;
    const call: RecordedCall = { method: req.method ?? "GET", path: url.pathname, query, body: undefined, status: 0 };
    this.calls.push(call);
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
      res.end(JSON.stringify(json));
    };
    try {
      if (req.headers.authorization !== `Bearer ${this.options.token}`) throw new ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
      const fault = this.faults.shift();
      if (fault) {
        send(fault.status, { error: { code: fault.status, message: fault.status === 429 ? "Quota exceeded for quota metric 'Write requests' of service 'run.googleapis.com'." : "The service is currently unavailable.", status: fault.status === 429 ? "RESOURCE_EXHAUSTED" : "UNAVAILABLE" } }, fault.retryAfter !== undefined ? { "retry-after": fault.retryAfter } : {});
        return;
      }
      if (raw.length > 0) {
        if (!/^application\/json/.test(req.headers["content-type"] ?? "")) throw new ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload: content-type must be application/json");
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          throw new ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
        }
      }
      call.body = body;
      const { type, json } = await this.route(call.method, url.pathname, query, body);
      const problems = checkMessage(type, json, "response");
      this.responseProblems.push(...problems.map((p) => `${call.method} ${url.pathname}: ${p}`));
      send(200, json);
    } catch (error) {
      if (error instanceof ApiError) send(error.code, { error: { code: error.code, message: error.message, status: error.status } });
      else send(500, { error: { code: 500, message: String((error as Error)?.stack ?? error), status: "INTERNAL" } });
    }
  }

  private checkQuery(query: Record<string, string>, allowed: string[]): void {
    for (const k of Object.keys(query)) {
      if (!allowed.includes(k) && !SYSTEM_PARAMS.has(k)) throw new ApiError(400, "INVALID_ARGUMENT", `Invalid JSON payload received. Unknown name "${k}": Cannot bind query parameter. Field '${k}' could not be found in request message.`);
    }
  }

  private checkBody(type: string, body: unknown, what: string): void {
    const problems = checkMessage(type, body, "request");
    if (problems.length) throw new ApiError(400, "INVALID_ARGUMENT", `Invalid ${what}: ${problems.join("; ")}`);
  }

  private async route(method: string, path: string, query: Record<string, string>, body: unknown): Promise<{ type: string; json: Record<string, unknown> }> {
    let m: RegExpExecArray | null;
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+)\/services$/.exec(path)) && method === "POST") {
      this.checkQuery(query, ["serviceId", "validateOnly"]);
      return { type: OPERATION_TYPE, json: this.createService(m[1]!, query.serviceId, body) };
    }
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)$/.exec(path))) {
      if (method === "GET") {
        this.checkQuery(query, []);
        if (body !== undefined) throw new ApiError(400, "INVALID_ARGUMENT", "GET takes no body");
        return { type: SERVICE_TYPE, json: this.serviceJson(this.mustService(m[1]!)) };
      }
      if (method === "PATCH") {
        this.checkQuery(query, ["updateMask", "validateOnly", "allowMissing"]);
        return { type: OPERATION_TYPE, json: this.updateService(m[1]!, body) };
      }
    }
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)\/revisions$/.exec(path)) && method === "GET") {
      this.checkQuery(query, ["pageSize", "pageToken", "showDeleted"]);
      const s = this.mustService(m[1]!);
      const revisions = [...s.revisionOrder].reverse().map((r) => this.revisionJson(s, s.revisions.get(r)!));
      return { type: "google.cloud.run.v2.ListRevisionsResponse", json: revisions.length ? { revisions } : {} };
    }
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/services\/[^/]+)\/revisions\/([^/]+)$/.exec(path)) && method === "GET") {
      this.checkQuery(query, []);
      const s = this.mustService(m[1]!);
      const r = s.revisions.get(m[2]!);
      if (!r) throw new ApiError(404, "NOT_FOUND", `Revision '${m[2]}' not found.`);
      return { type: REVISION_TYPE, json: this.revisionJson(s, r) };
    }
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/:]+)$/.exec(path)) && method === "GET") {
      this.checkQuery(query, []);
      return { type: OPERATION_TYPE, json: this.operationJson(this.mustOperation(m[1]!)) };
    }
    if ((m = /^\/v2\/(projects\/[^/]+\/locations\/[^/]+\/operations\/[^/:]+):wait$/.exec(path)) && method === "POST") {
      this.checkQuery(query, []);
      this.checkBody("google.longrunning.WaitOperationRequest", body ?? {}, "WaitOperationRequest");
      const op = this.mustOperation(m[1]!);
      const timeout = (body as { timeout?: string } | undefined)?.timeout;
      const ms = timeout ? Number(timeout.slice(0, -1)) * 1000 : 60_000;
      if (!op.done) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(ms, 60_000));
          this.timers.add(t);
          op.waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return { type: OPERATION_TYPE, json: this.operationJson(op) };
    }
    throw new ApiError(404, "NOT_FOUND", `Method not found: ${method} ${path}`);
  }

  private mustService(name: string): ServiceState {
    const s = this.services.get(name);
    if (!s) throw new ApiError(404, "NOT_FOUND", `Resource '${name.split("/").at(-1)}' of kind 'SERVICE' in region '${name.split("/")[3]}' in project '${name.split("/")[1]}' does not exist.`);
    return s;
  }

  private mustOperation(name: string): OperationState {
    const op = this.operations.get(name);
    if (!op) throw new ApiError(404, "NOT_FOUND", `Operation ${name} not found.`);
    return op;
  }

  // ---------------------------------------------------------------- services

  private createService(parent: string, serviceId: string | undefined, body: unknown): Record<string, unknown> {
    if (!serviceId) throw new ApiError(400, "INVALID_ARGUMENT", "service_id is required.");
    if (!SERVICE_ID_RE.test(serviceId)) throw new ApiError(400, "INVALID_ARGUMENT", `service_id '${serviceId}' must use only lowercase alphanumeric characters and dashes, begin with a letter and not end with a dash.`);
    this.checkBody(SERVICE_TYPE, body, "Service");
    const name = `${parent}/services/${serviceId}`;
    const spec = { ...(body as Record<string, unknown>) };
    if (spec.name !== undefined && spec.name !== "" && spec.name !== name) throw new ApiError(400, "INVALID_ARGUMENT", "service.name must be empty or match the parent and service_id on create.");
    delete spec.name;
    delete spec.etag;
    if (this.services.has(name)) throw new ApiError(409, "ALREADY_EXISTS", `Resource '${serviceId}' already exists.`);
    const time = now();
    const state: ServiceState = {
      id: serviceId,
      name,
      parent,
      uid: randomUUID(),
      generation: 0,
      observedGeneration: 0,
      createTime: time,
      updateTime: time,
      spec: {},
      revisions: new Map(),
      revisionOrder: [],
      statuses: [],
      reconciling: true,
      terminal: { state: "CONDITION_RECONCILING", transition: time },
      etag: "",
      url: "",
      router: createServer((req, res) => this.routeService(state, req, res)),
      tagServers: new Map(),
      wrr: new Map(),
    };
    const newRevision = this.validateChange(state, spec);
    this.services.set(name, state);
    return this.applyChange(state, spec, newRevision);
  }

  private updateService(name: string, body: unknown): Record<string, unknown> {
    this.checkBody(SERVICE_TYPE, body, "Service");
    const s = this.mustService(name);
    const spec = { ...(body as Record<string, unknown>) };
    if (spec.name !== undefined && spec.name !== name) throw new ApiError(400, "INVALID_ARGUMENT", `service.name '${String(spec.name)}' does not match the URL.`);
    if (spec.etag !== undefined && spec.etag !== s.etag) throw new ApiError(409, "ABORTED", "The service has been modified since it was read (etag mismatch); read it again and retry.");
    if (s.reconciling) throw new ApiError(409, "FAILED_PRECONDITION", "The service is being updated by another operation; wait for it to finish.");
    delete spec.name;
    delete spec.etag;
    const newRevision = this.validateChange(s, spec);
    return this.applyChange(s, spec, newRevision);
  }

  /** Cloud Run's own rules for a template and traffic; returns the name of the revision the change creates, if any. */
  private validateChange(s: ServiceState, spec: Record<string, unknown>): string | null {
    const template = spec.template as Record<string, unknown>;
    const containers = (template.containers as Array<Record<string, unknown>> | undefined) ?? [];
    if (containers.length !== 1) throw new ApiError(400, "INVALID_ARGUMENT", "template.containers: exactly one container is supported here (with no sidecars).");
    const env = (containers[0]!.env as Array<{ name: string }> | undefined) ?? [];
    for (const e of env) if (["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"].includes(e.name)) throw new ApiError(400, "INVALID_ARGUMENT", `template.containers[0].env: ${e.name} is a reserved environment variable.`);
    const current = s.latestCreated ? s.revisions.get(s.latestCreated) : undefined;
    const { revision: requestedName, ...templateRest } = template as { revision?: string };
    // Compared as proto3 values: a field left out and a field set to its default are the same.
    const normal = (t: Record<string, unknown>) => stableJson(omitDefaults("google.cloud.run.v2.RevisionTemplate", t));
    const sameTemplate = current !== undefined && normal(withoutRevision(current.template)) === normal(templateRest) && (requestedName === undefined || requestedName === current.name);
    let newRevision: string | null = null;
    if (!sameTemplate) {
      if (requestedName !== undefined) {
        if (!requestedName.startsWith(`${s.id}-`)) throw new ApiError(400, "INVALID_ARGUMENT", `template.revision: revision name '${requestedName}' must be prefixed by the service name '${s.id}-'.`);
        if (requestedName.length > 63 || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(requestedName)) throw new ApiError(400, "INVALID_ARGUMENT", `template.revision: '${requestedName}' is not a valid revision name.`);
        if (s.revisions.has(requestedName)) throw new ApiError(409, "ALREADY_EXISTS", `Revision named '${requestedName}' with different configuration already exists.`);
        newRevision = requestedName;
      } else {
        newRevision = `${s.id}-${String(s.revisionOrder.length + 1).padStart(5, "0")}-${randomUUID().slice(0, 3)}`;
      }
    }
    const traffic = (spec.traffic as TargetSpec[] | undefined) ?? [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 100 }];
    let sum = 0;
    const tags = new Set<string>();
    for (const [i, t] of traffic.entries()) {
      const type = t.type ?? "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED";
      if (type === "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED") throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}].type must be specified.`);
      if (type === "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" && t.revision) throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}]: revision must be empty for type LATEST.`);
      if (type === "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION") {
        if (!t.revision) throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}].revision is required for type REVISION.`);
        if (!s.revisions.has(t.revision) && t.revision !== newRevision) throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}]: Revision '${t.revision}' does not exist.`);
      }
      if (t.percent !== undefined && (t.percent < 0 || t.percent > 100)) throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}].percent must be between 0 and 100.`);
      sum += t.percent ?? 0;
      if (t.tag !== undefined) {
        if (!TAG_RE.test(t.tag)) throw new ApiError(400, "INVALID_ARGUMENT", `traffic[${i}].tag '${t.tag}' is not a valid tag.`);
        if (tags.has(t.tag)) throw new ApiError(400, "INVALID_ARGUMENT", `traffic: tag '${t.tag}' is used more than once.`);
        tags.add(t.tag);
      }
    }
    if (sum !== 100) throw new ApiError(400, "INVALID_ARGUMENT", `traffic: percentages must sum to 100, got ${sum}.`);
    if (s.revisionOrder.length === 0 && newRevision === null) throw new ApiError(400, "INVALID_ARGUMENT", "template: a service needs a revision.");
    return newRevision;
  }

  private applyChange(s: ServiceState, spec: Record<string, unknown>, newRevision: string | null): Record<string, unknown> {
    s.spec = { ...spec, traffic: (spec.traffic as TargetSpec[] | undefined) ?? [{ type: "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent: 100 }] };
    s.generation++;
    s.updateTime = now();
    s.etag = `"${randomUUID()}"`;
    s.reconciling = true;
    s.terminal = { state: "CONDITION_RECONCILING", transition: s.updateTime };
    const opName = `${s.parent}/operations/${randomUUID()}`;
    const op: OperationState = { name: opName, done: false, metadata: this.serviceJson(s), waiters: [] };
    this.operations.set(opName, op);
    if (newRevision) {
      const { revision: _r, ...template } = s.spec.template as Record<string, unknown>;
      const r: RevisionState = { name: newRevision, uid: randomUUID(), createTime: now(), template: { ...template, revision: newRevision }, state: "CONDITION_RECONCILING", transition: now() };
      s.revisions.set(newRevision, r);
      s.revisionOrder.push(newRevision);
      s.latestCreated = newRevision;
    }
    if (this.stall) return this.operationJson(op);
    void this.rollOut(s, op, newRevision ? s.revisions.get(newRevision)! : null);
    return this.operationJson(op);
  }

  /** What Cloud Run does after accepting a change: start the revision, probe it, route traffic, finish the operation. */
  private async rollOut(s: ServiceState, op: OperationState, revision: RevisionState | null): Promise<void> {
    const generation = s.generation;
    if (revision) {
      const failure = await this.startAndProbe(s, revision);
      if (this.closed) return;
      revision.transition = now();
      if (failure) {
        revision.state = "CONDITION_FAILED";
        revision.reason = failure.reason;
        revision.message = failure.message;
        s.reconciling = false;
        s.observedGeneration = generation;
        s.terminal = { state: "CONDITION_FAILED", revisionReason: failure.reason, message: `Revision '${revision.name}' is not ready and cannot serve traffic. ${failure.message}`, transition: now() };
        this.finish(op, s, { code: 9, message: s.terminal.message! });
        return;
      }
      revision.state = "CONDITION_SUCCEEDED";
      s.latestReady = revision.name;
    } else {
      await this.sleep(this.options.operationMs ?? 20);
      if (this.closed) return;
    }
    await this.route_(s);
    s.reconciling = false;
    s.observedGeneration = generation;
    s.terminal = { state: "CONDITION_SUCCEEDED", transition: now() };
    this.finish(op, s);
  }

  private async startAndProbe(s: ServiceState, r: RevisionState): Promise<{ reason: string; message: string } | null> {
    const container = (r.template.containers as Array<Record<string, unknown>>)[0]!;
    const port = ((container.ports as Array<{ containerPort?: number }> | undefined)?.[0]?.containerPort ?? 8080) as number;
    const env = Object.fromEntries(((container.env as Array<{ name: string; value?: string }> | undefined) ?? []).map((e) => [e.name, e.value ?? ""]));
    try {
      r.upstream = (await this.options.startRevision({ service: s.id, revision: r.name, image: String(container.image), port, env: { ...env, PORT: String(port), K_SERVICE: s.id, K_REVISION: r.name } })).url;
    } catch (error) {
      return { reason: "HEALTH_CHECK_CONTAINER_ERROR", message: `The user-provided container failed to start: ${(error as Error).message}` };
    }
    const probe = (container.startupProbe as { httpGet?: { path?: string }; periodSeconds?: number; failureThreshold?: number; timeoutSeconds?: number; initialDelaySeconds?: number } | undefined) ?? {};
    const path = probe.httpGet?.path ?? "/";
    const period = (probe.periodSeconds ?? 10) * 1000;
    const threshold = probe.failureThreshold ?? 3;
    const timeout = (probe.timeoutSeconds ?? 1) * 1000;
    await this.sleep((probe.initialDelaySeconds ?? 0) * 1000);
    let last = "";
    for (let attempt = 0; attempt < threshold && !this.closed; attempt++) {
      try {
        const response = await fetch(new URL(path, r.upstream), { signal: AbortSignal.timeout(timeout) });
        await response.arrayBuffer();
        if (response.status >= 200 && response.status < 400) return null;
        last = `HTTP ${response.status}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (attempt + 1 < threshold) await this.sleep(period);
    }
    return { reason: "HEALTH_CHECK_CONTAINER_ERROR", message: `The user-provided container failed the configured startup probe checks (GET ${path}: ${last}).` };
  }

  private finish(op: OperationState, s: ServiceState, error?: { code: number; message: string }): void {
    op.done = true;
    op.metadata = this.serviceJson(s);
    if (error) op.error = error;
    else op.response = this.serviceJson(s);
    op.waiters.splice(0).forEach((w) => w());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Resolves the spec's traffic into statuses and (re)binds tag URLs. */
  private async route_(s: ServiceState): Promise<void> {
    if (!s.url) s.url = await listen(s.router);
    const statuses: StatusEntry[] = [];
    for (const t of s.spec.traffic as TargetSpec[]) {
      const revision = t.type === "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" ? s.latestReady : t.revision;
      if (!revision) continue;
      const entry: StatusEntry = { type: t.type!, revision, percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}) };
      if (t.tag) {
        let tagServer = s.tagServers.get(t.tag);
        if (!tagServer) {
          const tag = t.tag;
          const server = createServer((req, res) => this.routeTag(s, tag, req, res));
          tagServer = { server, url: await listen(server) };
          s.tagServers.set(tag, tagServer);
        }
        entry.uri = tagServer.url;
      }
      statuses.push(entry);
    }
    for (const [tag, t] of s.tagServers) {
      if (!statuses.some((e) => e.tag === tag)) {
        t.server.closeAllConnections();
        t.server.close();
        s.tagServers.delete(tag);
      }
    }
    s.statuses = statuses;
    s.wrr.clear();
  }

  // ---------------------------------------------------------------- serving

  private routeService(s: ServiceState, req: IncomingMessage, res: ServerResponse): void {
    // Smooth weighted round-robin (nginx's): deterministic shares, interleaved.
    const serving = s.statuses.filter((e) => e.percent > 0);
    let best: StatusEntry | undefined;
    for (const e of serving) {
      const w = (s.wrr.get(e.revision) ?? 0) + e.percent;
      s.wrr.set(e.revision, w);
      if (!best || w > s.wrr.get(best.revision)!) best = e;
    }
    if (!best) {
      res.writeHead(503).end("no revision serves traffic");
      return;
    }
    s.wrr.set(best.revision, s.wrr.get(best.revision)! - 100);
    this.routed.set(best.revision, (this.routed.get(best.revision) ?? 0) + 1);
    this.proxy(s.revisions.get(best.revision)?.upstream, req, res);
  }

  private routeTag(s: ServiceState, tag: string, req: IncomingMessage, res: ServerResponse): void {
    const entry = s.statuses.find((e) => e.tag === tag);
    this.proxy(entry ? s.revisions.get(entry.revision)?.upstream : undefined, req, res);
  }

  private proxy(upstream: string | undefined, req: IncomingMessage, res: ServerResponse): void {
    if (!upstream) {
      res.writeHead(404).end("no such revision");
      return;
    }
    const target = new URL(req.url ?? "/", upstream);
    const out = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`upstream error: ${error.message}`);
    });
    req.pipe(out);
  }

  // ---------------------------------------------------------------- JSON forms

  private serviceJson(s: ServiceState): Record<string, unknown> {
    const traffic = (s.spec.traffic as TargetSpec[] | undefined) ?? [];
    const json: Record<string, unknown> = {
      ...s.spec,
      name: s.name,
      uid: s.uid,
      generation: String(s.generation),
      createTime: s.createTime,
      updateTime: s.updateTime,
      creator: "deployer@example.iam.gserviceaccount.com",
      lastModifier: "deployer@example.iam.gserviceaccount.com",
      launchStage: "GA",
      template: { ...(s.spec.template as Record<string, unknown>) },
      traffic: traffic.map((t) => omitDefaults("google.cloud.run.v2.TrafficTarget", { ...t })),
      observedGeneration: String(s.observedGeneration),
      terminalCondition: this.condition(s.terminal.state, s.terminal.transition, s.terminal.message, s.terminal.revisionReason),
      conditions: [this.condition(s.terminal.state, s.terminal.transition, s.terminal.message, s.terminal.revisionReason)],
      latestReadyRevision: s.latestReady ? `${s.name}/revisions/${s.latestReady}` : "",
      latestCreatedRevision: s.latestCreated ? `${s.name}/revisions/${s.latestCreated}` : "",
      trafficStatuses: s.statuses.map((e) => omitDefaults("google.cloud.run.v2.TrafficTargetStatus", { ...e })),
      uri: s.url,
      urls: s.url ? [s.url] : [],
      reconciling: s.reconciling,
      etag: s.etag,
    };
    return omitDefaults(SERVICE_TYPE, json);
  }

  private condition(state: string, transition: string, message?: string, revisionReason?: string): Record<string, unknown> {
    return omitDefaults("google.cloud.run.v2.Condition", {
      type: "Ready",
      state,
      message: message ?? "",
      lastTransitionTime: transition,
      ...(state === "CONDITION_FAILED" ? { severity: "ERROR" } : {}),
      ...(revisionReason ? { revisionReason } : {}),
    });
  }

  private revisionJson(s: ServiceState, r: RevisionState): Record<string, unknown> {
    const t = r.template as Record<string, unknown>;
    return omitDefaults(REVISION_TYPE, {
      name: `${s.name}/revisions/${r.name}`,
      uid: r.uid,
      generation: "1",
      labels: t.labels ?? {},
      annotations: t.annotations ?? {},
      createTime: r.createTime,
      updateTime: r.transition,
      launchStage: "GA",
      service: s.name,
      scaling: t.scaling,
      maxInstanceRequestConcurrency: t.maxInstanceRequestConcurrency,
      timeout: t.timeout,
      serviceAccount: t.serviceAccount ?? "123-compute@developer.gserviceaccount.com",
      containers: t.containers,
      executionEnvironment: "EXECUTION_ENVIRONMENT_GEN2",
      reconciling: r.state === "CONDITION_RECONCILING",
      conditions: [
        omitDefaults("google.cloud.run.v2.Condition", {
          type: "Ready",
          state: r.state,
          message: r.message ?? "",
          lastTransitionTime: r.transition,
          ...(r.state === "CONDITION_FAILED" ? { severity: "ERROR", revisionReason: r.reason } : {}),
        }),
      ],
      observedGeneration: r.state === "CONDITION_RECONCILING" ? "0" : "1",
      logUri: `https://console.cloud.google.com/logs/viewer?resource=cloud_run_revision/service_name/${s.id}/revision_name/${r.name}`,
      etag: `"${r.uid}"`,
    });
  }

  private operationJson(op: OperationState): Record<string, unknown> {
    return omitDefaults(OPERATION_TYPE, {
      name: op.name,
      metadata: { "@type": `type.googleapis.com/${SERVICE_TYPE}`, ...op.metadata },
      done: op.done,
      ...(op.error ? { error: op.error } : {}),
      ...(op.response ? { response: { "@type": `type.googleapis.com/${SERVICE_TYPE}`, ...op.response } } : {}),
    });
  }
}

function withoutRevision(template: Record<string, unknown>): Record<string, unknown> {
  const { revision: _r, ...rest } = template;
  return rest;
}

export async function startCloudRunStandIn(options: CloudRunStandInOptions): Promise<CloudRunStandIn> {
  return new CloudRunStandIn(options).start();
}
