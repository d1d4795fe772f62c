/** A problem with one field of the request (the input contract's problems carry their kind). */
export interface ErrorField {
  field: string;
  message: string;
  kind?: string;
}

/**
 * The one error shape of the API: `{ "error": { message, type, timestamp, request_id, fields? } }`.
 * Messages are written for the caller and never carry a stack trace or a file path.
 */
export type ErrorType =
  | "invalid_input"
  | "invalid_json"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "not_ready"
  | "internal";

export interface ErrorBody {
  error: { message: string; type: ErrorType; timestamp: string; request_id: string; fields?: ErrorField[] };
}

/** An error a handler throws to answer with a given status and envelope. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly type: ErrorType;
  readonly fields?: ErrorField[];
  readonly headers?: Record<string, string>;
  /** The reason counted in input_rejections_total, when this is a refused input. */
  readonly rejection?: string;
  constructor(statusCode: number, type: ErrorType, message: string, extra: { fields?: ErrorField[]; headers?: Record<string, string>; rejection?: string } = {}) {
    super(message);
    this.statusCode = statusCode;
    this.type = type;
    this.fields = extra.fields;
    this.headers = extra.headers;
    this.rejection = extra.rejection;
  }
}

export function errorBody(type: ErrorType, message: string, requestId: string, now: Date, fields?: ErrorField[]): ErrorBody {
  return { error: { message, type, timestamp: now.toISOString(), request_id: requestId, ...(fields && fields.length > 0 ? { fields } : {}) } };
}

const TYPE_BY_STATUS: Record<number, ErrorType> = {
  400: "invalid_input",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "not_ready",
};

/** Fastify's own errors (body parser, limits) mapped to the envelope; anything unknown is a 500 with a fixed message. */
export function classifyError(error: unknown): { statusCode: number; type: ErrorType; message: string; fields?: ErrorField[]; headers?: Record<string, string>; rejection?: string } {
  if (error instanceof HttpError) return { statusCode: error.statusCode, type: error.type, message: error.message, fields: error.fields, headers: error.headers, rejection: error.rejection };
  const e = error as { statusCode?: number; code?: string; message?: string };
  const status = typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return { statusCode: 500, type: "internal", message: "internal error; the request id identifies it in the server log" };
  const code = e.code ?? "";
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return { statusCode: 415, type: "unsupported_media_type", message: "send the body as JSON with Content-Type: application/json", rejection: "unsupported_media_type" };
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") return { statusCode: 413, type: "payload_too_large", message: "request body is larger than the server accepts", rejection: "body_too_large" };
  if (code === "FST_ERR_CTP_EMPTY_JSON_BODY") return { statusCode: 400, type: "invalid_json", message: "the body is empty; send a JSON object", rejection: "invalid_json" };
  if (code.startsWith("FST_ERR_CTP") || error instanceof SyntaxError || /JSON|prototype|constructor/i.test(e.message ?? "")) {
    // JSON.parse messages quote the input position, never a file; secure-json-parse refuses __proto__ keys.
    const detail = (e.message ?? "").split("\n")[0]!.slice(0, 200);
    return { statusCode: 400, type: "invalid_json", message: `the body is not valid JSON (${detail})`, rejection: "invalid_json" };
  }
  const type = TYPE_BY_STATUS[status] ?? "invalid_input";
  return { statusCode: status, type, message: (e.message ?? "bad request").split("\n")[0]!.slice(0, 300) };
}
