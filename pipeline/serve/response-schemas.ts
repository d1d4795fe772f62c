/**
 * JSON schemas of the prediction answers, for fastify's compiled serializer (fast-json-stringify):
 * a fixed shape is written without JSON.stringify's generic walk. A property missing here is dropped
 * from the answer, so these follow the handlers in app.ts field for field (serve-api.test.ts reads
 * every one back).
 */
const problem = {
  type: "object",
  properties: { field: { type: "string" }, kind: { type: "string" }, message: { type: "string" } },
  required: ["field", "kind", "message"],
} as const;

const predicted = {
  class: { type: "string" },
  probabilities: { type: "object", additionalProperties: { type: "number" } },
  confidence: { type: "number" },
  warnings: { type: "array", items: problem },
} as const;

const identity = {
  model_version: { type: "string" },
  content_sha256: { type: ["string", "null"] },
  request_id: { type: "string" },
} as const;

export const PREDICT_RESPONSE = {
  200: { type: "object", properties: { ...predicted, ...identity }, required: ["class", "probabilities", "confidence", "warnings", "model_version", "request_id"] },
} as const;

export const PREDICT_BATCH_RESPONSE = {
  200: {
    type: "object",
    properties: {
      predictions: {
        type: "array",
        items: { type: "object", properties: { index: { type: "integer" }, request_id: { type: "string" }, ...predicted }, required: ["index", "request_id", "class", "probabilities", "confidence", "warnings"] },
      },
      ...identity,
    },
    required: ["predictions", "model_version", "request_id"],
  },
} as const;
