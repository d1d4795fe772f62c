import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "./cli.js";

/**
 * Checks JSON against the Cloud Run Admin API v2 description shipped in @google-cloud/run
 * (build/protos/protos.json), the way Google's front end parses proto3 JSON:
 * - field names in their lowerCamelCase JSON form; an unknown name is an error ("Cannot find field");
 * - scalar types: int32 as JSON numbers, int64 as strings (numbers accepted in requests, as Google does),
 *   enums by name, Timestamp as RFC 3339, Duration as "<n>s", Any with its "@type";
 * - at most one member of a oneof;
 * - requests: `(google.api.field_behavior) = OUTPUT_ONLY` fields must not be set, REQUIRED ones must;
 * - responses: default values (0, "", false, empty lists and maps) are omitted unless the field
 *   tracks presence (proto3 `optional`), as proto3 JSON serialization does.
 */

type Json = unknown;
interface FieldDef {
  type: string;
  id: number;
  rule?: "repeated";
  keyType?: string;
  options?: Record<string, unknown>;
}
interface TypeDef {
  fields?: Record<string, FieldDef>;
  oneofs?: Record<string, { oneof: string[] }>;
  values?: Record<string, number>;
  nested?: Record<string, TypeDef>;
  methods?: unknown;
}

const ROOT = JSON.parse(readFileSync(join(PROJECT_ROOT, "node_modules/@google-cloud/run/build/protos/protos.json"), "utf8")) as TypeDef;

export const RUN_V2 = "google.cloud.run.v2";

function at(path: string[]): TypeDef | undefined {
  let node: TypeDef | undefined = ROOT;
  for (const part of path) node = node?.nested?.[part];
  return node;
}

/** Resolves a type reference the way protobuf scoping does: innermost scope first. */
export function resolveType(name: string, scope: string[]): { def: TypeDef; path: string[] } {
  const parts = name.replace(/^\./, "").split(".");
  for (let i = scope.length; i >= 0; i--) {
    const path = [...scope.slice(0, i), ...parts];
    const def = at(path);
    if (def && (def.fields || def.values)) return { def, path };
  }
  throw new Error(`protos.json: cannot resolve type ${name} from ${scope.join(".")}`);
}

export function messageType(fullName: string): { def: TypeDef; path: string[] } {
  return resolveType(fullName, []);
}

/** Field names with a given field behaviour (OUTPUT_ONLY, REQUIRED, ...) of a message. */
export function fieldsWithBehavior(fullName: string, behavior: string): string[] {
  const { def } = messageType(fullName);
  return Object.entries(def.fields ?? {})
    .filter(([, f]) => behaviors(f).includes(behavior))
    .map(([name]) => name);
}

function behaviors(f: FieldDef): string[] {
  const b = f.options?.["(google.api.field_behavior)"];
  return b === undefined ? [] : Array.isArray(b) ? (b as string[]) : [b as string];
}

export type Mode = "request" | "response";

