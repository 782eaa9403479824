/** The export formats as one use case, for the HTTP routes and the CLI (`npx postmaster export --format ...`). */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Context } from '../../context.js';
import { cutoffOf, expiredCount, newStats, type ExportSnapshot, type ExportStats } from './common.js';
import { postfixChunks } from './postfix.js';
import { rbldnsdChunks } from './rbldnsd.js';

export const EXPORT_FORMATS = ['rbldnsd', 'postfix'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const isExportFormat = (value: string): value is ExportFormat => (EXPORT_FORMATS as readonly string[]).includes(value);

/** The text of one format for one snapshot, as chunks of about 64 KB. */
export function exportChunks(ctx: Pick<Context, 'config' | 'policy'>, format: ExportFormat, snapshot: ExportSnapshot, now: Date, stats: ExportStats = newStats()): Generator<string, void, undefined> {
  return format === 'rbldnsd'
    ? rbldnsdChunks(snapshot, { publicUrl: ctx.config.publicUrl, categories: ctx.policy.categories, now, stats })
    : postfixChunks(snapshot, { now, stats });
}

/**
 * A strong validator for the export of `snapshot` at `now`: the routing version, plus how many of its entries
 * have expired by now (the text leaves those out, and an expiry changes the text before the expiry job bumps the
 * version), plus the content coding. Equal tags mean equal text.
 */
export function exportEtag(format: ExportFormat, snapshot: ExportSnapshot, now: Date, gzip: boolean): string {
  const expired = expiredCount(snapshot, cutoffOf(now));
  return `"v${snapshot.version}${expired ? `-e${expired}` : ''}-${format}${gzip ? '-gzip' : ''}"`;
}

/** Writes chunks to a stream, waiting for 'drain' whenever it asks to (stdout, a file, a socket); rejects on its first error. */
export async function writeChunks(chunks: Iterable<string>, out: Writable): Promise<void> {
  const state: { error: Error | null } = { error: null };
  const onError = (err: Error) => (state.error ??= err);
  out.on('error', onError);
  try {
    for (const chunk of chunks) {
      if (state.error) throw state.error;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    if (state.error) throw state.error;
  } finally {
    out.off('error', onError);
  }
}

/** Writes the current snapshot in a format to a stream (the CLI gives process.stdout); returns what went out. */
export async function writeExport(ctx: Context, format: ExportFormat, out: Writable, now = new Date()): Promise<{ version: number; stats: ExportStats }> {
  const snapshot = await ctx.routing.snapshot();
  const stats = newStats();
  await writeChunks(exportChunks(ctx, format, snapshot, now, stats), out);
  return { version: snapshot.version, stats };
}
