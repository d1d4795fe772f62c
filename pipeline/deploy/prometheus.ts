/**
 * A reader for the Prometheus text exposition format (version 0.0.4), enough for the canary:
 * samples with labels, comments skipped, label values unescaped (\\, \", \n), `+Inf`/`NaN`.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(text: string): number {
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === " " || text[i] === ",") i++;
    if (i >= text.length) break;
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq).trim();
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label ${name} value is not quoted`);
    let j = eq + 2;
    let value = "";
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        value += next === "n" ? "\n" : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`line ${line}: unterminated label value`);
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    const brace = line.indexOf("{");
    const space = line.indexOf(" ");
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.slice(0, brace);
      // The closing brace is the last one outside quotes; label values may contain "}".
      let depthEnd = -1;
      let inQuotes = false;
      for (let k = brace + 1; k < line.length; k++) {
        const ch = line[k];
        if (ch === "\\" && inQuotes) {
          k++;
          continue;
        }
        if (ch === '"') inQuotes = !inQuotes;
        else if (ch === "}" && !inQuotes) {
          depthEnd = k;
          break;
        }
      }
      if (depthEnd < 0) throw new Error(`line ${n + 1}: unterminated label set`);
      labels = parseLabels(line.slice(brace + 1, depthEnd), n + 1);
      rest = line.slice(depthEnd + 1).trim();
    } else {
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const value = parseValue(rest.split(/\s+/)[0] ?? "");
    samples.push({ name, labels, value });
  }
  return samples;
}
