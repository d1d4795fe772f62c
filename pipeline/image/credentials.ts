import { open } from "node:fs/promises";
import { join, posix } from "node:path";
import { GateFailure } from "../core/errors.js";
import { listContextFiles, readIgnorePatterns } from "./dockerignore.js";

/**
 * The credentials guard. google-github-actions/auth writes `gha-creds-*.json` into the workspace,
 * and image builds have shipped it inside images (auth #123, #298, #497); keys, `.env` files and
 * `.npmrc` tokens leak the same way. Before any engine runs, every file that would enter the build
 * context (after the engine's ignore file) is checked by name and, for the kinds that carry
 * secrets in their content, by content. Contents are never reported, only the path and why.
 */
export interface CredentialFinding {
  /** Path relative to the context root. */
  path: string;
  reason: string;
}

/** Only the head of a file is read: secrets sit in small files, and the guard must stay fast. */
const CONTENT_BYTES = 256 * 1024;

const PRIVATE_KEY_PEM = /-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----/;

interface NameRule {
  test: (name: string) => boolean;
  reason: string;
}

const NAME_RULES: NameRule[] = [
  { test: (n) => /^gha-creds-.*\.json$/.test(n), reason: "google-github-actions/auth credentials file" },
  { test: (n) => /\.(pem|key|p12|pfx|jks|keystore|ppk)$/i.test(n), reason: "private key or certificate store" },
  { test: (n) => /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/.test(n), reason: "SSH private key" },
  { test: (n) => /^\.env(\..+)?$/.test(n) && !/\.(example|sample|template|dist)$/.test(n), reason: "environment file (.env)" },
  { test: (n) => n === ".netrc" || n === "_netrc", reason: "netrc credentials" },
  { test: (n) => n === ".git-credentials", reason: "git credential store" },
  { test: (n) => n === ".pgpass", reason: "PostgreSQL password file" },
  { test: (n) => n === "credentials" || n === "credentials.json" || n === "application_default_credentials.json", reason: "cloud credentials file" },
];

/** Files whose secrets are in their content: checked by reading them. */
function contentRule(name: string): ((text: string) => string | null) | null {
  if (name === ".npmrc" || name === ".yarnrc" || name === ".yarnrc.yml") {
    return (t) => (/(_authToken|_auth|_password|npmAuthToken|npmAuthIdent)\s*[=:]/.test(t) ? "registry auth token" : null);
  }
  if (name === "config.json" || name === "auth.json") {
    return (t) => (/"auths"\s*:\s*\{[\s\S]*"auth"\s*:\s*"[^"]+"/.test(t) ? "container registry login (auths)" : null);
  }
  if (/\.json$/i.test(name)) {
    return (t) => {
      if (/"private_key"\s*:/.test(t)) return "service-account key (JSON with private_key)";
      if (/"type"\s*:\s*"(service_account|external_account|authorized_user|impersonated_service_account)"/.test(t)) return "Google credentials JSON";
      return null;
    };
  }
  return null;
}

async function readHead(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(CONTENT_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, CONTENT_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** Files outside dependencies are small source files: any of them holding a PEM private key is refused too. */
function isDependency(path: string): boolean {
  return path.split("/").includes("node_modules");
}

export async function findCredentialFiles(contextDir: string, ignoreFiles?: string[]): Promise<CredentialFinding[]> {
  const { patterns } = await readIgnorePatterns(contextDir, ignoreFiles);
  const files = await listContextFiles(contextDir, patterns);
  const findings: CredentialFinding[] = [];
  for (const path of files) {
    const name = posix.basename(path);
    const byName = NAME_RULES.find((r) => r.test(name));
    if (byName) {
      findings.push({ path, reason: byName.reason });
      continue;
    }
    const check = contentRule(name);
    const scanSource = !isDependency(path) && !/\.(ts|js|mjs|cjs|md)$/.test(name);
    if (!check && !scanSource) continue;
    let text: string;
    try {
      text = await readHead(join(contextDir, path));
    } catch {
      continue; // a dangling symlink or unreadable file: the engine will fail on it with its own message
    }
    const reason = check?.(text) ?? (scanSource && PRIVATE_KEY_PEM.test(text) ? "file contains a PEM private key" : null);
    if (reason) findings.push({ path, reason });
  }
  return findings.sort((a, b) => a.path.localeCompare(b.path));
}

/** Refuses the build (exit 1) naming every credentials-looking file that would enter the context. */
export async function assertNoCredentials(contextDir: string, ignoreFiles?: string[]): Promise<void> {
  const findings = await findCredentialFiles(contextDir, ignoreFiles);
  if (findings.length === 0) return;
  const lines = findings.map((f) => `  ${f.path}: ${f.reason}`);
  throw new GateFailure(
    `refusing to build: ${findings.length} credentials-looking file(s) would enter the build context ${contextDir}\n${lines.join("\n")}\n` +
      `Remove them, or exclude them in .dockerignore (e.g. "gha-creds-*.json"); with google-github-actions/auth, ` +
      `set create_credentials_file: false or run it after the build.`,
  );
}
