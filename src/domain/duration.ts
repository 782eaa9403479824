const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

const MAX_MS = 10 * 366 * UNITS.d!;

/** Parses "30m", "72h", "7d", "2w" into milliseconds (at most ten years); null for anything else. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([mhdw])$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return ms > 0 && ms <= MAX_MS ? ms : null;
}