const INT32 = new Set(["int32", "sint32", "sfixed32", "uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isDefault(v: Json, f?: FieldDef): boolean {
  // int64 travels as a string, so its zero is "0".
  if (f && INT64.has(f.type) && !f.rule && !f.keyType && (v === "0" || v === 0)) return true;
  return v === 0 || v === "" || v === false || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

/** Problems found in `value` as a `typeName` message; empty when it conforms. */
export function checkMessage(typeName: string, value: Json, mode: Mode, where = "", scope: string[] = []): string[] {
  const { def, path } = resolveType(typeName, scope);
  const full = path.join(".");
  const special = checkWellKnown(full, value, mode, where);
  if (special) return special;
  const problems: string[] = [];
  if (!isObject(value)) return [`${where || "(root)"}: expected a ${full} object`];
  const fields = def.fields ?? {};
  for (const [key, v] of Object.entries(value)) {
    const f = fields[key];
    const here = where ? `${where}.${key}` : key;
    if (!f) {
      problems.push(`${here}: unknown field (Cannot find field "${key}" in ${full})`);
      continue;
    }
    if (mode === "request" && behaviors(f).includes("OUTPUT_ONLY")) problems.push(`${here}: output-only field set by the client`);
    const presence = f.options?.proto3_optional === true;
    if (mode === "response" && !presence && isDefault(v, f) && !isMessageType(f, path)) problems.push(`${here}: default value ${JSON.stringify(v)} must be omitted in proto3 JSON`);
    problems.push(...checkField(f, v, mode, here, path));
  }
  if (mode === "request") {
    for (const [name, f] of Object.entries(fields)) {
      if (behaviors(f).includes("REQUIRED") && !(name in value)) problems.push(`${where ? `${where}.` : ""}${name}: required field missing`);
    }
  }
  for (const [name, oneof] of Object.entries(def.oneofs ?? {})) {
    const set = oneof.oneof.filter((m) => m in value);
    if (set.length > 1) problems.push(`${where || "(root)"}: oneof ${name} has more than one member set (${set.join(", ")})`);
  }
  return problems;
}

function isMessageType(f: FieldDef, scope: string[]): boolean {
  if (f.rule === "repeated" || f.keyType) return false;
  if (INT32.has(f.type) || INT64.has(f.type) || ["string", "bool", "bytes", "double", "float"].includes(f.type)) return false;
  return resolveType(f.type, scope).def.fields !== undefined;
}

function checkField(f: FieldDef, v: Json, mode: Mode, here: string, scope: string[]): string[] {
  if (f.keyType) {
    if (!isObject(v)) return [`${here}: expected a map (JSON object)`];
    return Object.entries(v).flatMap(([k, x]) => checkScalarOrMessage(f.type, x, mode, `${here}["${k}"]`, scope));
  }
  if (f.rule === "repeated") {
    if (!Array.isArray(v)) return [`${here}: expected a list`];
    return v.flatMap((x, i) => checkScalarOrMessage(f.type, x, mode, `${here}[${i}]`, scope));
  }
  return checkScalarOrMessage(f.type, v, mode, here, scope);
}

function checkScalarOrMessage(type: string, v: Json, mode: Mode, here: string, scope: string[]): string[] {
  if (INT32.has(type)) return typeof v === "number" && Number.isInteger(v) ? [] : [`${here}: expected an ${type} (JSON number), got ${JSON.stringify(v)}`];
  if (INT64.has(type)) {
    if (typeof v === "string" && /^-?\d+$/.test(v)) return [];
    if (mode === "request" && typeof v === "number" && Number.isInteger(v)) return [];
    return [`${here}: expected an ${type} as a decimal string, got ${JSON.stringify(v)}`];
  }
  if (type === "double" || type === "float") return typeof v === "number" ? [] : [`${here}: expected a number`];
  if (type === "bool") return typeof v === "boolean" ? [] : [`${here}: expected true or false, got ${JSON.stringify(v)}`];
  if (type === "string") return typeof v === "string" ? [] : [`${here}: expected a string, got ${JSON.stringify(v)}`];
  if (type === "bytes") return typeof v === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v) ? [] : [`${here}: expected base64 bytes`];
  const { def, path } = resolveType(type, scope);
  if (def.values) {
    if (typeof v === "string" && v in def.values) return [];
    if (mode === "request" && typeof v === "number" && Object.values(def.values).includes(v)) return [];
    return [`${here}: expected one of ${Object.keys(def.values).join(", ")}, got ${JSON.stringify(v)}`];
  }
  return checkMessage(path.join("."), v, mode, here, []);
}

function checkWellKnown(full: string, v: Json, mode: Mode, here: string): string[] | null {
  const w = here || "(root)";
  switch (full) {
    case "google.protobuf.Timestamp":
      return typeof v === "string" && RFC3339.test(v) ? [] : [`${w}: expected an RFC 3339 timestamp, got ${JSON.stringify(v)}`];
    case "google.protobuf.Duration":
      return typeof v === "string" && /^-?\d+(\.\d{1,9})?s$/.test(v) ? [] : [`${w}: expected a duration like "300s", got ${JSON.stringify(v)}`];
    case "google.protobuf.FieldMask":
      return typeof v === "string" ? [] : [`${w}: expected a field mask string`];
    case "google.protobuf.Empty":
      return isObject(v) && Object.keys(v).length === 0 ? [] : [`${w}: expected {}`];
    case "google.protobuf.Any": {
      if (!isObject(v) || typeof v["@type"] !== "string") return [`${w}: expected an Any with "@type"`];
      const m = /^type\.googleapis\.com\/(.+)$/.exec(v["@type"]);
      if (!m) return [`${w}.@type: expected type.googleapis.com/<message>`];
      const { "@type": _type, ...rest } = v;
      return checkMessage(m[1]!, rest, mode, w === "(root)" ? "" : w, []);
    }
    default:
      return null;
  }
}

/** Removes default values the way proto3 JSON serialization does (for building faithful responses). */
export function omitDefaults(typeName: string, value: Record<string, Json>, scope: string[] = []): Record<string, Json> {
  const { def, path } = resolveType(typeName, scope);
  const out: Record<string, Json> = {};
  for (const [key, v] of Object.entries(value)) {
    const f = def.fields?.[key];
    if (v === undefined) continue;
    if (!f) {
      out[key] = v;
      continue;
    }
    const presence = f.options?.proto3_optional === true;
    if (!presence && isDefault(v, f) && !isMessageType(f, path)) continue;
    if (f.rule === "repeated" && Array.isArray(v) && !isScalar(f.type)) {
      const t = resolveType(f.type, path);
      out[key] = t.def.fields ? v.map((x) => (isObject(x) ? omitDefaults(t.path.join("."), x) : x)) : v;
    } else if (!f.keyType && !f.rule && isObject(v) && !isScalar(f.type)) {
      const t = resolveType(f.type, path);
      out[key] = t.def.fields && !t.path.join(".").startsWith("google.protobuf.") ? omitDefaults(t.path.join("."), v) : v;
    } else out[key] = v;
  }
  return out;
}

function isScalar(type: string): boolean {
  return INT32.has(type) || INT64.has(type) || ["string", "bool", "bytes", "double", "float"].includes(type);
}
