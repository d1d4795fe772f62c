import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for Slack's incoming webhooks (hooks.slack.com/services/T…/B…/…), answering the
 * way Slack does: `200 ok` for an accepted message; `400 invalid_payload` for a body that is not
 * JSON, `400 no_text` for a message without text, blocks or attachments, `400 invalid_blocks` for
 * blocks that break Block Kit's structure or limits; and, when scripted, `404 channel_not_found`,
 * `410 channel_is_archived`, `404 no_service`, `429 rate_limited` with Retry-After, `500`.
 *
 * Its Block Kit check is written from Slack's reference independently of pipeline/notify/limits.ts,
 * so a message the pipeline thinks fits is checked by a second reading of the rules.
 */
export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  json: unknown;
  /** What the receiver answered. */
  status: number;
  answer: string;
  problems: string[];
}

export type ScriptedAnswer =
  | { status: 429; retryAfter?: string }
  | { status: 500 | 502 | 503 }
  | { status: 404; error: "channel_not_found" | "no_service" }
  | { status: 410; error: "channel_is_archived" }
  | { status: 403; error: "invalid_token" | "action_prohibited" };

export interface SlackReceiver {
  /** A webhook URL on this receiver; the token part is what must stay secret. */
  webhookUrl: string;
  url: string;
  requests: ReceivedRequest[];
  /** Answers for the next requests, in order; once used up, messages are validated as Slack would. */
  script(...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

const LIMITS = { blocks: 50, header: 150, sectionText: 3000, fields: 10, field: 2000, contextElements: 10, contextText: 3000, actionsElements: 25, buttonText: 75, buttonUrl: 3000, actionId: 255, blockId: 255, text: 40000 };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function allowedKeys(o: Obj, keys: string[], path: string, problems: string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) problems.push(`${path}: unknown key "${k}"`);
}

function checkText(t: unknown, path: string, max: number, problems: string[], only?: "plain_text"): void {
  if (!isObj(t)) return void problems.push(`${path}: must be a text object`);
  if (t.type !== "plain_text" && t.type !== "mrkdwn") problems.push(`${path}.type: must be plain_text or mrkdwn`);
  if (only && t.type !== only) problems.push(`${path}.type: must be ${only}`);
  allowedKeys(t, t.type === "plain_text" ? ["type", "text", "emoji"] : ["type", "text", "verbatim"], path, problems);
  if (typeof t.text !== "string") return void problems.push(`${path}.text: must be a string`);
  if (t.text.trim().length === 0) problems.push(`${path}.text: must be more than 0 characters`);
  // Slack counts characters; count code points, the way a person would count what they see.
  if ([...t.text].length > max) problems.push(`${path}.text: must be less than ${max + 1} characters`);
}

function checkBlockId(b: Obj, path: string, problems: string[]): void {
  if (b.block_id !== undefined && (typeof b.block_id !== "string" || b.block_id.length > LIMITS.blockId)) problems.push(`${path}.block_id: too long`);
}

function isUrl(s: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}

/** Returns the problems Slack would report for a blocks array (empty when it is valid). */
export function blockKitProblems(blocks: unknown, path = "blocks"): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return [`${path}: must be an array`];
  if (blocks.length > LIMITS.blocks) problems.push(`${path}: must have at most ${LIMITS.blocks} items`);
  blocks.forEach((b, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(b)) return void problems.push(`${p}: must be an object`);
    checkBlockId(b, p, problems);
    switch (b.type) {
      case "header":
        allowedKeys(b, ["type", "text", "block_id"], p, problems);
        checkText(b.text, `${p}.text`, LIMITS.header, problems, "plain_text");
        break;
      case "section": {
        allowedKeys(b, ["type", "text", "fields", "block_id", "accessory"], p, problems);
        if (b.text === undefined && b.fields === undefined) problems.push(`${p}: must have text or fields`);
        if (b.text !== undefined) checkText(b.text, `${p}.text`, LIMITS.sectionText, problems);
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length === 0) problems.push(`${p}.fields: must be a non-empty array`);
          else {
            if (b.fields.length > LIMITS.fields) problems.push(`${p}.fields: must have at most ${LIMITS.fields} items`);
            b.fields.forEach((f, j) => checkText(f, `${p}.fields[${j}]`, LIMITS.field, problems));
          }
        }
        break;
      }
      case "context":
        allowedKeys(b, ["type", "elements", "block_id"], p, problems);
        if (!Array.isArray(b.elements) || b.elements.length === 0) problems.push(`${p}.elements: must be a non-empty array`);
        else {
          if (b.elements.length > LIMITS.contextElements) problems.push(`${p}.elements: must have at most ${LIMITS.contextElements} items`);
          b.elements.forEach((e, j) => checkText(e, `${p}.elements[${j}]`, LIMITS.contextText, problems));
        }
        break;
      case "actions": {
        allowedKeys(b, ["type", "elements", "block_id"], p, problems);
        if (!Array.isArray(b.elements) || b.elements.length === 0) return void problems.push(`${p}.elements: must be a non-empty array`);
        if (b.elements.length > LIMITS.actionsElements) problems.push(`${p}.elements: must have at most ${LIMITS.actionsElements} items`);
        const ids = new Set<string>();
        b.elements.forEach((e, j) => {
          const q = `${p}.elements[${j}]`;
          if (!isObj(e) || e.type !== "button") return void problems.push(`${q}: only buttons are expected`);
          allowedKeys(e, ["type", "text", "url", "action_id", "style", "value"], q, problems);
          checkText(e.text, `${q}.text`, LIMITS.buttonText, problems, "plain_text");
          if (e.url !== undefined && (typeof e.url !== "string" || e.url.length > LIMITS.buttonUrl || !isUrl(e.url))) problems.push(`${q}.url: must be a valid URL of at most ${LIMITS.buttonUrl} characters`);
          if (e.style !== undefined && e.style !== "primary" && e.style !== "danger") problems.push(`${q}.style: must be primary or danger`);
          if (typeof e.action_id === "string") {
            if (e.action_id.length > LIMITS.actionId) problems.push(`${q}.action_id: too long`);
            if (ids.has(e.action_id)) problems.push(`${q}.action_id: duplicate "${e.action_id}"`);
            ids.add(e.action_id);
          }
        });
        break;
      }
      case "divider":
        allowedKeys(b, ["type", "block_id"], p, problems);
        break;
      default:
        problems.push(`${p}.type: unknown block type ${JSON.stringify(b.type)}`);
    }
  });
  return problems;
}

