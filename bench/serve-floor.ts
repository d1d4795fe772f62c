/**
 * The floor of any server that predicts (server (d) of bench/serve.ts): node:http reading the body,
 * JSON.parse, the input contract and the production forest, and the answer's fields written with
 * JSON.stringify and the same headers as `pipeline serve`. No log line, monitor, metrics, rate limit
 * or access check: what a server pays before the features the issue asks for.
 *
 *   node dist/bench/serve-floor.js MODEL_PATH PORT
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { parseModel } from "../pipeline/model/load.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { compilePredictor } from "../pipeline/model/predictor.js";

const [file, port] = process.argv.slice(2);
if (!file || !port) throw new Error("usage: serve-floor.js MODEL_PATH PORT");
const model = parseModel(readFileSync(file, "utf8"), file);
const predictor = compilePredictor(model);
const classes = predictor.classes;
const contentSha = modelContentHash(model);
const server = createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"healthy"}');
    return;
  }
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (c: string) => (body += c));
  req.on("end", () => {
    let record: unknown;
    try {
      record = JSON.parse(body);
    } catch {
      res.writeHead(400);
      res.end();
      return;
    }
    const p = predictor.predictRecord(record, { numericText: "warn" });
    if (!p.checked.ok) {
      res.writeHead(400);
      res.end();
      return;
    }
    const proba = p.probabilities!;
    const probabilities: Record<string, number> = {};
    for (let c = 0; c < classes.length; c++) probabilities[classes[c]!] = proba[c]!;
    const id = randomUUID();
    const answer = JSON.stringify({ class: classes[p.classIndex], probabilities, confidence: proba[p.classIndex], warnings: p.checked.warnings, model_version: "1", request_id: id, content_sha256: contentSha });
    res.writeHead(200, ["x-request-id", id, "x-model-version", "1", "content-type", "application/json; charset=utf-8", "content-length", String(Buffer.byteLength(answer))]);
    res.end(answer);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(port), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
