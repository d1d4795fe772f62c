import fc from "fast-check";
import { canonicalJson } from "../pipeline/model/identity.js";
import { describe, expect, it } from "vitest";
import type { Block, SlackMessage } from "../pipeline/notify/blocks.js";
import { BLOCK_KIT_LIMITS, ELLIPSIS, fitToBlockKitLimits, truncateText } from "../pipeline/notify/limits.js";
import { buildSlackMessage, NOTIFICATION_STAGES, NOTIFICATION_STATUSES, NotificationInputSchema } from "../pipeline/notify/message.js";
import { payloadProblems } from "./helpers/slack-receiver.js";

// Strings that stress the limits: mostly short, sometimes far over any limit, with emoji
// (surrogate pairs), mrkdwn metacharacters and whitespace-only values.
const nasty = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "   ", "&<>|*`_~", "😀".repeat(80), "<!channel>", "a&amp;b") },
  { weight: 1, arbitrary: fc.integer({ min: 140, max: 9000 }).chain((n) => fc.constantFrom("x".repeat(n), "é😀&<".repeat(Math.ceil(n / 5)))) },
);
const url = fc.oneof(fc.webUrl(), fc.integer({ min: 2990, max: 4000 }).map((n) => `https://example.com/${"p".repeat(n)}`), fc.constantFrom("not a url", "javascript:alert(1)", ""));

const inputArb = fc.record(
  {
    status: fc.constantFrom(...NOTIFICATION_STATUSES),
    stage: fc.constantFrom(...NOTIFICATION_STAGES),
    model: nasty.map((s) => s || "m"),
    version: fc.integer({ min: 1, max: 10_000 }),
    metrics: fc.dictionary(nasty.filter((k) => k !== "__proto__"), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 60 }),
    previous: fc.record({ version: fc.integer({ min: 1, max: 10_000 }), metrics: fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => k !== "__proto__"), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 10 }) }),
    environment: nasty,
    revision: nasty,
    canary: fc.record({ passed: fc.boolean(), steps: fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 30 }), failed_at: fc.integer({ min: 1, max: 100 }), reason: nasty }),
    reason: nasty,
    links: fc.record({ run: url, pull_request: url, service: url, commit: url }, { requiredKeys: [] }),
    commit: nasty,
    actor: nasty,
    mention: nasty,
  },
  { requiredKeys: ["status", "model"] },
);

describe("buildSlackMessage: any input gives a message Slack accepts", () => {
  it("stays within every Block Kit limit (checked by the receiver's independent reading)", () => {
    fc.assert(
      fc.property(inputArb, (raw) => {
        const input = NotificationInputSchema.parse(raw);
        const { message } = buildSlackMessage(input);
        const checked = payloadProblems(JSON.parse(JSON.stringify(message)));
        expect(checked.problems).toEqual([]);
        expect(checked.error).toBeNull();
        expect(message.text.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.fallbackText);
        const header = message.attachments![0]!.blocks[0]!;
        expect(header.type).toBe("header");
      }),
      { numRuns: 300 },
    );
  });

  it("is a fixed point: fitting an already fitted message changes nothing", () => {
    fc.assert(
      fc.property(inputArb, (raw) => {
        const { message } = buildSlackMessage(NotificationInputSchema.parse(raw));
        const again = fitToBlockKitLimits(message);
        expect(again.adjustments).toEqual([]);
        expect(again.message).toEqual(message);
      }),
      { numRuns: 150 },
    );
  });
});

// Arbitrary raw Block Kit, far outside what the builder makes: too many blocks, fields, context
// elements and buttons, empty and oversized texts.
const textObj = fc.record({ type: fc.constantFrom("plain_text" as const, "mrkdwn" as const), text: nasty });
const blockArb: fc.Arbitrary<Block> = fc.oneof(
  fc.record({ type: fc.constant("header" as const), text: fc.record({ type: fc.constant("plain_text" as const), text: nasty }) }),
  fc.record({ type: fc.constant("section" as const), text: textObj, fields: fc.array(textObj, { maxLength: 25 }) }, { requiredKeys: ["type"] }),
  fc.record({ type: fc.constant("context" as const), elements: fc.array(textObj, { maxLength: 25 }) }),
  fc.record({
    type: fc.constant("actions" as const),
    elements: fc.array(fc.record({ type: fc.constant("button" as const), text: fc.record({ type: fc.constant("plain_text" as const), text: nasty }), url, action_id: fc.constantFrom("a", "a", "b", "x".repeat(300)) }), { maxLength: 40 }),
  }),
  fc.record({ type: fc.constant("divider" as const), block_id: fc.constantFrom("d", "y".repeat(300)) }, { requiredKeys: ["type"] }),
);
const messageArb: fc.Arbitrary<SlackMessage> = fc.record(
  {
    text: nasty,
    blocks: fc.array(blockArb, { maxLength: 90 }),
    attachments: fc.array(fc.record({ color: fc.constant("#2eb67d"), blocks: fc.array(blockArb, { maxLength: 70 }) }), { maxLength: 3 }),
  },
  { requiredKeys: ["text"] },
);

