import { IncomingWebhook, IncomingWebhookHTTPError, type FetchFunction } from "@slack/webhook";
import type { SlackMessage } from "./blocks.js";

/**
 * Delivery to an incoming webhook with our own retry loop. @slack/webhook 8 retries 5xx only when
 * given a p-retry policy and fails 429 at once without exposing Retry-After, so it runs with
 * `retries: 0` and this loop decides: 429 waits what Retry-After says, 5xx and network errors back
 * off exponentially, other 4xx (invalid_blocks, channel_not_found, channel_is_archived, a revoked
 * webhook) are final. Nothing here throws: the caller turns a failed delivery into a warning.
 */
export interface SendOptions {
  url: string;
  message: SlackMessage;
  fetch?: FetchFunction;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** First back-off; doubles per attempt. */
  backoffMs?: number;
  /** The longest wait between attempts, Retry-After included; a longer Retry-After ends the attempts. */
  maxWaitMs?: number;
  timeoutMs?: number;
}

export interface SendAttempt {
  status: number | null;
  /** Slack's error code from the body (e.g. "invalid_blocks"), or the network error. */
  error: string | null;
  /** The wait before the next attempt, if there is one. */
  waitMs: number | null;
}

export interface SendResult {
  delivered: boolean;
  attempts: SendAttempt[];
  /** Why it was not delivered, with a hint, the webhook URL scrubbed. */
  error: string | null;
}

const HINTS: Record<string, string> = {
  invalid_blocks: "Slack refused the message's blocks (a bug in the message builder: please report it with the run's log)",
  invalid_payload: "Slack could not parse the message",
  no_text: "the message had no text",
  channel_not_found: "the webhook's channel was deleted or the app lost access to it: create a new webhook",
  channel_is_archived: "the webhook's channel is archived: unarchive it or create a webhook for another channel",
  no_service: "the webhook was removed or revoked: create a new one and update the secret",
  invalid_token: "the webhook was revoked: create a new one and update the secret",
  action_prohibited: "a workspace admin restricted posting to this channel",
  posting_to_general_channel_denied: "only admins may post to this channel",
  too_many_attachments: "the message had too many attachments",
  rate_limited: "Slack is rate limiting this webhook",
};

/** Removes the webhook URL (and its path, which is the secret part) from any text. */
export function scrubWebhookUrl(text: string, url: string): string {
  let out = text;
  const pieces = new Set<string>([url]);
  try {
    const u = new URL(url);
    if (u.pathname.length > 1) pieces.add(u.pathname);
    pieces.add(u.href);
  } catch {
    // Not a URL: the literal string is all there is to remove.
  }
  for (const p of [...pieces].sort((a, b) => b.length - a.length)) if (p) out = out.split(p).join("***");
  // Any Slack webhook path that slipped through in another form (encoded, another webhook).
  return out.replace(/hooks\.slack(?:-gov)?\.com\/(?:services|workflows|triggers)\/[^\s"')]+/gi, "hooks.slack.com/***");
}

/** Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (value === null || value.trim() === "") return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now.getTime());
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function sendToSlack(options: SendOptions): Promise<SendResult> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const backoffMs = options.backoffMs ?? 1000;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? (() => new Date());
  const baseFetch: FetchFunction = options.fetch ?? (globalThis.fetch as unknown as FetchFunction);
  const attempts: SendAttempt[] = [];
  const scrub = (s: string) => scrubWebhookUrl(s, options.url);

  for (let attempt = 1; ; attempt++) {
    // The library keeps response headers to itself; this wrapper sees Retry-After on the way past.
    let retryAfter: string | null = null;
    const fetch: FetchFunction = async (url, init) => {
      const response = await baseFetch(url, init);
      retryAfter = response.headers.get("retry-after");
      return response;
    };
    const webhook = new IncomingWebhook(options.url, { fetch, timeout: options.timeoutMs ?? 10_000, retryConfig: { retries: 0 } });
    let status: number | null = null;
    let code: string;
    let retryable: boolean;
    try {
      await webhook.send(options.message as unknown as Parameters<IncomingWebhook["send"]>[0]);
      attempts.push({ status: 200, error: null, waitMs: null });
      return { delivered: true, attempts, error: null };
    } catch (error) {
      if (error instanceof IncomingWebhookHTTPError) {
        status = error.statusCode;
        code = String(error.body ?? "").trim().slice(0, 200) || `HTTP ${status}`;
        retryable = status === 429 || status >= 500;
      } else {
        const e = error as Error & { original?: Error; cause?: unknown };
        const cause = e.original?.cause ?? e.cause;
        code = `${e.message}${cause instanceof Error ? ` (${cause.message})` : ""}`;
        retryable = true;
      }
    }
    code = scrub(code);
    let waitMs: number | null = null;
    let stop: string | null = null;
    if (!retryable) stop = "";
    else if (attempt >= maxAttempts) stop = ` after ${attempt} attempt${attempt > 1 ? "s" : ""}`;
    else {
      const asked = status !== null ? parseRetryAfter(retryAfter, now()) : null;
      if (asked !== null && asked > maxWaitMs) {
        // Retrying before Slack allows it would only be refused again.
        stop = `: Slack asked to retry after ${Math.ceil(asked / 1000)} s, more than the ${Math.round(maxWaitMs / 1000)} s this step waits`;
      } else waitMs = Math.min(asked ?? backoffMs * 2 ** (attempt - 1), maxWaitMs);
    }
    attempts.push({ status, error: code, waitMs: stop === null ? waitMs : null });
    if (stop !== null) {
      const hint = HINTS[code];
      return { delivered: false, attempts, error: scrub(`Slack ${status !== null ? `answered ${status} ${code}` : `was not reached: ${code}`}${stop}${hint ? ` (${hint})` : ""}`) };
    }
    await sleep(waitMs!);
  }
}
