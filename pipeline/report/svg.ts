/**
 * Inline SVG charts for the HTML run report: strings in, strings out, no DOM and no scripts, so the
 * report is one self-contained file that any browser draws offline. Every mark carries its value in
 * a data attribute (and a <title> tooltip), which is what the browser test reads back.
 */

export function escapeXml(value: unknown): string {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const num = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(2)) : 0);

export const PALETTE = {
  primary: "#3b6fd4",
  secondary: "#9aa5b8",
  bad: "#c8341f",
  good: "#23834a",
  threshold: "#1d1d1f",
  grid: "#e3e6eb",
  text: "#1d1d1f",
  muted: "#5d6470",
};

export interface BarRow {
  label: string;
  value: number;
  /** ± error shown as a whisker (e.g. permutation importance std). */
  error?: number;
  /** A per-row limit drawn as a tick (e.g. a drift threshold). */
  threshold?: number;
  flagged?: boolean;
  /** Text after the bar; default the value with `format`. */
  note?: string;
}

export interface HorizontalBarsOptions {
  id: string;
  title: string;
  rows: BarRow[];
  format?: (v: number) => string;
  /** Axis maximum; default the largest value, error or threshold. */
  max?: number;
  /** A limit shared by every row, drawn as one vertical line. */
  threshold?: { value: number; label: string };
  width?: number;
}

/** Horizontal bars, one row per item: feature importance, drift per feature. */
export function horizontalBars(o: HorizontalBarsOptions): string {
  const format = o.format ?? ((v: number) => v.toFixed(3));
  const width = o.width ?? 680;
  const labelW = Math.min(220, 12 + 7 * Math.max(4, ...o.rows.map((r) => Math.min(r.label.length, 28))));
  const noteW = 150;
  const rowH = 22;
  const top = 8;
  const plotW = width - labelW - noteW;
  const height = top + o.rows.length * rowH + 22;
  const max = o.max ?? Math.max(1e-12, ...o.rows.flatMap((r) => [r.value + (r.error ?? 0), r.threshold ?? 0]), o.threshold?.value ?? 0);
  const x = (v: number) => labelW + (Math.max(0, Math.min(v, max)) / max) * plotW;
  const parts: string[] = [];
  // Grid at quarters of the axis, labelled below.
  for (let i = 0; i <= 4; i++) {
    const gx = num(labelW + (i / 4) * plotW);
    parts.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${top + o.rows.length * rowH}" stroke="${PALETTE.grid}"/>`);
    parts.push(`<text x="${gx}" y="${height - 6}" font-size="10" text-anchor="middle" fill="${PALETTE.muted}">${escapeXml(format((i / 4) * max))}</text>`);
  }
  o.rows.forEach((r, i) => {
    const y = top + i * rowH;
    const w = num(x(r.value) - labelW);
    const fill = r.flagged ? PALETTE.bad : PALETTE.primary;
    const label = r.label.length > 28 ? `${r.label.slice(0, 27)}…` : r.label;
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" font-size="12" text-anchor="end" fill="${PALETTE.text}">${escapeXml(label)}</text>`);
    parts.push(
      `<rect class="bar${r.flagged ? " flagged" : ""}" data-label="${escapeXml(r.label)}" data-value="${escapeXml(r.value)}" x="${labelW}" y="${y + 4}" width="${Math.max(0, w)}" height="${rowH - 8}" fill="${fill}" rx="2"><title>${escapeXml(`${r.label}: ${format(r.value)}${r.error !== undefined ? ` ± ${format(r.error)}` : ""}`)}</title></rect>`,
    );
    if (r.error !== undefined && r.error > 0) {
      const x1 = num(x(r.value - r.error));
      const x2 = num(x(r.value + r.error));
      const cy = y + rowH / 2;
      parts.push(`<path class="whisker" d="M${x1} ${cy}H${x2}M${x1} ${cy - 4}V${cy + 4}M${x2} ${cy - 4}V${cy + 4}" stroke="${PALETTE.text}" fill="none"/>`);
    }
    if (r.threshold !== undefined) {
      const tx = num(x(r.threshold));
      parts.push(`<line class="threshold" data-value="${escapeXml(r.threshold)}" x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowH - 1}" stroke="${PALETTE.threshold}" stroke-width="2"/>`);
    }
    parts.push(`<text x="${labelW + plotW + 8}" y="${y + 15}" font-size="12" fill="${r.flagged ? PALETTE.bad : PALETTE.text}">${escapeXml(r.note ?? format(r.value))}</text>`);
  });
  if (o.threshold) {
    const tx = num(x(o.threshold.value));
    parts.push(`<line class="threshold" data-value="${escapeXml(o.threshold.value)}" x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + o.rows.length * rowH + 2}" stroke="${PALETTE.threshold}" stroke-width="2" stroke-dasharray="4 3"><title>${escapeXml(o.threshold.label)}</title></line>`);
  }
  return svg(o.id, o.title, width, height, parts);
}

