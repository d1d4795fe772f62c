import { UsageError } from "../core/errors.js";

/** Image references as Docker parses them: [registry/]repository[:tag]. */
const REFERENCE = /^(?:([a-zA-Z0-9.-]+(?::\d+)?|\[[0-9a-fA-F:]+\](?::\d+)?)\/)?([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?$/;

export interface ParsedReference {
  /** Registry host[:port], or null for a bare name. */
  registry: string | null;
  repository: string;
  tag: string;
}

export function parseImageReference(ref: string): ParsedReference {
  const m = REFERENCE.exec(ref);
  if (!m) throw new UsageError(`--tag "${ref}": not an image name (expected [registry/]name[:tag], lowercase, e.g. 127.0.0.1:5000/thermal-comfort:v1)`);
  // Like Docker: a first segment is a registry only when it has a dot, a port, or is localhost.
  let registry: string | null = m[1] ?? null;
  let repository = m[2]!;
  if (registry && !/[.:[]/.test(registry) && registry !== "localhost") {
    repository = `${registry}/${repository}`;
    registry = null;
  }
  return { registry, repository, tag: m[3] ?? "latest" };
}

/** Registries on this machine speak plain HTTP (a test's docker-registry); anything else must verify TLS. */
export function isLoopbackRegistry(registry: string | null): boolean {
  if (!registry) return false;
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

