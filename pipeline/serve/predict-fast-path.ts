import type { IncomingMessage, ServerResponse } from "node:http";
import { errorCodes } from "fastify";
import sjson from "secure-json-parse";
import type { FastAnswer, RequestHead } from "./http1-front.js";

export type { FastAnswer, RequestHead };

/**
 * `POST /predict` answered on node's HTTP server directly, in front of fastify. A prediction is a
 * few tens of microseconds of work, and fastify's request objects, hooks and reply pipeline cost as
 * much again (README "Benchmark": the measurements that decided this). Everything else, and every
 * request this path does not recognise (another content type, a server that is draining or not
 * ready), goes on to fastify untouched, so the rules of the API live in one place: the caller (app.ts)
 * passes the same functions its fastify route uses for access, prediction and error answers, and
 * the body is read and parsed with fastify's own limits, parser and error codes. A test compares
 * both paths answer for answer (test/serve-fast-path.test.ts).
 */

export interface PredictFastPathOptions {
  path: string;
  bodyLimit: number;
  /** False sends the request on to fastify (not ready, draining, or anything else fastify should answer). */
  open(): boolean;
  /** The request id (from a valid X-Request-Id or a new one). */
  requestId(req: RequestHead): string;
  /** Before the body is read: rate limit and access. Returns the refusal, or null to go on. */
  admit(req: RequestHead): { refusal: unknown } | null;
  /** The answer to a parsed body (never throws: refusals are answers too). */
  answer(body: unknown, requestId: string, started: number): FastAnswer;
  /** The answer to an error (a refusal from admit, or one of fastify's body errors). */
  fail(error: unknown, requestId: string, started: number): FastAnswer;
}

// Parsed as fastify's default JSON parser does: __proto__ and constructor keys are errors.
const PARSE_OPTIONS = { protoAction: "error", constructorAction: "error" } as const;
const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

function send(res: ServerResponse, a: FastAnswer): void {
  res.writeHead(a.status, a.headers);
  res.end(a.payload);
}

/**
 * Answers written at the end of the event loop's I/O phase, all together, instead of each as soon
 * as it is made. Each answer is a write system call to its own socket, and on a virtual machine a
 * write that wakes a sleeping client is far dearer than one that reaches a client already awake:
 * with the writes spread between predictions, the floor server of bench/serve spent 55 % of its
 * thread in writev. Written back to back, 31,500–32,100 → 37,600–37,900 req/s for that server
 * (README "The /predict fast path"). An answer waits at most for the other requests that arrived
 * with it to be predicted.
 */
function deferredSender(): (res: ServerResponse, a: FastAnswer) => void {
  const pending: [ServerResponse, FastAnswer][] = [];
  const flush = () => {
    // Taken first: an answer written now may make room for a request whose answer joins the next flush.
    const now = pending.splice(0, pending.length);
    for (const [res, a] of now) send(res, a);
  };
  return (res, a) => {
    if (pending.push([res, a]) === 1) setImmediate(flush);
  };
}

/** A request handler for node's HTTP server: true when it answers the request, false to hand it to fastify. */
export function predictFastPath(options: PredictFastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { path, bodyLimit } = options;
  const sendSoon = deferredSender();
  return (req, res) => {
    if (req.method !== "POST" || req.url !== path) return false;
    const type = req.headers["content-type"];
    if (type === undefined || !JSON_TYPE.test(type) || !options.open()) return false;
    const started = performance.now();
    const requestId = options.requestId(req);
    const refused = options.admit(req);
    if (refused !== null) {
      // Refused before the body is read, as fastify's onRequest and preParsing hooks refuse.
      send(res, options.fail(refused.refusal, requestId, started));
      req.resume();
      return true;
    }
    const declared = Number(req.headers["content-length"]);
    // The body errors close the connection, as fastify does: the client may still be sending.
    const bodyError = (error: unknown) => {
      const a = options.fail(error, requestId, started);
      a.headers.push("connection", "close");
      send(res, a);
    };
    if (declared > bodyLimit) {
      bodyError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      received += chunk.length;
      if (received > bodyLimit) {
        failed = true;
        bodyError(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", () => {
      // The client went away mid-body: nobody is left to answer.
      failed = true;
    });
    req.on("end", () => {
      if (failed) return;
      if (!Number.isNaN(declared) && received !== declared) return bodyError(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (received === 0) return bodyError(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
      const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, received).toString("utf8");
      let body: unknown;
      try {
        body = sjson.parse(text, undefined, PARSE_OPTIONS);
      } catch {
        return bodyError(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      }
      sendSoon(res, options.answer(body, requestId, started));
    });
    return true;
  };
}

/**
 * The same route for the HTTP/1.1 front (http1-front.ts): the same checks in the same order, the
 * head's when the head arrives and the body's once the whole body has, and a request the handler
 * above would pass on (returns false for) not accepted.
 */
export function predictFrontRoute(options: PredictFastPathOptions): { accepts(head: RequestHead): boolean; route(head: RequestHead, body: Buffer): FastAnswer } {
  const closing = (a: FastAnswer) => {
    a.headers.push("connection", "close");
    return a;
  };
  return {
    accepts(head) {
      const type = head.headers["content-type"];
      return type !== undefined && JSON_TYPE.test(type) && options.open();
    },
    route(head, body) {
      const started = performance.now();
      const requestId = options.requestId(head);
      const refused = options.admit(head);
      if (refused !== null) return options.fail(refused.refusal, requestId, started);
      if (body.length === 0) return closing(options.fail(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), requestId, started));
      let parsed: unknown;
      try {
        parsed = sjson.parse(body.toString("utf8"), undefined, PARSE_OPTIONS);
      } catch {
        return closing(options.fail(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), requestId, started));
      }
      return options.answer(parsed, requestId, started);
    },
  };
}
