import { createRequire } from 'node:module';
import path from 'node:path';
import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { translator } from '../../i18n/index.js';
import { SERIES, type HourCounts, type Series } from '../../stores/dashboard.js';

const HOUR = 3_600_000;
/** Open tickets due within this many hours are "due soon". */
export const DUE_SOON_HOURS = 4;
const TOP_TENANTS = 10;


export interface Dashboard {
  /** The IANA time zone the days are counted in ('UTC' unless the reader's browser named a valid one). */
  timeZone: string;
  generatedAt: string;
  series: Array<{ key: Series; label: string }>;
  /** The last 48 hours, oldest first: the hour's start (ISO, UTC) and its counts. */
  hours: Array<{ at: string; counts: Record<Series, number> }>;
  /** The last 30 days in `timeZone`, oldest first (today included, so far). */
  days: Array<{ day: string; counts: Record<Series, number> }>;
  topTenants: Array<{ tenant: string; name: string | null; n: number }>;
  sla: Array<{ kind: string; overdue: number; dueSoon: number; onTrack: number }>;
  dueSoonHours: number;
  firstResponse: { medianSeconds: number | null; tickets: number };
}

/** A time zone name the runtime knows, else UTC: the query parameter is the reader's, so it is checked, never trusted. */
export function validTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.length > 64 || !/^[A-Za-z0-9_+\-/]+$/.test(tz)) return 'UTC';
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return 'UTC';
  }
}

const dayFormats = new Map<string, (d: Date) => string>();
/** The local date (YYYY-MM-DD) of a time in a zone; formatters are built once per zone (building one costs more than using it). */
function dayFormat(timeZone: string): (d: Date) => string {
  let format = dayFormats.get(timeZone);
  if (!format) {
    const intl = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    format = timeZone === 'UTC' ? (d) => d.toISOString().slice(0, 10) : (d) => intl.format(d);
    if (dayFormats.size < 500) dayFormats.set(timeZone, format);
  }
  return format;
}

/** What the stores counted: everything but the days, which depend on the reader's time zone. */
interface Figures {
  now: Date;
  hourly: HourCounts[];
  topTenants: Dashboard['topTenants'];
  sla: Dashboard['sla'];
  firstResponse: Dashboard['firstResponse'];
}

async function figures(ctx: Context, now: Date): Promise<Figures> {
  const [hourly, topTenants, sla, firstResponse] = await Promise.all([
    ctx.dashboard.hourly(new Date(now.getTime() - 31 * 24 * HOUR), now),
    ctx.dashboard.topTenants(new Date(now.getTime() - 24 * HOUR), TOP_TENANTS),
    ctx.dashboard.slaStates(now, DUE_SOON_HOURS),
    ctx.dashboard.firstResponse(new Date(now.getTime() - 30 * 24 * HOUR)),
  ]);
  return { now, hourly, topTenants, sla, firstResponse };
}

/**
 * The dashboard in `timeZone`. Arrivals are counted per UTC hour (one index range per series over 31 days); the days
 * are those hours summed by the local date their start falls on (exact for zones a whole number of hours from UTC;
 * in a zone like +05:30 each hour counts on the day it starts).
 */
function inZone(f: Figures, timeZone: string, withDays = true): Dashboard {
  const dayOf = dayFormat(timeZone);
  const byDay = new Map<string, Record<Series, number>>();
  for (const h of withDays ? f.hourly : []) {
    const day = dayOf(h.hour);
    const sum = byDay.get(day) ?? { reports: 0, delists: 0, reviews: 0, unblocks: 0 };
    for (const s of SERIES) sum[s] += h.counts[s];
    byDay.set(day, sum);
  }
  return {
    timeZone,
    generatedAt: f.now.toISOString(),
    series: SERIES.map((key) => ({ key, label: translator('en')(`staff.dashboard.series.${key}`) })),
    hours: f.hourly.slice(-48).map((h) => ({ at: h.hour.toISOString(), counts: h.counts })),
    days: [...byDay].map(([day, counts]) => ({ day, counts })).slice(-30),
    topTenants: f.topTenants,
    sla: f.sla,
    dueSoonHours: DUE_SOON_HOURS,
    firstResponse: f.firstResponse,
  };
}

/** The dashboard's figures as of `now`, counted now, with the days in `timeZone`. */
export async function dashboard(ctx: Context, timeZone = 'UTC', now = new Date()): Promise<Dashboard> {
  return inZone(await figures(ctx, now), timeZone);
}

/** How long a process serves the figures it counted: the page and the JSON its script asks for next, and readers opening it together, share one count. */
export const SHARED_MS = 10_000;
const shared = new WeakMap<Context, { at: number; figures: Promise<Figures> }>();

function recentFigures(ctx: Context): Promise<Figures> {
  const now = Date.now();
  const held = shared.get(ctx);
  if (held && now - held.at < SHARED_MS) return held.figures;
  const counting = figures(ctx, new Date(now));
  counting.catch(() => shared.delete(ctx));
  shared.set(ctx, { at: now, figures: counting });
  return counting;
}

/** "1 h 5 min", "3 d 2 h", "40 s": a duration as a desk reads it. */
export function duration(seconds: number | null): string {
  if (seconds === null) return 'no response yet';
  if (seconds < 60) return `${seconds} s`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** The dashboard as the triage queue's first page shows it (no days; the figures shared with the dashboard page). */
export async function glance(ctx: Context): Promise<Dashboard> {
  return inZone(await recentFigures(ctx), 'UTC', false);
}

/** GET /staff/dashboard: the page (figures in UTC, the tables; the script redraws them in the reader's time zone). */
export function dashboardPage(ctx: Context): RequestHandler {
  return async (_req, res) => {
    res.render('staff/dashboard', { title: 'Dashboard', d: inZone(await recentFigures(ctx), 'UTC'), duration });
  };
}

/** GET /staff/assets/chart.umd.min.js: Chart.js's browser build, from the installed package (CSP 'self', no CDN). */
export function chartLibrary(): RequestHandler {
  const file = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
  return (_req, res, next) => {
    res.sendFile(file, { maxAge: '1d', headers: { 'Content-Type': 'text/javascript; charset=utf-8' } }, (err) => err && next(err));
  };
}

/** GET /staff/dashboard.json?tz=Area/City: the figures, for the page's own script (public/staff-dashboard.js). */
export function dashboardJson(ctx: Context): RequestHandler {
  return async (req, res) => {
    res.json(inZone(await recentFigures(ctx), validTimeZone(req.query.tz)));
  };
}
