import type { IncomingHttpHeaders, Server } from "node:http";
import { STATUS_CODES, maxHeaderSize as nodeMaxHeaderSize } from "node:http";
import type { Socket } from "node:net";

/**
 * An HTTP/1.1 front for one route (`POST /predict`), in front of node's HTTP server on the same
 * listening socket. node's server builds an IncomingMessage, a ServerResponse and their streams for
 * every request, which on this route costs more than the prediction (README "The HTTP/1.1 front":
 * the measurements that decided this).
 *
 * It recognises only a strict subset of HTTP/1.1, and hands the connection to node's own server,
 * with every byte not yet answered, the moment a request falls outside it: another method, path or
 * version, a header line with any byte outside printable ASCII (a tab too), a header repeated, no Host,
 * no Content-Length, any Transfer-Encoding, Expect or Upgrade, a body above the limit, or a header
 * section above node's limit. So it never has to refuse a malformed request itself: node's hardened
 * parser does that, and a request this front answers is one node would have framed the same way
 * (no smuggling by disagreement: test/serve-http1-front.test.ts sends the same bytes to both).
 * Once handed over, a connection stays with node.
 */

/** What the route reads of a request: the parts of node's IncomingMessage it used there. */
export interface RequestHead {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined };
}

/** An answer: status, headers as a flat [name, value, ...] list, and the serialized body. */
export interface FastAnswer {
  status: number;
  headers: string[];
  payload: string;
}

export interface Http1FrontOptions {
  /** The one request line answered here, e.g. "POST /predict". */
  method: string;
  path: string;
  /** Bodies above this go to node's server (which answers 413). */
  bodyLimit: number;
  /**
   * Whether this request is answered here, decided once its head has arrived (as node's server
   * decides when it emits "request"): false hands it, and its connection, to node's server.
   */
  accepts(head: RequestHead): boolean;
  /** The answer, once the whole body has arrived. Never throws. */
  route(head: RequestHead, body: Buffer): FastAnswer;
}

export interface Http1Front {
  /** Connections this front holds now (not handed over). */
  readonly connections: number;
  /** Requests answered here. */
  readonly answered: number;
  /** Connections handed to node's server. */
  readonly handedOver: number;
}

