import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { logRingReader, logRingWriter, newLogRing, type PredictionShape } from "../pipeline/serve/log-ring.js";
import { createPredictionLog, type PredictionLine } from "../pipeline/serve/prediction-log.js";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.js";
import { logCollector } from "./helpers/serve.js";

/**
 * The log thread's ring (pipeline/serve/log-ring.ts) and destination (log-thread.ts): every line
 * that goes through it comes out as the request thread would have written it, in order, and a
 * process that exits has written them all.
 */

const SHAPE: PredictionShape = {
  fields: ["ta", "season", "note", "vel"],
  knownTexts: { season: ["summer", "winter", "été"] },
  classes: ["cool", "neutral", "warm"],
  versions: ["1", "unverified"],
};
const FORMAT = { service: 'svc "q"', revision: null };
const isoAt = (ms: number) => `,"time":"${new Date(ms).toISOString()}"`;

type Item = { kind: "raw"; line: string } | { kind: "prediction"; line: PredictionLine };

const value = fc.oneof(fc.double(), fc.constantFrom("summer", "winter", "été", "spring", 'a"b'), fc.string({ unit: "binary", maxLength: 8 }), fc.constant(null), fc.constant(-0));
const prediction: fc.Arbitrary<Item> = fc
  .record({
    requestId: fc.oneof(fc.uuid(), fc.string({ unit: "binary", maxLength: 12 }), fc.constant("batch-id:17"), fc.string({ minLength: 120, maxLength: 140 })),
    values: fc.tuple(value, value, value, value),
    cls: fc.constantFrom("cool", "neutral", "warm", "other"),
    confidence: fc.double(),
    latencyMs: fc.double({ min: 0, max: 1e4 }),
    modelVersion: fc.constantFrom("1", "unverified", "2"),
    warnings: fc.oneof(fc.nat(5), fc.constant(2 ** 40)),
  })
  .map(({ values, ...rest }) => ({ kind: "prediction" as const, line: { ...rest, record: Object.fromEntries(SHAPE.fields.map((f, i) => [f, values[i]!])) } }));
const raw: fc.Arbitrary<Item> = fc.string({ unit: "grapheme", maxLength: 20 }).map((s) => ({ kind: "raw" as const, line: `${JSON.stringify({ message: s })}\n` }));

/** The lines as the request thread writes them, each prediction at the clock's time. */
function directly(items: Item[], times: number[]): string {
  const out = logCollector();
  let t = 0;
  const log = createPredictionLog({ destination: out, level: "info", ...FORMAT, time: () => isoAt(t), fields: SHAPE.fields, knownTexts: SHAPE.knownTexts });
  items.forEach((item, i) => {
    t = times[i]!;
    if (item.kind === "raw") out.write(item.line);
    else log.write(item.line);
  });
  return out.text();
}

/** The same lines through a ring of `ringBytes`, drained every `drainEvery` lines (and when full), formatted as the log thread does. */
function throughRing(items: Item[], times: number[], ringBytes: number, drainEvery: number): { text: string; full: number } {
  const buffers = newLogRing(ringBytes);
  let t = 0;
  const writer = logRingWriter(buffers, SHAPE, () => t);
  const reader = logRingReader(buffers, SHAPE);
  const out = logCollector();
  let at = 0;
  // The request thread's formatter, for lines the ring cannot carry as values.
  const here = createPredictionLog({
    destination: {
      write: (s: string) => {
        // Full: the log thread would take lines meanwhile.
        while (!writer.raw(s)) {
          full++;
          drain();
        }
      },
    } as never, level: "info", ...FORMAT, time: () => isoAt(t), fields: SHAPE.fields, knownTexts: SHAPE.knownTexts });
  const there = createPredictionLog({ destination: out, level: "info", ...FORMAT, time: () => isoAt(at), fields: SHAPE.fields, knownTexts: SHAPE.knownTexts });
  let full = 0;
  const drain = () =>
    reader.drain(
      (line) => out.write(line),
      (p, ms) => {
        at = ms;
        there.write(p);
      },
    );
  items.forEach((item, i) => {
    t = times[i]!;
    for (;;) {
      if (item.kind === "raw") {
        if (writer.raw(item.line)) break;
        full++;
        drain();
        continue;
      }
      const done = writer.prediction(item.line);
      if (done === "text") {
        here.write(item.line);
        break;
      }
      if (done === "ok") break;
      full++;
      drain();
    }
    if ((i + 1) % drainEvery === 0) drain();
  });
  drain();
  return { text: out.text(), full };
}

