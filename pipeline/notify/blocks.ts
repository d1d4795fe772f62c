/**
 * The subset of Slack's Block Kit this pipeline sends. Our own types rather than @slack/types (a
 * transitive dependency of @slack/webhook, not ours to import), kept to the fields we use so that
 * the limit check in limits.ts can reason about every string a message carries.
 */
export interface PlainText {
  type: "plain_text";
  text: string;
  emoji?: boolean;
}

export interface Mrkdwn {
  type: "mrkdwn";
  text: string;
}

export type TextObject = PlainText | Mrkdwn;

export interface HeaderBlock {
  type: "header";
  text: PlainText;
  block_id?: string;
}

export interface SectionBlock {
  type: "section";
  text?: TextObject;
  fields?: TextObject[];
  block_id?: string;
}

export interface DividerBlock {
  type: "divider";
  block_id?: string;
}

export interface ContextBlock {
  type: "context";
  elements: TextObject[];
  block_id?: string;
}

export interface ButtonElement {
  type: "button";
  text: PlainText;
  url?: string;
  action_id: string;
  style?: "primary" | "danger";
}

export interface ActionsBlock {
  type: "actions";
  elements: ButtonElement[];
  block_id?: string;
}

export type Block = HeaderBlock | SectionBlock | DividerBlock | ContextBlock | ActionsBlock;

/** An attachment carries the colour bar; its blocks render like top-level blocks. */
export interface Attachment {
  color: string;
  blocks: Block[];
  /** Plain-text summary for clients that cannot show blocks. */
  fallback?: string;
}

/** The JSON body POSTed to an incoming webhook. */
export interface SlackMessage {
  /** Notification and fallback text; Slack shows it in push notifications and screen readers. */
  text: string;
  blocks?: Block[];
  attachments?: Attachment[];
}
