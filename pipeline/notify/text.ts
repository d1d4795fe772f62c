import type { Block, SlackMessage, TextObject } from "./blocks.js";

/** Turns Slack mrkdwn back into terminal text: links show their URL, entities are decoded. */
function plain(text: string): string {
  return text
    .replace(/<([^|>]+)\|([^>]+)>/g, "$2 ($1)")
    .replace(/<([^>]+)>/g, "$1")
    .replace(/```/g, "")
    .replace(/\*([^*\n]+)\*/g, "$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function textOf(t: TextObject | undefined): string {
  return t ? plain(t.text) : "";
}

function blockLines(block: Block): string[] {
  switch (block.type) {
    case "header":
      return [block.text.text, "─".repeat(Math.min(60, Math.max(10, block.text.text.length)))];
    case "section": {
      const lines: string[] = [];
      if (block.text) lines.push(...textOf(block.text).split("\n"));
      // Fields are "*Label*\nvalue": one "Label: value" line each.
      for (const f of block.fields ?? []) {
        const [label, ...rest] = textOf(f).split("\n");
        lines.push(rest.length ? `${label}: ${rest.join(" ")}` : label!);
      }
      return lines;
    }
    case "actions":
      return block.elements.map((b) => `${b.text.text}: ${b.url ?? "-"}`);
    case "context":
      return [block.elements.map(textOf).join("  ·  ")];
    case "divider":
      return [""];
  }
}

/**
 * The message as readable console text, built from the very blocks Slack would get, so that the
 * local loop shows what a channel would see.
 */
export function renderMessageText(message: SlackMessage): string {
  const blocks = [...(message.blocks ?? []), ...(message.attachments ?? []).flatMap((a) => a.blocks)];
  if (blocks.length === 0) return plain(message.text) + "\n";
  return blocks.flatMap(blockLines).join("\n") + "\n";
}