describe("fitToBlockKitLimits: any Block Kit message comes out within the limits", () => {
  it("never throws and always yields a payload the receiver accepts", () => {
    fc.assert(
      fc.property(messageArb, (raw) => {
        const { message } = fitToBlockKitLimits(raw);
        const checked = payloadProblems(JSON.parse(JSON.stringify(message)));
        expect(checked.problems).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("reports every change it makes, and none for a message that fits", () => {
    fc.assert(
      fc.property(messageArb, (raw) => {
        const { message, adjustments } = fitToBlockKitLimits(raw);
        // Key order is not a change (Slack reads JSON objects unordered), so compare canonical forms.
        const changed = canonicalJson(message) !== canonicalJson({ text: raw.text, ...(raw.blocks ? { blocks: raw.blocks } : {}), ...(raw.attachments ? { attachments: raw.attachments } : {}) });
        if (changed) expect(adjustments.length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });
});

describe("truncateText", () => {
  it("keeps a prefix, at most max long, ending in an ellipsis exactly when it cut, never half a surrogate pair", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 400 }), fc.integer({ min: 2, max: 300 }), fc.boolean(), (s, max, mrkdwn) => {
        const t = truncateText(s, max, mrkdwn);
        expect(t.length).toBeLessThanOrEqual(Math.max(max, s.length <= max ? s.length : 0));
        if (s.length <= max) expect(t).toBe(s);
        else {
          expect(t.endsWith(ELLIPSIS)).toBe(true);
          expect(s.startsWith(t.slice(0, -1))).toBe(true);
          expect(/[\ud800-\udbff]$/.test(t.slice(0, -1))).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("does not leave half an entity or an unclosed link behind in mrkdwn", () => {
    expect(truncateText("ab &amp; cd", 6, true)).toBe("ab …");
    expect(truncateText("see <https://example.com/long|the run> now", 20, true)).toBe("see …");
  });
});

describe("fitting examples, one per limit", () => {
  const fit = (blocks: Block[]) => fitToBlockKitLimits({ text: "t", blocks });

  it("a header over 150 characters ends in an ellipsis at exactly 150", () => {
    const { message, adjustments } = fit([{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }]);
    const text = (message.blocks![0] as { text: { text: string } }).text.text;
    expect(text).toHaveLength(150);
    expect(text.endsWith(ELLIPSIS)).toBe(true);
    expect(adjustments[0]!.path).toBe("blocks.0.text");
  });

  it("section text is cut at 3,000, fields at 2,000, and the 11th field onwards are folded into one", () => {
    const fields = Array.from({ length: 13 }, (_, i) => ({ type: "mrkdwn" as const, text: `${i}`.padEnd(i === 0 ? 2500 : 3, "f") }));
    const { message } = fit([{ type: "section", text: { type: "mrkdwn", text: "s".repeat(3001) }, fields }]);
    const section = message.blocks![0] as { text: { text: string }; fields: { text: string }[] };
    expect(section.text.text).toHaveLength(3000);
    expect(section.fields).toHaveLength(10);
    expect(section.fields[0]!.text).toHaveLength(2000);
    expect(section.fields[9]!.text).toBe("_…and 4 more_");
  });

  it("60 blocks become 50: 49 kept and a note saying how many were left out", () => {
    const blocks: Block[] = Array.from({ length: 60 }, () => ({ type: "divider" }));
    const { message } = fit(blocks);
    expect(message.blocks).toHaveLength(50);
    expect(JSON.stringify(message.blocks![49])).toMatch(/11 more blocks omitted/);
  });

  it("a button with a URL over 3,000 characters is dropped rather than linked wrongly; long button text is cut at 75", () => {
    const { message } = fit([
      {
        type: "actions",
        elements: [
          { type: "button", text: { type: "plain_text", text: "long url" }, url: `https://e.com/${"u".repeat(3000)}`, action_id: "a" },
          { type: "button", text: { type: "plain_text", text: "b".repeat(80) }, url: "https://e.com/ok", action_id: "b" },
        ],
      },
    ]);
    const actions = message.blocks![0] as { elements: { text: { text: string }; url: string }[] };
    expect(actions.elements).toHaveLength(1);
    expect(actions.elements[0]!.url).toBe("https://e.com/ok");
    expect(actions.elements[0]!.text.text).toHaveLength(75);
  });

  it("eleven context elements become ten, the surplus joined into the last", () => {
    const elements = Array.from({ length: 11 }, (_, i) => ({ type: "mrkdwn" as const, text: `e${i}` }));
    const { message } = fit([{ type: "context", elements }]);
    const ctx = message.blocks![0] as { elements: { text: string }[] };
    expect(ctx.elements).toHaveLength(10);
    expect(ctx.elements[9]!.text).toBe("e9  ·  e10");
  });

  it("the fallback text is cut at 4,000 and an empty one becomes a dash", () => {
    expect(fitToBlockKitLimits({ text: "x".repeat(5000) }).message.text).toHaveLength(4000);
    expect(fitToBlockKitLimits({ text: " " }).message.text).toBe("-");
  });
});