export interface GroupedBarsOptions {
  id: string;
  title: string;
  /** One group per metric. */
  groups: { label: string; values: (number | null)[] }[];
  series: string[];
  max?: number;
  format?: (v: number) => string;
  width?: number;
}

/** Vertical bars grouped by category, one colour per series: the metrics of the candidate against production. */
export function groupedBars(o: GroupedBarsOptions): string {
  const format = o.format ?? ((v: number) => v.toFixed(3));
  const width = o.width ?? 680;
  const height = 240;
  const left = 44;
  const top = 26;
  const bottom = 34;
  const plotH = height - top - bottom;
  const plotW = width - left - 10;
  const max = o.max ?? Math.max(1e-12, ...o.groups.flatMap((g) => g.values.filter((v): v is number => v !== null)));
  const y = (v: number) => top + plotH - (Math.max(0, Math.min(v, max)) / max) * plotH;
  const colours = [PALETTE.primary, PALETTE.secondary, "#e0a030", "#6a4fc1"];
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (i / 4) * max;
    const gy = num(y(v));
    parts.push(`<line x1="${left}" y1="${gy}" x2="${left + plotW}" y2="${gy}" stroke="${PALETTE.grid}"/>`);
    parts.push(`<text x="${left - 6}" y="${gy + 4}" font-size="10" text-anchor="end" fill="${PALETTE.muted}">${escapeXml(format(v))}</text>`);
  }
  const groupW = plotW / Math.max(1, o.groups.length);
  const barW = Math.min(46, (groupW - 16) / Math.max(1, o.series.length));
  o.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * o.series.length) / 2;
    g.values.forEach((v, si) => {
      if (v === null) return;
      const by = num(y(v));
      const bx = num(gx + si * barW);
      parts.push(
        `<rect class="bar" data-group="${escapeXml(g.label)}" data-series="${escapeXml(o.series[si] ?? "")}" data-value="${escapeXml(v)}" x="${bx}" y="${by}" width="${num(barW - 3)}" height="${num(top + plotH - by)}" fill="${colours[si % colours.length]}" rx="2"><title>${escapeXml(`${g.label}, ${o.series[si]}: ${format(v)}`)}</title></rect>`,
      );
      parts.push(`<text x="${num(bx + (barW - 3) / 2)}" y="${num(by - 4)}" font-size="10" text-anchor="middle" fill="${PALETTE.text}">${escapeXml(format(v))}</text>`);
    });
    parts.push(`<text x="${num(left + gi * groupW + groupW / 2)}" y="${height - bottom + 16}" font-size="12" text-anchor="middle" fill="${PALETTE.text}">${escapeXml(g.label)}</text>`);
  });
  // Legend.
  let lx = left;
  o.series.forEach((s, si) => {
    parts.push(`<rect x="${lx}" y="6" width="12" height="12" fill="${colours[si % colours.length]}"/><text x="${lx + 16}" y="16" font-size="12" fill="${PALETTE.text}">${escapeXml(s)}</text>`);
    lx += 28 + 7 * s.length;
  });
  return svg(o.id, o.title, width, height, parts);
}

