/**
 * A separate process that promotes or rolls back on command, for the concurrency tests: the parent
 * writes one JSON command per line to several workers at the same moment, so the operations race
 * for real between processes on one checkout (as two CI jobs or two people would), without paying
 * a CLI start-up per operation. Answers one JSON line per command.
 */
import { createInterface } from "node:readline";
import { loadConfig } from "../../pipeline/config/load.js";
import { exitCodeOf } from "../../pipeline/core/errors.js";
import { recordingReporter } from "../../pipeline/core/reporter.js";
import { promote } from "../../pipeline/promote/index.js";
import { rollback } from "../../pipeline/promote/rollback.js";

export type WorkerRequest = { op: "promote"; root: string; model: string; report: string } | { op: "rollback"; root: string; name: string; to: number };
export type WorkerCommand = WorkerRequest & { id: number };

export type WorkerAnswer = { id: number; ok: true; version: number; replaced: number | null; from: number | null } | { id: number; ok: false; exitCode: number; message: string };

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line) as WorkerCommand;
  let answer: WorkerAnswer;
  try {
    const { config } = await loadConfig("config/pipeline.yaml", command.root);
    const reporter = recordingReporter();
    if (command.op === "promote") {
      const r = await promote({ root: command.root, config, modelPath: command.model, validationReport: command.report, reporter, openPr: false });
      answer = { id: command.id, ok: true, version: r.version, replaced: r.replaced, from: null };
    } else {
      const r = await rollback({ root: command.root, config, name: command.name, to: command.to, reporter, openPr: false });
      answer = { id: command.id, ok: true, version: r.to, replaced: null, from: r.from };
    }
  } catch (error) {
    answer = { id: command.id, ok: false, exitCode: exitCodeOf(error), message: (error as Error).message };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
