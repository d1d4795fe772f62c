/**
 * The one masking path for everything the pipeline prints: the console reporter, the CLI's error
 * handler and the actions' failure messages all pass their text through `maskSecrets`. Two kinds of
 * text are masked: values registered as secret (a token read from the environment), and anything
 * that looks like a GitHub token even when nobody registered it (a token embedded in a remote URL,
 * an API error echoing the Authorization header).
 */
const registered = new Set<string>();

export const MASK = "***";

/** Token shapes GitHub issues (and credentials embedded in URLs), masked wherever they appear. */
const TOKEN_PATTERNS: RegExp[] = [
  /\bgh[pousr]_[A-Za-z0-9_]{10,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{10,}/g,
  // https://user:secret@host or https://x-access-token:secret@host: mask the credential part.
  /(?<=[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+(?=@)/gi,
  /(?<=\b(?:authorization|bearer|token)[\s:="']+)(?!\*\*\*)[A-Za-z0-9_.-]{16,}/gi,
];

/** Registers a value that must never be printed. Values shorter than 4 characters are ignored (masking them would garble every message). */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) registered.add(value);
}

export function maskSecrets(text: string): string {
  let out = text;
  // Longest first, so a secret containing another is masked whole.
  for (const secret of [...registered].sort((a, b) => b.length - a.length)) out = out.split(secret).join(MASK);
  for (const pattern of TOKEN_PATTERNS) out = out.replace(pattern, MASK);
  return out;
}
