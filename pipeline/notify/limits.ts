import type { ActionsBlock, Attachment, Block, ButtonElement, ContextBlock, SectionBlock, SlackMessage, TextObject } from "./blocks.js";

/**
 * Block Kit's published limits (api.slack.com/reference/block-kit). Slack answers a message that
 * breaks one with `invalid_blocks` and shows nothing, and no npm package checks them, so every
 * message goes through fitToBlockKitLimits before it is sent: a notification that arrives shortened
 * is worth more than a precise one that does not arrive.
 *
 * Lengths are counted in UTF-16 code units (String.length), which is never less than the character
 * count Slack uses, so a message that fits here fits there.
 */
export const BLOCK_KIT_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  contextText: 3000,
  actionsElements: 25,
  buttonText: 75,
  buttonUrl: 3000,
  actionId: 255,
  blockId: 255,
  attachments: 100,
  /** Slack truncates longer top-level text; it recommends staying under 4,000 characters. */
  fallbackText: 4000,
} as const;

export const ELLIPSIS = "…";

/** A change fitToBlockKitLimits made, for a warning and for tests. */
export interface LimitAdjustment {
  path: string;
  what: string;
}

export interface FittedMessage {
  message: SlackMessage;
  adjustments: LimitAdjustment[];
}

/**
 * Shortens `text` to at most `max` UTF-16 units, ending in an ellipsis when it was cut. Never
 * splits a surrogate pair, and in mrkdwn never leaves half an `&amp;` entity or an unclosed `<link|`
 * behind (Slack would show the debris literally).
 */
export function truncateText(text: string, max: number, mrkdwn = false): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - ELLIPSIS.length));
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  if (mrkdwn) {
    cut = cut.replace(/&[a-z]{0,4}$/, "");
    const open = cut.lastIndexOf("<");
    if (open > cut.lastIndexOf(">")) cut = cut.slice(0, open);
  }
  return cut + ELLIPSIS;
}

/** Slack refuses empty text objects; a dash says "no value" without breaking the message. */
const EMPTY = "-";

function fitText<T extends TextObject>(obj: T, max: number, path: string, adj: LimitAdjustment[]): T {
  let text = typeof obj.text === "string" ? obj.text : String(obj.text ?? "");
  if (text.trim() === "") {
    adj.push({ path, what: "empty text replaced by a dash" });
    text = EMPTY;
  }
  if (text.length > max) {
    adj.push({ path, what: `text of ${text.length} characters truncated to ${max}` });
    text = truncateText(text, max, obj.type === "mrkdwn");
  }
  return { ...obj, text };
}

function fitId(id: string | undefined, path: string, adj: LimitAdjustment[]): string | undefined {
  if (id === undefined || id.length <= BLOCK_KIT_LIMITS.blockId) return id;
  adj.push({ path, what: `id of ${id.length} characters shortened` });
  return id.slice(0, BLOCK_KIT_LIMITS.blockId);
}

function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}

function fitSection(block: SectionBlock, path: string, adj: LimitAdjustment[]): SectionBlock | null {
  const out: SectionBlock = { type: "section" };
  if (block.block_id !== undefined) out.block_id = fitId(block.block_id, `${path}.block_id`, adj);
  if (block.text) out.text = fitText(block.text, BLOCK_KIT_LIMITS.sectionText, `${path}.text`, adj);
  // Slack refuses an empty fields array (invalid_blocks), so it is dropped, and said so.
  if (block.fields && block.fields.length === 0) adj.push({ path: `${path}.fields`, what: "empty fields array removed" });
  if (block.fields && block.fields.length > 0) {
    let fields = block.fields;
    if (fields.length > BLOCK_KIT_LIMITS.fields) {
      const dropped = fields.length - (BLOCK_KIT_LIMITS.fields - 1);
      adj.push({ path: `${path}.fields`, what: `${fields.length} fields, the last ${dropped} folded into one` });
      fields = [...fields.slice(0, BLOCK_KIT_LIMITS.fields - 1), { type: "mrkdwn", text: `_…and ${dropped} more_` }];
    }
    out.fields = fields.map((f, i) => fitText(f, BLOCK_KIT_LIMITS.fieldText, `${path}.fields.${i}`, adj));
  }
  // A section needs text or fields.
  if (!out.text && !out.fields) return null;
  return out;
}

function fitContext(block: ContextBlock, path: string, adj: LimitAdjustment[]): ContextBlock | null {
  let elements = block.elements ?? [];
  if (elements.length === 0) return null;
  if (elements.length > BLOCK_KIT_LIMITS.contextElements) {
    adj.push({ path: `${path}.elements`, what: `${elements.length} context elements, the rest joined into the last` });
    const keep = elements.slice(0, BLOCK_KIT_LIMITS.contextElements - 1);
    const rest = elements.slice(BLOCK_KIT_LIMITS.contextElements - 1).map((e) => e.text).join("  ·  ");
    elements = [...keep, { type: "mrkdwn", text: rest }];
  }
  const out: ContextBlock = { type: "context", elements: elements.map((e, i) => fitText(e, BLOCK_KIT_LIMITS.contextText, `${path}.elements.${i}`, adj)) };
  if (block.block_id !== undefined) out.block_id = fitId(block.block_id, `${path}.block_id`, adj);
  return out;
}