describe("the log ring", () => {
  it("carries any sequence of lines through the ring, wrapping and filling, to the bytes the request thread writes", () => {
    let wrapped = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof(prediction, prediction, raw), { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 30 }), (items, drainEvery) => {
        const times = items.map((_, i) => 1_764_000_000_000 + i * 7);
        // 512 words: a few dozen lines fill it, so the runs wrap and fill.
        const ring = throughRing(items, times, 4 * 1024, drainEvery);
        if (ring.full > 0) wrapped++;
        expect(ring.text).toBe(directly(items, times));
      }),
      { numRuns: 300 },
    );
    // The runs above did fill the ring (a writer that never saw a full ring would prove little).
    expect(wrapped).toBeGreaterThan(0);
  });

  it("publishes nothing of a line it cannot carry, and nothing at all while full", () => {
    const buffers = newLogRing(2 * 1024);
    const writer = logRingWriter(buffers, SHAPE, () => 0);
    const reader = logRingReader(buffers, SHAPE);
    const line: PredictionLine = { requestId: "r", record: { ta: 1, season: "spring", note: null, vel: 2 }, cls: "cool", confidence: 0.5, latencyMs: 1, modelVersion: "1", warnings: 0 };
    expect(writer.prediction(line)).toBe("text");
    expect(writer.prediction({ ...line, requestId: 'q"uote' })).toBe("text");
    expect(writer.prediction({ ...line, cls: "other" })).toBe("text");
    const seen: string[] = [];
    expect(reader.drain((l) => seen.push(l), () => seen.push("prediction"))).toBe(0);
    const known = { ...line, record: { ...line.record, season: "summer" } };
    let written = 0;
    while (writer.prediction(known) === "ok") written++;
    expect(written).toBeGreaterThan(10);
    expect(writer.raw("x".repeat(100))).toBe(false);
    expect(reader.drain((l) => seen.push(l), () => seen.push("prediction"))).toBe(written);
    expect(seen).toEqual(Array.from({ length: written }, () => "prediction"));
    expect(writer.raw("x".repeat(100))).toBe(true);
    expect(writer.prediction(known)).toBe("ok");
    expect(reader.drain((l) => seen.push(l), () => seen.push("prediction"))).toBe(2);
  });
});

describe("the log thread", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /** Runs a script that writes through a threaded destination to a file, then exits; the file's lines. */
  async function run(body: string): Promise<{ lines: string[]; status: number | null; stderr: string }> {
    const dir = await mkdtemp(join(tmpdir(), "log-thread-"));
    dirs.push(dir);
    const script = join(dir, "script.ts");
    const file = join(dir, "out.log");
    await writeFile(
      script,
      `import { openSync, writeSync } from "node:fs";
import { threadedLogDestination } from ${JSON.stringify(join(PROJECT_ROOT, "pipeline/serve/log-thread.ts"))};
import { createPredictionLog } from ${JSON.stringify(join(PROJECT_ROOT, "pipeline/serve/prediction-log.ts"))};
const fd = openSync(${JSON.stringify(file)}, "w");
const shape = ${JSON.stringify(SHAPE)};
const target = { write: (b: Buffer) => { writeSync(fd, b); return true; } };
${body}
`,
    );
    const r = spawnSync(process.execPath, ["--import", TSX_LOADER, script], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    const text = await readFile(file, "utf8");
    return { lines: text.split("\n").filter((l) => l !== ""), status: r.status, stderr: r.stderr };
  }

  it("writes every line in order, formatted by the thread, by the time the process has exited", async () => {
    const r = await run(`
const dest = threadedLogDestination({ target, fd });
dest.write(JSON.stringify({ message: "before" }) + "\\n");
dest.usePredictionShape(shape, { service: "svc", revision: null });
const log = createPredictionLog({ destination: dest, level: "info", service: "svc", revision: null, time: () => ',"time":"x"', fields: shape.fields, knownTexts: shape.knownTexts });
for (let i = 0; i < 20000; i++) {
  log.write({ requestId: "id-" + i, record: { ta: i / 10, season: i % 3 === 0 ? "spring" : "summer", note: null, vel: -0 }, cls: "neutral", confidence: 0.5, latencyMs: 0.25, modelVersion: "1", warnings: 0 });
  if (i % 5000 === 0) dest.write(JSON.stringify({ message: "between " + i }) + "\\n");
}
if (!dest.threaded) throw new Error("the log thread did not start");
process.exit(0);
`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.lines).toHaveLength(1 + 20000 + 4);
    expect(JSON.parse(r.lines[0]!).message).toBe("before");
    const parsed = r.lines.slice(1).map((l) => JSON.parse(l) as { message?: string; request_id?: string; input?: { ta: number; season: string; vel: number } });
    const ids = parsed.filter((p) => p.request_id !== undefined).map((p) => p.request_id);
    expect(ids).toEqual(Array.from({ length: 20000 }, (_, i) => `id-${i}`));
    // Each "between" line right after the prediction it followed.
    for (const i of [0, 5000, 10000, 15000]) expect(parsed[i + 1 + i / 5000]!.message).toBe(`between ${i}`);
    // "spring" is not a known text: those lines were formatted on the request thread, in their place.
    const third = parsed.find((p) => p.request_id === "id-3")!;
    expect(third.input).toEqual({ ta: 0.3, season: "spring", note: null, vel: 0 });
    expect(parsed.find((p) => p.request_id === "id-4")!.input!.season).toBe("summer");
  });

  it("writes the lines itself when the thread dies, what the ring held included", async () => {
    const r = await run(`
const dest = threadedLogDestination({ target, fd, entry: new URL("data:text/javascript,process.exit(3)") });
dest.usePredictionShape(shape, { service: null, revision: null });
const log = createPredictionLog({ destination: dest, level: "info", service: null, revision: null, time: () => ',"time":"x"', fields: shape.fields, knownTexts: shape.knownTexts });
for (let i = 0; i < 100; i++) log.write({ requestId: "id-" + i, record: { ta: i, season: "summer", note: null, vel: 1 }, cls: "cool", confidence: 1, latencyMs: 1, modelVersion: "1", warnings: 0 });
setTimeout(() => {
  if (dest.threaded) throw new Error("still threaded after the thread died");
  for (let i = 100; i < 200; i++) log.write({ requestId: "id-" + i, record: { ta: i, season: "summer", note: null, vel: 1 }, cls: "cool", confidence: 1, latencyMs: 1, modelVersion: "1", warnings: 0 });
  dest.flushSync();
  process.exit(0);
}, 1000);
`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.lines.map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(Array.from({ length: 200 }, (_, i) => `id-${i}`));
  });
});
