// The hourly usage of one key over 7 days as an inline SVG, stacked by outcome.
import type { SeriesEntry } from "./api";
import { OUTCOMES } from "./format";
import { html } from "./ui";

const HOURS = 168;
const WIDTH = 672;
const HEIGHT = 160;

export function UsageChart({ series, from }: { series: SeriesEntry[]; from: number }) {
  const hours: Record<string, number>[] = Array.from({ length: HOURS }, () => ({}));
  let total = 0;
  for (const bucket of series) {
    const index = Math.floor((Date.parse(bucket.start) - from) / 3_600_000);
    if (index < 0 || index >= HOURS) continue;
    for (const [outcome] of OUTCOMES) {
      const count = Number(bucket[outcome] ?? 0);
      hours[index][outcome] = (hours[index][outcome] ?? 0) + count;
      total += count;
    }
  }
  const highest = Math.max(1, ...hours.map((h) => Object.values(h).reduce((a, b) => a + b, 0)));
  const barWidth = WIDTH / HOURS;
  const bars = hours.flatMap((counts, index) => {
    let y = HEIGHT;
    return OUTCOMES.filter(([outcome]) => counts[outcome]).map(([outcome, label, color]) => {
      const height = (counts[outcome] / highest) * (HEIGHT - 4);
      y -= height;
      const start = new Date(from + index * 3_600_000).toISOString().slice(0, 13).replace("T", " ");
      return html`<rect x=${index * barWidth} y=${y} width=${Math.max(barWidth - 0.5, 0.5)} height=${height} fill=${color}>
        <title>${start}:00 UTC, ${label}: ${counts[outcome]}</title>
      </rect>`;
    });
  });
  const totals = OUTCOMES.map(([outcome, label, color]) => ({
    label,
    color,
    count: hours.reduce((sum, h) => sum + (h[outcome] ?? 0), 0),
  }));
  const summary = `${total} checks in the last 7 days: ` + totals.map((t) => `${t.label} ${t.count}`).join(", ");
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label=${summary}>
      <line x1="0" y1=${HEIGHT - 0.5} x2=${WIDTH} y2=${HEIGHT - 0.5} stroke="#9ca3af" />
      ${bars}
    </svg>
    <figcaption>
      <span class="muted">Hourly, last 7 days (UTC), highest hour ${highest === 1 && total === 0 ? 0 : highest}.</span>
      <ul class="legend">
        ${totals.map((t) => html`<li><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill=${t.color} /></svg> ${t.label}: ${t.count}</li>`)}
      </ul>
    </figcaption>
  </figure>`;
}