function fitActions(block: ActionsBlock, path: string, adj: LimitAdjustment[]): ActionsBlock | null {
  const buttons: ButtonElement[] = [];
  const ids = new Set<string>();
  (block.elements ?? []).forEach((b, i) => {
    const where = `${path}.elements.${i}`;
    // A cut URL would be a wrong link: a button whose URL is too long or not http(s) is dropped.
    if (b.url !== undefined && (b.url.length > BLOCK_KIT_LIMITS.buttonUrl || !isHttpUrl(b.url))) {
      adj.push({ path: `${where}.url`, what: b.url.length > BLOCK_KIT_LIMITS.buttonUrl ? `URL of ${b.url.length} characters: button dropped` : "not an http(s) URL: button dropped" });
      return;
    }
    if (buttons.length >= BLOCK_KIT_LIMITS.actionsElements) {
      adj.push({ path: where, what: `more than ${BLOCK_KIT_LIMITS.actionsElements} buttons: dropped` });
      return;
    }
    let id = (b.action_id ?? `button-${i}`).slice(0, BLOCK_KIT_LIMITS.actionId) || `button-${i}`;
    // action_id must be unique within the message's actions block.
    while (ids.has(id)) id = `${id.slice(0, BLOCK_KIT_LIMITS.actionId - 4)}-${i}`.slice(0, BLOCK_KIT_LIMITS.actionId);
    ids.add(id);
    if (id !== b.action_id) adj.push({ path: `${where}.action_id`, what: b.action_id === undefined ? `missing action_id set to "${id}"` : `action_id "${b.action_id}" made unique and short: "${id}"` });
    const button: ButtonElement = { type: "button", text: fitText(b.text, BLOCK_KIT_LIMITS.buttonText, `${where}.text`, adj), action_id: id };
    if (button.text.type !== "plain_text") {
      adj.push({ path: `${where}.text`, what: "button text must be plain_text" });
      button.text = { type: "plain_text", text: button.text.text };
    }
    if (b.url !== undefined) button.url = b.url;
    if (b.style === "primary" || b.style === "danger") button.style = b.style;
    buttons.push(button);
  });
  if (buttons.length === 0) return null;
  const out: ActionsBlock = { type: "actions", elements: buttons };
  if (block.block_id !== undefined) out.block_id = fitId(block.block_id, `${path}.block_id`, adj);
  return out;
}

function fitBlock(block: Block, path: string, adj: LimitAdjustment[]): Block | null {
  switch (block.type) {
    case "header": {
      const text = fitText({ ...block.text, type: "plain_text" as const, text: block.text?.text ?? "" }, BLOCK_KIT_LIMITS.headerText, `${path}.text`, adj);
      return block.block_id !== undefined ? { type: "header", text, block_id: fitId(block.block_id, `${path}.block_id`, adj) } : { type: "header", text };
    }
    case "section":
      return fitSection(block, path, adj);
    case "context":
      return fitContext(block, path, adj);
    case "actions":
      return fitActions(block, path, adj);
    case "divider":
      return block.block_id !== undefined ? { type: "divider", block_id: fitId(block.block_id, `${path}.block_id`, adj) } : { type: "divider" };
  }
}

function fitBlocks(blocks: Block[], path: string, adj: LimitAdjustment[]): Block[] {
  const fitted: Block[] = [];
  blocks.forEach((b, i) => {
    const f = fitBlock(b, `${path}.${i}`, adj);
    if (f) fitted.push(f);
    else adj.push({ path: `${path}.${i}`, what: `empty ${b.type} block dropped` });
  });
  if (fitted.length <= BLOCK_KIT_LIMITS.blocks) return fitted;
  const omitted = fitted.length - (BLOCK_KIT_LIMITS.blocks - 1);
  adj.push({ path, what: `${fitted.length} blocks, the last ${omitted} omitted` });
  return [...fitted.slice(0, BLOCK_KIT_LIMITS.blocks - 1), { type: "context", elements: [{ type: "mrkdwn", text: `_…${omitted} more blocks omitted (Slack shows at most ${BLOCK_KIT_LIMITS.blocks})_` }] }];
}

/**
 * Returns a copy of the message that keeps every Block Kit limit: long texts end in an ellipsis,
 * surplus fields and context elements are folded, surplus blocks are replaced by a note, buttons
 * with unusable URLs are dropped, empty texts become a dash. Never throws on size.
 */
export function fitToBlockKitLimits(message: SlackMessage): FittedMessage {
  const adjustments: LimitAdjustment[] = [];
  let text = typeof message.text === "string" ? message.text : "";
  if (text.trim() === "") {
    text = EMPTY;
    adjustments.push({ path: "text", what: "empty fallback text replaced by a dash" });
  }
  if (text.length > BLOCK_KIT_LIMITS.fallbackText) {
    adjustments.push({ path: "text", what: `fallback text of ${text.length} characters truncated` });
    text = truncateText(text, BLOCK_KIT_LIMITS.fallbackText, true);
  }
  const out: SlackMessage = { text };
  if (message.blocks) out.blocks = fitBlocks(message.blocks, "blocks", adjustments);
  if (message.attachments) {
    const attachments: Attachment[] = message.attachments.slice(0, BLOCK_KIT_LIMITS.attachments).map((a, i) => {
      const fitted: Attachment = { color: a.color, blocks: fitBlocks(a.blocks ?? [], `attachments.${i}.blocks`, adjustments) };
      if (a.fallback !== undefined) fitted.fallback = truncateText(a.fallback, BLOCK_KIT_LIMITS.fallbackText);
      return fitted;
    });
    if (message.attachments.length > BLOCK_KIT_LIMITS.attachments) adjustments.push({ path: "attachments", what: "surplus attachments dropped" });
    out.attachments = attachments;
  }
  return { message: out, adjustments };
}