const CRLF_CRLF = Buffer.from("\r\n\r\n", "latin1");
// One header line: a token, a colon, optional spaces, a value of printable ASCII.
// Anything else (obs-fold, bare CR or LF, control bytes, obs-text, space before the colon) goes to node,
// and so does a tab: node's parser refuses one after a Content-Length ("5\t"), and a Connection token
// followed by one ("close\t") is no token to it, where trimmed whitespace would have matched here.
const HEADER_LINE = /([!#$%&'*+.^_`|~0-9A-Za-z-]+): *([\x20-\x7e]*?) *\r\n/y;
const DIGITS = /^[0-9]{1,15}$/;
// More than this many header lines and node decides (it keeps 2,000 by default).
const MAX_HEADERS = 100;
// Paused reading while this much of the answers is still unsent: a client that sends but never reads.
const HIGH_WATER = 256 * 1024;
const CHECK_INTERVAL_MS = 1000;
const TIMEOUT_ANSWER = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
const BAD_REQUEST_ANSWER = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";

interface Pending {
  head: RequestHead;
  /** Where the body starts and the request ends, in `bytes`. */
  bodyStart: number;
  end: number;
  closeAfter: boolean;
}

class FrontConnection {
  /** Bytes received and not yet answered (null: none). */
  bytes: Buffer | null = null;
  /** When the first byte of the request now arriving came (0: none in progress). */
  started = 0;
  pending: Pending | null = null;
  /** Pieces of the pending request's body that came after `bytes`, not yet joined to it. */
  held: Buffer[] = [];
  heldLength = 0;
  /** Answers waiting for the next flush. */
  queued: string[] = [];
  closing = false;
  onData: (chunk: Buffer) => void = () => undefined;
  onTimeout: () => void = () => undefined;
  onError: () => void = () => undefined;
  onEnd: () => void = () => undefined;
  readonly remoteAddress: string | undefined;
  constructor(readonly socket: Socket) {
    this.remoteAddress = socket.remoteAddress;
  }
  get idle(): boolean {
    return this.bytes === null && this.queued.length === 0;
  }
}

/**
 * Puts the front on a node HTTP server that has not started listening: its connections come here
 * first, and node's own connection handling gets those handed over.
 */
export function attachHttp1Front(server: Server, options: Http1FrontOptions): Http1Front {
  const nodeListeners = server.listeners("connection") as ((socket: Socket) => void)[];
  if (nodeListeners.length !== 1) throw new Error(`http1 front: expected node's one connection listener, found ${nodeListeners.length}`);
  const nodeConnection = nodeListeners[0]!;
  server.removeListener("connection", nodeConnection);

  const prefix = Buffer.from(`${options.method} ${options.path} HTTP/1.1\r\n`, "latin1");
  const live = new Set<FrontConnection>();
  let answered = 0;
  let handedOver = 0;

  // The Date header, as node writes it: the same string for a whole second.
  let date = "";
  let dateUntil = 0;
  const dateNow = (): string => {
    const now = Date.now();
    if (now >= dateUntil) {
      date = new Date(now).toUTCString();
      dateUntil = now - (now % 1000) + 1000;
    }
    return date;
  };

  // Answers are written together once the event loop's I/O phase ends, as the node path does
  // (predict-fast-path.ts: a write that wakes a sleeping client costs far more than one that does not).
  const toFlush: FrontConnection[] = [];
  const flushAll = () => {
    const now = toFlush.splice(0, toFlush.length);
    for (const c of now) flush(c);
  };
  const flush = (c: FrontConnection) => {
    if (c.queued.length === 0) return;
    const out = c.queued.length === 1 ? c.queued[0]! : c.queued.join("");
    c.queued.length = 0;
    const socket = c.socket;
    if (socket.destroyed) return;
    if (c.closing) {
      socket.end(out);
      return;
    }
    socket.write(out);
    if (socket.writableLength > HIGH_WATER && !socket.isPaused()) {
      socket.pause();
      socket.once("drain", () => {
        if (!c.closing && live.has(c)) socket.resume();
      });
    }
  };

  const keepAliveSeconds = () => Math.floor(server.keepAliveTimeout / 1000);

  const queueAnswer = (c: FrontConnection, a: FastAnswer, closeAfter: boolean) => {
    let close = closeAfter || !server.listening;
    let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? "unknown"}\r\n`;
    const h = a.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (name === "connection" && h[i + 1] === "close") close = true;
      else head += `${name}: ${h[i + 1]!}\r\n`;
    }
    head += `Date: ${dateNow()}\r\n`;
    head += close ? "Connection: close\r\n\r\n" : `Connection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds()}\r\n\r\n`;
    c.queued.push(head + a.payload);
    answered++;
    if (close) c.closing = true;
    if (toFlush.push(c) === 1) setImmediate(flushAll);
  };

  const handOver = (c: FrontConnection, rest: Buffer | null) => {
    live.delete(c);
    handedOver++;
    const socket = c.socket;
    // Earlier answers on this connection go first: node answers what follows after them.
    flush(c);
    socket.removeListener("data", c.onData);
    socket.removeListener("timeout", c.onTimeout);
    socket.removeListener("error", c.onError);
    socket.removeListener("end", c.onEnd);
    socket.setTimeout(0);
    c.bytes = null;
    // Paused, the bytes put back stay buffered until node's server listens; resuming then delivers
    // them to it first (a flowing socket would keep them buffered while node reads the handle itself).
    socket.pause();
    if (rest !== null && rest.length > 0) socket.unshift(rest);
    nodeConnection.call(server, socket);
    socket.resume();
  };

  /**
   * The head of the request at the start of `bytes`, if it is one this front answers: the parsed
   * head, "wait" for more bytes, or "node" to hand the connection over.
   */
  const parseHead = (bytes: Buffer): Pending | "wait" | "node" => {
    const maxHeader = (server as { maxHeaderSize?: number }).maxHeaderSize ?? nodeMaxHeaderSize;
    const seen = Math.min(bytes.length, prefix.length);
    if (bytes.compare(prefix, 0, seen, 0, seen) !== 0) return "node";
    const end = bytes.indexOf(CRLF_CRLF, prefix.length - 2);
    if (end === -1) return bytes.length > maxHeader ? "node" : "wait";
    if (end + 4 > maxHeader) return "node";
    if (end + 2 < prefix.length) return "node";
    const text = bytes.toString("latin1", prefix.length, end + 2);
    const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
    let count = 0;
    HEADER_LINE.lastIndex = 0;
    while (HEADER_LINE.lastIndex < text.length) {
      const m = HEADER_LINE.exec(text);
      if (m === null || ++count > MAX_HEADERS) return "node";
      const name = m[1]!.toLowerCase();
      if (headers[name] !== undefined) return "node";
      headers[name] = m[2]!;
    }
    if (headers.host === undefined || headers["transfer-encoding"] !== undefined || headers.expect !== undefined || headers.upgrade !== undefined) return "node";
    const length = headers["content-length"];
    if (length === undefined || !DIGITS.test(length)) return "node";
    const bodyLength = Number(length);
    if (bodyLength > options.bodyLimit) return "node";
    let closeAfter = false;
    const connection = headers.connection;
    if (connection !== undefined) {
      for (const token of connection.toLowerCase().split(",")) {
        const t = token.trim();
        if (t === "close") closeAfter = true;
        else if (t !== "keep-alive") return "node";
      }
    }
    return { head: { headers, socket: { remoteAddress: undefined } }, bodyStart: end + 4, end: end + 4 + bodyLength, closeAfter };
  };

  const serve = (c: FrontConnection) => {
    while (c.bytes !== null && !c.closing) {
      const bytes = c.bytes;
      if (c.pending === null) {
        const parsed = parseHead(bytes);
        if (parsed === "node") return handOver(c, bytes);
        if (parsed === "wait") return;
        parsed.head.socket.remoteAddress = c.remoteAddress;
        if (!options.accepts(parsed.head)) return handOver(c, bytes);
        c.pending = parsed;
      }
      const p = c.pending;
      if (bytes.length < p.end) return;
      const a = options.route(p.head, bytes.subarray(p.bodyStart, p.end));
      c.pending = null;
      c.bytes = bytes.length > p.end ? bytes.subarray(p.end) : null;
      c.started = c.bytes === null ? 0 : performance.now();
      queueAnswer(c, a, p.closeAfter);
    }
  };

  /**
   * The connection refused as node's server refuses one its parser gives up on (a request timed
   * out, or cut short by the client's end): earlier answers first, then "clientError" on the server
   * (fastify answers it), or node's own answer when nobody listens.
   */
  const refuse = (c: FrontConnection, code: string, message: string, answer: string) => {
    flush(c);
    c.closing = true;
    c.bytes = null;
    c.held = [];
    c.heldLength = 0;
    c.pending = null;
    const error = Object.assign(new Error(message), { code });
    if (!server.emit("clientError", error, c.socket)) c.socket.end(answer);
  };

  const accept = (socket: Socket) => {
    const c = new FrontConnection(socket);
    c.onData = (chunk: Buffer) => {
      if (c.closing) return;
      if (c.bytes === null) {
        c.bytes = chunk;
        c.started = performance.now();
      } else if (c.pending !== null && c.bytes.length + c.heldLength + chunk.length < c.pending.end) {
        // A body still arriving is joined once it is whole: joining each piece as it came made a
        // body sent in many small pieces cost the square of its length.
        c.held.push(chunk);
        c.heldLength += chunk.length;
        return;
      } else if (c.held.length > 0) {
        c.bytes = Buffer.concat([c.bytes, ...c.held, chunk]);
        c.held = [];
        c.heldLength = 0;
      } else c.bytes = Buffer.concat([c.bytes, chunk]);
      serve(c);
    };
    c.onTimeout = () => {
      // Idle past the keep-alive time; a request in progress is bounded by the request timeout instead.
      if (c.bytes === null && c.queued.length === 0) socket.destroy();
    };
    c.onError = () => socket.destroy();
    // The client has sent all it will. node's server (httpAllowHalfOpen false) ends its side too,
    // after the answers already made; a request cut short is a parse error to it.
    c.onEnd = () => {
      if (c.closing) return;
      if (c.bytes !== null) return refuse(c, "HPE_INVALID_EOF_STATE", "Parse Error: Invalid EOF state", BAD_REQUEST_ANSWER);
      c.closing = true;
      if (c.queued.length === 0) socket.end();
    };
    live.add(c);
    socket.on("data", c.onData);
    socket.on("error", c.onError);
    socket.on("end", c.onEnd);
    socket.once("close", () => live.delete(c));
    if (server.keepAliveTimeout > 0) {
      socket.setTimeout(server.keepAliveTimeout);
      socket.on("timeout", c.onTimeout);
    }
  };
  server.on("connection", accept);

  // A request that has not fully arrived in time is answered 408 and its connection closed, as node
  // does (slow clients cannot hold a connection with a trickle), by node's rule (ConnectionsList::Expired
  // in node_http_parser.cc): the head within headersTimeout, the whole request within requestTimeout,
  // the two swapped when the head's is the longer (as app.ts leaves them: 60 s and 30 s).
  const checker = setInterval(() => {
    let headLimit = server.headersTimeout;
    let limit = server.requestTimeout;
    if (limit > 0 && headLimit > limit) [headLimit, limit] = [limit, headLimit];
    if (!headLimit && !limit) return;
    const now = performance.now();
    for (const c of live) {
      if (c.bytes === null || c.started === 0 || c.closing) continue;
      const elapsed = now - c.started;
      if ((c.pending === null && headLimit > 0 && elapsed > headLimit) || (limit > 0 && elapsed > limit)) refuse(c, "ERR_HTTP_REQUEST_TIMEOUT", "Request timeout", TIMEOUT_ANSWER);
    }
  }, CHECK_INTERVAL_MS);
  checker.unref();

  // node's server.close() calls closeIdleConnections(): the front's idle connections close with its own.
  const closeIdleNode = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    for (const c of live) if (c.idle) c.socket.destroy();
    closeIdleNode();
  };
  const closeAllNode = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    for (const c of live) c.socket.destroy();
    closeAllNode();
  };
  server.once("close", () => clearInterval(checker));

  return {
    get connections() {
      return live.size;
    },
    get answered() {
      return answered;
    },
    get handedOver() {
      return handedOver;
    },
  };
}
