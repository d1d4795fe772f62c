import type { z } from "zod";
import { PipelineError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import type { Clock } from "./clock.js";
import {
  GoogleErrorSchema,
  ListRevisionsResponseSchema,
  OperationSchema,
  RevisionSchema,
  ServiceSchema,
  type Operation,
  type Revision,
  type Service,
} from "./cloud-run-types.js";

/** The Admin API root; `CLOUD_RUN_API_URL` overrides it (tests, users behind a proxy). */
export const DEFAULT_CLOUD_RUN_API_URL = "https://run.googleapis.com";

/** A bearer token for the Admin API, fetched (and refreshed) on every call. */
export type AccessTokenProvider = () => Promise<string>;

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff; doubled each retry, with full jitter. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 6, baseMs: 1000, maxMs: 32_000 };

export interface CloudRunApiOptions {
  apiUrl?: string;
  token: AccessTokenProvider;
  fetch?: typeof fetch;
  clock: Clock;
  retry?: RetryPolicy;
  reporter?: Reporter;
  /** Jitter source (0..1); passed in so a test can make backoff deterministic. */
  random?: () => number;
}

/**
 * A failed Admin API call, with Google's status (`NOT_FOUND`, `PERMISSION_DENIED`, ...). A 400 is a
 * request the config produced, so it exits 2 like other bad input; anything else fails the deploy.
 */
export class CloudRunApiError extends PipelineError {
  readonly httpStatus: number;
  readonly status: string;
  constructor(method: string, path: string, httpStatus: number, status: string, message: string) {
    const hint = httpStatus === 403 ? " (the deployer needs roles/run.developer on the service and roles/iam.serviceAccountUser on its runtime service account)" : "";
    super(`Cloud Run API ${method} ${path}: ${httpStatus} ${status}: ${message}${hint}`, httpStatus === 400 ? 2 : 1);
    this.httpStatus = httpStatus;
    this.status = status;
  }
}

/** Google answers these when a caller should come back later; both are safe to retry for our calls. */
const RETRYABLE = new Set([429, 503]);

/**
 * `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). Returns ms to wait, or
 * null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null || value.trim() === "") return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : null;
}

/**
 * The Cloud Run Admin API v2 over REST: the few methods a deploy needs. Every call retries 429 and
 * 503 with exponential backoff and full jitter, honouring `Retry-After` when the server sends it.
 */
export class CloudRunApi {
  readonly apiUrl: string;
  private readonly options: CloudRunApiOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly retry: RetryPolicy;
  /** Count of retried calls, for the deploy report. */
  retried = 0;

  constructor(options: CloudRunApiOptions) {
    this.options = options;
    this.apiUrl = (options.apiUrl ?? DEFAULT_CLOUD_RUN_API_URL).replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? fetch;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** services.get; null when the service does not exist (a first deploy). */
  async getService(name: string): Promise<Service | null> {
    return this.call("GET", `/v2/${name}`, undefined, ServiceSchema, { notFoundIsNull: true });
  }

  /** services.create: `parent` is projects/P/locations/R. */
  async createService(parent: string, serviceId: string, service: Record<string, unknown>): Promise<Operation> {
    return (await this.call("POST", `/v2/${parent}/services?serviceId=${encodeURIComponent(serviceId)}`, service, OperationSchema))!;
  }

  /** services.patch: the body is the whole updatable service (with its etag, so a concurrent change is refused). */
  async updateService(service: Record<string, unknown> & { name: string }): Promise<Operation> {
    return (await this.call("PATCH", `/v2/${service.name}`, service, OperationSchema))!;
  }

  async getOperation(name: string): Promise<Operation> {
    return (await this.call("GET", `/v2/${name}`, undefined, OperationSchema))!;
  }

  /** operations.wait: the server holds the call until the operation is done or `timeoutSeconds` pass. */
  async waitOperation(name: string, timeoutSeconds: number): Promise<Operation> {
    return (await this.call("POST", `/v2/${name}:wait`, { timeout: `${Math.max(1, Math.round(timeoutSeconds))}s` }, OperationSchema))!;
  }

  async getRevision(name: string): Promise<Revision | null> {
    return this.call("GET", `/v2/${name}`, undefined, RevisionSchema, { notFoundIsNull: true });
  }

  async listRevisions(serviceName: string): Promise<Revision[]> {
    const out: Revision[] = [];
    let pageToken: string | undefined;
    do {
      const q = pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : "";
      const page = (await this.call("GET", `/v2/${serviceName}/revisions${q}`, undefined, ListRevisionsResponseSchema))!;
      out.push(...(page.revisions ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    return out;
  }

  private async call<S extends z.ZodType>(method: string, path: string, body: unknown, schema: S, opts: { notFoundIsNull?: boolean } = {}): Promise<z.infer<S> | null> {
    const { clock } = this.options;
    const random = this.options.random ?? Math.random;
    for (let attempt = 0; ; attempt++) {
      const token = await this.options.token();
      this.options.reporter?.secret(token);
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.apiUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch (error) {
        // A dropped connection is as transient as a 503; every call we make is safe to repeat.
        if (attempt < this.retry.retries) {
          await this.backoff(attempt, null, random, `${method} ${path}: ${(error as Error).message}`);
          continue;
        }
        throw new PipelineError(`Cloud Run API ${method} ${path}: ${(error as Error).message}`, 1, { cause: error });
      }
      if (RETRYABLE.has(response.status) && attempt < this.retry.retries) {
        const wait = parseRetryAfter(response.headers.get("retry-after"), clock.now());
        await response.arrayBuffer().catch(() => undefined);
        await this.backoff(attempt, wait, random, `${method} ${path}: ${response.status}`);
        continue;
      }
      const text = await response.text();
      if (response.status === 404 && opts.notFoundIsNull) return null;
      if (!response.ok) {
        let status = response.statusText || "ERROR";
        let message = text.slice(0, 500);
        try {
          const parsed = GoogleErrorSchema.safeParse(JSON.parse(text));
          if (parsed.success) {
            status = parsed.data.error.status ?? status;
            message = parsed.data.error.message ?? message;
          }
        } catch {
          // Not JSON (a proxy's HTML page): keep the text.
        }
        throw new CloudRunApiError(method, path, response.status, status, message);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new PipelineError(`Cloud Run API ${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`, 1);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new PipelineError(`Cloud Run API ${method} ${path}: unexpected answer at ${issue.path.join(".") || "(root)"}: ${issue.message}`, 1);
      }
      return parsed.data as z.infer<S>;
    }
  }

  private async backoff(attempt: number, retryAfterMs: number | null, random: () => number, what: string): Promise<void> {
    this.retried++;
    const exp = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** attempt);
    // Retry-After is the server's word; without it, full jitter spreads concurrent deployers out.
    const wait = retryAfterMs !== null ? Math.min(retryAfterMs, Math.max(this.retry.maxMs, 60_000)) : Math.round(exp * random());
    this.options.reporter?.info(`Cloud Run API ${what}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 2} of ${this.retry.retries + 1})`);
    await this.options.clock.sleep(wait);
  }
}
