/**
 * Cell parsers that work on byte ranges of the input buffer, so the reader never builds a
 * string for a plain number or date. Each returns NaN when its fast path does not apply;
 * the caller then falls back to the string path (which also produces the violation text).
 */

/**
 * Tokens read as "missing" in number and date columns, besides the empty field. This is the
 * common core of pandas' default `na_values`, so a file that pandas reads as NaN reads as
 * missing here too instead of producing "not a number" violations. Category columns only
 * treat the empty field as missing: "NA" is a real category value often enough (Namibia).
 */
export const MISSING_TOKENS: ReadonlySet<string> = new Set(["NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None", "#N/A"]);

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Plain decimals ("-12.375", "7", ".5") with at most 15 significant digits. Up to 15 digits the
 * mantissa is an exact integer and 10^k (k <= 22) is exact, so one division is correctly
 * rounded and the result is bit-identical to Number(text). Anything else returns NaN.
 */
export function parsePlainDecimal(buf: Uint8Array, s: number, e: number): number {
  let i = s;
  let c = buf[i]!;
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i++;
  }
  let m = 0;
  let digits = 0;
  let fraction = 0;
  let dot = false;
  for (; i < e; i++) {
    c = buf[i]!;
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      m = m * 10 + d;
      digits++;
      if (dot) fraction++;
    } else if (c === 46 && !dot) {
      dot = true;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  const v = fraction > 0 ? m / POW10[fraction]! : m;
  return neg ? -v : v;
}

const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The string path: exponents, long mantissas, surrounding spaces. NaN = not a number. */
export function parseNumberText(text: string): number {
  const t = text.trim();
  // Number() alone would accept "0x1F", "Infinity" and "" (as 0).
  if (!NUMBER_TEXT.test(t)) return NaN;
  return Number(t);
}

const DAY_MS = 86_400_000;

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = m === 2 ? (leap ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
  return d <= days;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Year and month (1-12) of a day number; the inverse of daysFromCivil without the day. */
export function yearMonthFromDays(days: number): { year: number; month: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp + (mp < 10 ? 3 : -9);
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month };
}

export function epochDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

function digitsAt(buf: Uint8Array, s: number, n: number): number {
  let v = 0;
  for (let i = s; i < s + n; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * Fast path for the two shapes real files use: "YYYY-MM-DD" and "YYYY-MM-DDTHH:MM:SSZ"
 * (ASHRAE DB II). Epoch ms UTC, or NaN to fall back to parseDateText.
 */
export function parseDateBytes(buf: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if ((len !== 10 && len !== 20) || buf[s + 4] !== 45 || buf[s + 7] !== 45) return NaN;
  const y = digitsAt(buf, s, 4);
  const m = digitsAt(buf, s + 5, 2);
  const d = digitsAt(buf, s + 8, 2);
  if (y < 0 || m < 0 || d < 0 || !validDate(y, m, d)) return NaN;
  let ms = daysFromCivil(y, m, d) * DAY_MS;
  if (len === 20) {
    if (buf[s + 10] !== 84 || buf[s + 13] !== 58 || buf[s + 16] !== 58 || buf[s + 19] !== 90) return NaN;
    const hh = digitsAt(buf, s + 11, 2);
    const mi = digitsAt(buf, s + 14, 2);
    const ss = digitsAt(buf, s + 17, 2);
    if (hh < 0 || mi < 0 || ss < 0 || hh > 23 || mi > 59 || ss > 59) return NaN;
    ms += ((hh * 60 + mi) * 60 + ss) * 1000;
  }
  return ms;
}

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * ISO 8601 dates and timestamps. A timestamp without a zone is read as UTC (Date.parse would
 * use the machine's zone, making results depend on where CI runs). Non-ISO text ("May 5") is
 * rejected rather than guessed. NaN = not a date.
 */
export function parseDateText(text: string): number {
  const m = DATE_TEXT.exec(text.trim());
  if (!m) return NaN;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (!validDate(y, mo, d)) return NaN;
  const hh = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const ss = m[6] === undefined ? 0 : Number(m[6]);
  if (hh > 23 || mi > 59 || ss > 60) return NaN;
  const frac = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2)) : 0));
  }
  return daysFromCivil(y, mo, d) * DAY_MS + ((hh * 60 + mi - offsetMin) * 60 + ss) * 1000 + Math.round(frac);
}

/** Trim, case-fold and treat a non-breaking space as a space (ASHRAE has one in `climate`). */
export function normalizeCategory(value: string): string {
  return value.replace(/\u00a0/g, " ").trim().toLowerCase();
}
