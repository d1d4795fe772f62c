import { createHash, timingSafeEqual } from "node:crypto";
import { InputError } from "../core/errors.js";

/**
 * API keys with roles. Keys come from an environment variable or a mounted file (a Cloud Run
 * secret), as `role:key` entries separated by commas or newlines; `role:sha256:<hex>` gives a key
 * by its hash so the plain key need not be stored anywhere. In memory only sha256 digests are
 * kept; a presented key is hashed and compared with every stored digest in constant time (no
 * early exit, so the time does not tell how many keys exist or which one nearly matched).
 */
export const ROLES = ["viewer", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface ApiKeyEntry {
  role: Role;
  digest: Buffer;
  /** First 8 hex digits of the digest: names the key in logs and rate-limit buckets without revealing it. */
  id: string;
}

export interface Principal {
  role: Role;
  keyId: string;
}

export interface KeyStore {
  readonly size: number;
  /** The principal for a presented key, or null when it matches none. */
  authenticate(presented: string): Principal | null;
}

const ROLE_RANK: Record<Role, number> = { viewer: 1, admin: 2 };

export function roleAllows(role: Role, needed: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

function digestOf(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** Parses `role:key` entries; `source` names where they came from in errors (never the keys). */
export function parseKeyEntries(text: string, source: string): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = [];
  const parts = text
    .split(/[\n,]/)
    .map((p) => p.trim())
    .filter((p) => p !== "" && !p.startsWith("#"));
  parts.forEach((part, i) => {
    const colon = part.indexOf(":");
    const role = colon > 0 ? part.slice(0, colon).trim() : "";
    const key = colon > 0 ? part.slice(colon + 1).trim() : "";
    if (!(ROLES as readonly string[]).includes(role)) throw new InputError(`${source}: entry ${i + 1}: expected role:key with role ${ROLES.join(" or ")}`);
    if (key === "") throw new InputError(`${source}: entry ${i + 1}: empty key`);
    let digest: Buffer;
    const hashed = /^sha256:([0-9a-f]{64})$/i.exec(key);
    if (hashed) digest = Buffer.from(hashed[1]!.toLowerCase(), "hex");
    else if (key.length < 16) throw new InputError(`${source}: entry ${i + 1}: a key must have at least 16 characters`);
    else digest = digestOf(key);
    entries.push({ role: role as Role, digest, id: digest.toString("hex").slice(0, 8) });
  });
  return entries;
}

export function createKeyStore(entries: ApiKeyEntry[]): KeyStore {
  const stored = entries.map((e) => ({ ...e }));
  return {
    size: stored.length,
    authenticate(presented) {
      if (stored.length === 0 || presented.length === 0 || presented.length > 4096) return null;
      const digest = digestOf(presented);
      let match: ApiKeyEntry | null = null;
      for (const entry of stored) {
        // Every entry is compared, matched or not.
        const equal = timingSafeEqual(entry.digest, digest);
        if (equal && match === null) match = entry;
      }
      return match ? { role: match.role, keyId: match.id } : null;
    },
  };
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | null {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const header = headers["x-api-key"];
  if (typeof header === "string" && header.trim() !== "") return header.trim();
  return null;
}