export interface HeatmapOptions {
  id: string;
  title: string;
  rowLabels: string[];
  colLabels: string[];
  matrix: number[][];
  rowTitle: string;
  colTitle: string;
}

/**
 * A confusion-matrix heatmap: cell colour by the share of its row (recall per true class), so a
 * rare class is as readable as a common one; the count is written in the cell.
 */
export function heatmap(o: HeatmapOptions): string {
  const cell = Math.max(44, Math.min(90, Math.floor(460 / Math.max(1, o.colLabels.length))));
  const labelW = Math.min(160, 16 + 7 * Math.max(...o.rowLabels.map((l) => l.length), 4));
  const top = 40;
  const width = labelW + cell * o.colLabels.length + 20;
  const height = top + cell * o.rowLabels.length + 30;
  const parts: string[] = [];
  parts.push(`<text x="${labelW + (cell * o.colLabels.length) / 2}" y="12" font-size="11" text-anchor="middle" fill="${PALETTE.muted}">${escapeXml(o.colTitle)}</text>`);
  o.colLabels.forEach((c, j) => parts.push(`<text x="${labelW + j * cell + cell / 2}" y="${top - 8}" font-size="12" text-anchor="middle" fill="${PALETTE.text}">${escapeXml(c)}</text>`));
  o.rowLabels.forEach((r, i) => {
    const row = o.matrix[i] ?? [];
    const total = row.reduce((a, b) => a + b, 0);
    parts.push(`<text x="${labelW - 8}" y="${top + i * cell + cell / 2 + 4}" font-size="12" text-anchor="end" fill="${PALETTE.text}">${escapeXml(r)}</text>`);
    o.colLabels.forEach((_, j) => {
      const v = row[j] ?? 0;
      const share = total > 0 ? v / total : 0;
      // White to the primary blue; text flips to white on dark cells.
      const mix = (a: number, b: number) => Math.round(a + (b - a) * share);
      const fill = `rgb(${mix(255, 59)},${mix(255, 111)},${mix(255, 212)})`;
      const x = labelW + j * cell;
      const y = top + i * cell;
      parts.push(
        `<rect class="cell${i === j ? " diagonal" : ""}" data-row="${escapeXml(r)}" data-col="${escapeXml(o.colLabels[j])}" data-value="${v}" data-share="${share.toFixed(4)}" x="${x}" y="${y}" width="${cell - 2}" height="${cell - 2}" fill="${fill}" stroke="${i === j ? PALETTE.text : "none"}"><title>${escapeXml(`true ${r}, predicted ${o.colLabels[j]}: ${v} (${(share * 100).toFixed(1)}% of ${r})`)}</title></rect>`,
      );
      parts.push(`<text x="${x + cell / 2 - 1}" y="${y + cell / 2 + 4}" font-size="12" text-anchor="middle" fill="${share > 0.55 ? "#fff" : PALETTE.text}">${v}</text>`);
    });
  });
  parts.push(`<text x="12" y="${top + (cell * o.rowLabels.length) / 2}" font-size="11" text-anchor="middle" fill="${PALETTE.muted}" transform="rotate(-90 12 ${top + (cell * o.rowLabels.length) / 2})">${escapeXml(o.rowTitle)}</text>`);
  return svg(o.id, o.title, width, height, parts);
}

function svg(id: string, title: string, width: number, height: number, parts: string[]): string {
  const titleId = `${id}-title`;
  return `<svg class="chart" data-chart="${escapeXml(id)}" role="img" aria-labelledby="${titleId}" viewBox="0 0 ${num(width)} ${num(height)}" width="${num(width)}" height="${num(height)}"><title id="${titleId}">${escapeXml(title)}</title>${parts.join("")}</svg>`;
}