/** Problems of a whole webhook payload, as Slack would see them. */
export function payloadProblems(json: unknown): { error: "invalid_payload" | "no_text" | "invalid_blocks" | null; problems: string[] } {
  if (!isObj(json)) return { error: "invalid_payload", problems: ["body must be a JSON object"] };
  const hasText = typeof json.text === "string" && json.text.trim() !== "";
  const hasBlocks = Array.isArray(json.blocks) && json.blocks.length > 0;
  const hasAttachments = Array.isArray(json.attachments) && json.attachments.length > 0;
  if (!hasText && !hasBlocks && !hasAttachments) return { error: "no_text", problems: ["no text, blocks or attachments"] };
  const problems: string[] = [];
  if (typeof json.text === "string" && json.text.length > LIMITS.text) problems.push(`text: longer than ${LIMITS.text}`);
  if (json.blocks !== undefined) problems.push(...blockKitProblems(json.blocks));
  if (json.attachments !== undefined) {
    if (!Array.isArray(json.attachments)) problems.push("attachments: must be an array");
    else
      json.attachments.forEach((a, i) => {
        if (!isObj(a)) return void problems.push(`attachments[${i}]: must be an object`);
        if (a.color !== undefined && (typeof a.color !== "string" || !/^(#[0-9a-f]{6}|good|warning|danger)$/i.test(a.color))) problems.push(`attachments[${i}].color: must be a hex colour`);
        if (a.blocks !== undefined) problems.push(...blockKitProblems(a.blocks, `attachments[${i}].blocks`));
      });
  }
  return { error: problems.length ? "invalid_blocks" : null, problems };
}

const WEBHOOK_PATH = /^\/services\/T[A-Z0-9]+\/B[A-Z0-9]+\/[A-Za-z0-9]+$/;

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const requests: ReceivedRequest[] = [];
  const queue: ScriptedAnswer[] = [];
  const token = `x${Math.random().toString(36).slice(2)}SECRETtoken`;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown = undefined;
      let status = 200;
      let answer = "ok";
      let problems: string[] = [];
      const headers: Record<string, string> = { "content-type": "text/html" };
      const path = req.url ?? "";
      const scripted = queue.shift();
      if (req.method !== "POST") [status, answer] = [405, "invalid_request"];
      else if (!WEBHOOK_PATH.test(path)) [status, answer] = [404, "no_service"];
      else if (scripted) {
        status = scripted.status;
        answer = "error" in scripted ? scripted.error : scripted.status === 429 ? "rate_limited" : "internal_error";
        if (scripted.status === 429) headers["retry-after"] = scripted.retryAfter ?? "1";
      } else if (!/^application\/json/.test(req.headers["content-type"] ?? "")) [status, answer] = [400, "invalid_payload"];
      else {
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const checked = json === undefined ? { error: "invalid_payload" as const, problems: ["not JSON"] } : payloadProblems(json);
        problems = checked.problems;
        if (checked.error) [status, answer] = [400, checked.error];
      }
      if (json === undefined) {
        try {
          json = JSON.parse(body);
        } catch {
          // Kept as raw body only.
        }
      }
      requests.push({ path, headers: req.headers, body, json, status, answer, problems });
      res.writeHead(status, headers).end(answer);
    });
  };
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    webhookUrl: `${url}/services/T0TEST0/B0TEST0/${token}`,
    requests,
    script: (...answers) => void queue.push(...answers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
