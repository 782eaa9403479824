/**
 * Times on staff pages: an absolute time (UTC on the server; the browser's own time zone once public/staff-time.js
 * ran) and how long ago or ahead it is, in words. Raw ISO strings stay in the `datetime` attribute only.
 */
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** "5 min ago", "in 3 h", "2 d ago": rounded to the unit a reader needs. */
export function relativeTime(ms: number, now: number): string {
  const diff = ms - now;
  const abs = Math.abs(diff);
  const [value, unit] = abs < 60_000 ? [0, ''] : abs < 3_600_000 ? [Math.round(abs / 60_000), 'min'] : abs < 172_800_000 ? [Math.round(abs / 3_600_000), 'h'] : [Math.round(abs / 86_400_000), 'd'];
  if (!unit) return 'just now';
  return diff < 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`;
}

/** The markup of one time: `<time datetime>` with the UTC time and the relative one; '' for a missing time. */
export function staffTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escape(iso);
  const d = new Date(ms).toISOString();
  const utc = `${d.slice(0, 10)} ${d.slice(11, 16)} UTC`;
  return `<time datetime="${escape(d)}" data-local title="${escape(d)}"><span class="abs">${utc}</span> <span class="rel">(${relativeTime(ms, now)})</span></time>`;
}
