import type { EnvironmentConfig } from "../config/schema.js";
import type { Reporter } from "../core/reporter.js";
import type { Clock } from "./clock.js";

/**
 * The smoke test of a revision that has no traffic yet, through its tag URL: several consecutive
 * healthy /ready answers, then /predict on fixture rows whose expected class is known, each answer
 * carrying `X-Model-Version` equal to the version being deployed.
 */

export interface SmokeCase {
  name: string;
  input: Record<string, number | string | null>;
  /** The class the artifact being deployed predicts for this input (computed locally). */
  expect: string;
  /** Classes it must never be (the config's sanity cases). */
  expectNot?: string[];
}

export interface SmokeCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface SmokeResult {
  passed: boolean;
  checks: SmokeCheck[];
  /** The first failed check, for the failure message. */
  reason?: string;
}

export interface SmokeInput {
  url: string;
  settings: EnvironmentConfig["smoke"];
  cases: SmokeCase[];
  expectedVersion: string;
  /** When set, predict answers' `content_sha256` must equal it. */
  expectedContentSha256?: string;
  fetch: typeof fetch;
  clock: Clock;
  reporter: Reporter;
  /** Authentication for the service (an ID token), if it needs one. */
  headers?: Record<string, string>;
  /** Stops waiting (the local target's server died). */
  signal?: AbortSignal;
}

async function timedFetch(input: SmokeInput, path: string, init: RequestInit = {}): Promise<Response> {
  const signal = AbortSignal.timeout(input.settings.request_timeout_seconds * 1000);
  return input.fetch(new URL(path, input.url), { ...init, signal, headers: { ...(input.headers ?? {}), ...((init.headers as Record<string, string>) ?? {}) } });
}

async function waitReady(input: SmokeInput): Promise<SmokeCheck> {
  const { settings, clock } = input;
  const deadline = clock.now() + settings.timeout_seconds * 1000;
  let consecutive = 0;
  let last: string;
  let attempts = 0;
  while (true) {
    attempts++;
    try {
      const response = await timedFetch(input, "/ready");
      const body = await response.text();
      if (response.status === 200) {
        consecutive++;
        last = `200 ${body.slice(0, 120)}`;
      } else {
        consecutive = 0;
        last = `${response.status} ${body.slice(0, 200)}`;
      }
    } catch (error) {
      consecutive = 0;
      last = (error as Error).message;
    }
    if (consecutive >= settings.ready_checks) return { name: "ready", passed: true, detail: `${consecutive} consecutive healthy /ready answers (${attempts} requests)` };
    if (clock.now() >= deadline || input.signal?.aborted) {
      return { name: "ready", passed: false, detail: `/ready was not healthy ${settings.ready_checks} times in a row within ${settings.timeout_seconds} s (last: ${last})` };
    }
    await clock.sleep(settings.interval_seconds * 1000);
  }
}

async function predictCase(input: SmokeInput, c: SmokeCase): Promise<SmokeCheck> {
  const name = `predict: ${c.name}`;
  let response: Response;
  let text: string;
  try {
    response = await timedFetch(input, "/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(c.input) });
    text = await response.text();
  } catch (error) {
    return { name, passed: false, detail: `POST /predict failed: ${(error as Error).message}` };
  }
  if (response.status !== 200) return { name, passed: false, detail: `POST /predict answered ${response.status}: ${text.slice(0, 300)}` };
  const version = response.headers.get("x-model-version");
  if (version !== input.expectedVersion) {
    return { name, passed: false, detail: `X-Model-Version is ${version === null ? "missing" : JSON.stringify(version)}, expected ${JSON.stringify(input.expectedVersion)}: the revision serves another model` };
  }
  let body: { class?: unknown; content_sha256?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return { name, passed: false, detail: `POST /predict answered non-JSON: ${text.slice(0, 200)}` };
  }
  if (input.expectedContentSha256 && body.content_sha256 !== undefined && body.content_sha256 !== input.expectedContentSha256) {
    return { name, passed: false, detail: `content_sha256 is ${String(body.content_sha256)}, expected ${input.expectedContentSha256}` };
  }
  if (body.class !== c.expect) return { name, passed: false, detail: `predicted ${JSON.stringify(body.class)}, the artifact predicts ${JSON.stringify(c.expect)}` };
  if (c.expectNot?.includes(c.expect)) return { name, passed: false, detail: `predicted ${JSON.stringify(c.expect)}, which this case must never be` };
  return { name, passed: true, detail: `${c.expect} (X-Model-Version ${version})` };
}

/** Warms the revision (JIT, caches) before it takes traffic; a failed warm-up answer fails the smoke test too. */
async function warmUp(input: SmokeInput): Promise<SmokeCheck> {
  const n = input.settings.warmup_requests;
  for (let i = 0; i < n; i++) {
    const c = input.cases[i % input.cases.length]!;
    try {
      const response = await timedFetch(input, "/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(c.input) });
      await response.arrayBuffer();
      if (response.status !== 200) return { name: "warm-up", passed: false, detail: `prediction ${i + 1} of ${n} answered ${response.status}` };
    } catch (error) {
      return { name: "warm-up", passed: false, detail: `prediction ${i + 1} of ${n} failed: ${(error as Error).message}` };
    }
  }
  return { name: "warm-up", passed: true, detail: `${n} predictions before any traffic` };
}

export async function smokeTest(input: SmokeInput): Promise<SmokeResult> {
  const checks: SmokeCheck[] = [];
  const ready = await waitReady(input);
  checks.push(ready);
  if (ready.passed) {
    for (const c of input.cases) checks.push(await predictCase(input, c));
  }
  if (checks.every((c) => c.passed) && input.settings.warmup_requests > 0 && input.cases.length > 0) checks.push(await warmUp(input));
  const failed = checks.find((c) => !c.passed);
  for (const c of checks) input.reporter.info(`smoke ${c.passed ? "✔" : "✖"} ${c.name}: ${c.detail}`);
  return { passed: !failed, checks, ...(failed ? { reason: `smoke test ${failed.name}: ${failed.detail}` } : {}) };
}
