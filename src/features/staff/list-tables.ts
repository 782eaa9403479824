import type { Request, RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { IpInputError, parseNetwork, type Network } from '../../domain/ip.js';
import { normalizeIpInput } from '../../domain/ip-input.js';
import { POOLS } from '../../domain/pools.js';
import type { Role } from '../../stores/staff.js';
import { LIST_SORTS, type DateRange, type Page } from '../../stores/list-tables.js';
import { editAllowEntry, editAssignment, editExclusion, editListing, editRestriction, removeExclusion } from '../lists/entries.js';
import { ValidationError } from '../../errors.js';
import { tenantId } from '../pools/service.js';
import { liftToProbation } from '../unblock/service.js';
import { staffTime } from './time.js';

/**
 * The staff tables of exclusions, the allow list, pool assignments, restrictions and tenants (the listings have their
 * own, lists.ts): each a filter form (an error beside its field and a 400 for a value that is not one), a sortable,
 * cursor-paged table with a caption and column headers, and each row's actions, which come back to the same table.
 * One view (staff/list-table) draws them all from the description built here.
 */

type Cell = { text?: string; html?: string; href?: string; code?: boolean };
interface Field {
  name: string;
  label: string;
  type?: 'text' | 'date';
  placeholder?: string;
  size?: number;
  required?: boolean;
}
interface RowForm {
  action: string;
  hidden: Record<string, string>;
  fields: Field[];
  button: string;
}
interface Filter {
  name: string;
  label: string;
  type: 'text' | 'select' | 'date';
  options?: Array<[value: string, label: string]>;
  size?: number;
}

export const LIST_TABLES = [
  ['blocklist', 'Listings'],
  ['exclusions', 'Exclusions'],
  ['allowlist', 'Allow list'],
  ['pools', 'Pool assignments'],
  ['restrictions', 'Restrictions'],
  ['tenants', 'Tenants'],
] as const;

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The query's text fields, bounded; the errors of the ones that are not what they claim. */
class Filters {
  readonly values: Record<string, string> = {};
  readonly errors: Record<string, string> = {};
  constructor(private readonly q: Request['query']) {}

  text(name: string, max = 254): string {
    const v = str(this.q[name]).trim().slice(0, max);
    this.values[name] = v;
    return v;
  }

  network(name = 'ip'): Network | undefined {
    const v = normalizeIpInput(this.text(name, 100));
    this.values[name] = v;
    if (!v) return undefined;
    try {
      return parseNetwork(v);
    } catch (err) {
      this.errors[name] = err instanceof IpInputError ? err.message : 'Not an IP address or range.';
      return undefined;
    }
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], what: string): T | undefined {
    const v = this.text(name, 64);
    if (!v) return undefined;
    if (!(allowed as readonly string[]).includes(v)) {
      this.errors[name] = `Not a ${what}: choose one of ${allowed.join(', ')}.`;
      return undefined;
    }
    return v as T;
  }

  sort<T extends string>(allowed: readonly T[]): T {
    const v = this.text('sort', 16);
    const sort = (allowed as readonly string[]).includes(v) ? (v as T) : allowed[0]!;
    this.values.sort = sort;
    return sort;
  }

  /** `since` and `until` as UTC days (YYYY-MM-DD, a real date). */
  dates(): DateRange {
    const out: DateRange = {};
    for (const name of ['since', 'until'] as const) {
      const v = this.text(name, 10);
      if (!v) continue;
      const d = new Date(`${v}T00:00:00Z`);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) this.errors[name] = 'A date is YYYY-MM-DD.';
      else out[name] = v;
    }
    if (out.since && out.until && out.since > out.until) this.errors.until = 'The end date is before the start date.';
    return out;
  }

  get after(): string {
    return str(this.q.after).slice(0, 1200);
  }

  get ok(): boolean {
    return Object.keys(this.errors).length === 0;
  }

  url(path: string, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams(Object.entries({ ...this.values, ...extra }).filter(([, v]) => v) as Array<[string, string]>);
    const qs = params.toString();
    return qs ? `${path}?${qs}` : path;
  }
}

const DATE_FILTERS: Filter[] = [
  { name: 'since', label: 'From', type: 'date' },
  { name: 'until', label: 'To', type: 'date' },
];
const sortFilter = (labels: Record<string, string>): Filter => ({ name: 'sort', label: 'Sort', type: 'select', options: Object.entries(labels) });
const anyOf = (values: readonly string[]): Array<[string, string]> => [['', 'any'], ...values.map((v): [string, string] => [v, v])];

const canAct = (role: Role) => role === 'triager' || role === 'admin';
const when = (iso: string | null | undefined, never = 'never') => (iso ? { html: staffTime(iso) } : { text: never });
const addressCell = (cidr: string): Cell => ({ text: cidr, href: `/staff/address/${encodeURIComponent(cidr.split('/')[0]!)}`, code: true });
const tenantCell = (id: string): Cell => ({ text: id, href: `/staff/tenants/${encodeURIComponent(id)}`, code: true });

const editFields = (what: string): Field[] => [
  { name: 'reason', label: `New reason for ${what}`, placeholder: 'new reason', size: 12 },
  { name: 'expires', label: `New expiry of ${what}`, placeholder: '72h, 7d, never', size: 8 },
];

interface TableView {
  name: string;
  title: string;
  lead: string;
  caption: string;
  filters: Filter[];
  columns: string[];
  rows: Array<{ cells: Cell[]; forms: RowForm[] }>;
}

/** Renders one table: 400 with the errors beside their fields when a filter is not what it claims. */
async function render<T>(req: Request, res: Parameters<RequestHandler>[1], f: Filters, load: () => Promise<Page<T>>, view: (entries: T[], here: string) => TableView): Promise<void> {
  const page = f.ok ? await load() : { entries: [], next: null };
  if (!f.ok) res.status(400);
  const path = req.path;
  const here = f.url(path, { after: f.after });
  const v = view(page.entries, here);
  res.render('staff/list-table', { ...v, tables: LIST_TABLES, action: path, values: f.values, errors: f.errors, here, nextUrl: page.next ? f.url(path, { after: page.next }) : null, firstUrl: f.after ? f.url(path) : null });
}

export function exclusionsTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = new Filters(req.query);
    const overlapping = f.network();
    const source = f.text('source', 254);
    const dates = f.dates();
    const sort = f.sort(LIST_SORTS.exclusions);
    await render(req, res, f, () => ctx.listTables.exclusions({ ...(overlapping && { overlapping }), ...(source && { source }), ...dates, sort, ...(f.after && { after: f.after }), limit: 50 }), (entries, here) => ({
      name: 'exclusions',
      title: 'Exclusions',
      lead: 'Addresses and ranges cut out of a listed range (a self-delist, or staff delisting an address inside a range).',
      caption: 'Current exclusions',
      filters: [
        { name: 'ip', label: 'Address or range', type: 'text', size: 18 },
        { name: 'source', label: 'Made by', type: 'text', size: 14 },
        ...DATE_FILTERS,
        sortFilter({ newest: 'newest first', expiring: 'expiring soonest', cidr: 'by network' }),
      ],
      columns: ['Network', 'Reason', 'Made by', 'Made', 'Expires', 'Inside listing'],
      rows: entries.map((e) => ({
        cells: [addressCell(e.cidr), { text: e.reason }, { text: e.source }, when(e.createdAt), when(e.expiresAt, 'with its listing'), e.listingCidr ? { text: e.listingCidr, code: true } : { text: '—' }],
        forms: canAct(req.staff!.role)
          ? [
              { action: '/staff/lists/exclusions/edit', hidden: { target: e.cidr, return: here }, fields: editFields(e.cidr), button: 'Save' },
              { action: '/staff/lists/exclusions/remove', hidden: { target: e.cidr, return: here }, fields: [{ name: 'reason', label: `Reason for removing the exclusion ${e.cidr}`, placeholder: 'why', size: 10, required: true }], button: 'Remove (listed again)' },
            ]
          : [],
      })),
    }));
  };
}

export function allowlistTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = new Filters(req.query);
    const overlapping = f.network();
    const addedBy = f.text('who', 254);
    const dates = f.dates();
    const sort = f.sort(LIST_SORTS.allowlist);
    await render(req, res, f, () => ctx.listTables.allowlist({ ...(overlapping && { overlapping }), ...(addedBy && { addedBy }), ...dates, sort, ...(f.after && { after: f.after }), limit: 50 }), (entries, here) => ({
      name: 'allowlist',
      title: 'Allow list',
      lead: `Senders that skip the blocked-sender list: as narrow as possible, capped at ${ctx.policy.allowlist.maxEntries}, each with a review date.`,
      caption: 'Allow-list entries',
      filters: [
        { name: 'ip', label: 'Address or range', type: 'text', size: 18 },
        { name: 'who', label: 'Added by', type: 'text', size: 14 },
        ...DATE_FILTERS,
        sortFilter({ review: 'next review first', newest: 'newest first', cidr: 'by network' }),
      ],
      columns: ['Network', 'Reason', 'Added by', 'Added', 'Review by'],
      rows: entries.map((e) => ({
        cells: [addressCell(e.cidr), { text: e.reason }, { text: e.addedBy }, when(e.createdAt), { text: `${e.reviewBy}${e.reviewBy < new Date().toISOString().slice(0, 10) ? ' (overdue)' : ''}` }],
        forms: canAct(req.staff!.role)
          ? [
              { action: '/staff/lists/allowlist/edit', hidden: { target: e.cidr, return: here }, fields: [{ name: 'reason', label: `New reason for ${e.cidr}`, placeholder: 'new reason', size: 12 }, { name: 'reviewBy', label: `New review date of ${e.cidr}`, type: 'date' }], button: 'Save' },
              { action: '/staff/lists/allowlist/remove', hidden: { target: e.cidr, return: here }, fields: [], button: 'Remove' },
            ]
          : [],
      })),
    }));
  };
}

export function poolsTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = new Filters(req.query);
    const kind = f.oneOf('kind', ['tenant', 'domain'] as const, 'kind');
    const key = f.text('key', 253);
    const pool = f.oneOf('pool', POOLS, 'pool');
    const source = f.text('source', 254);
    const dates = f.dates();
    const sort = f.sort(LIST_SORTS.assignments);
    await render(req, res, f, () => ctx.listTables.assignments({ ...(kind && { kind }), ...(key && { key: kind === 'domain' ? key.toLowerCase() : key }), ...(pool && { pool }), ...(source && { source }), ...dates, sort, ...(f.after && { after: f.after }), limit: 50 }), (entries, here) => ({
      name: 'pools',
      title: 'Pool assignments',
      lead: 'Tenants and sending domains routed through a pool other than the classifier would choose, until they expire or are released.',
      caption: 'Current pool assignments',
      filters: [
        { name: 'kind', label: 'Kind', type: 'select', options: anyOf(['tenant', 'domain']) },
        { name: 'key', label: 'Tenant or domain', type: 'text', size: 16 },
        { name: 'pool', label: 'Pool', type: 'select', options: anyOf(POOLS) },
        { name: 'source', label: 'Source', type: 'text', size: 10 },
        ...DATE_FILTERS,
        sortFilter({ newest: 'newest first', expiring: 'expiring soonest', key: 'by tenant or domain' }),
      ],
      columns: ['Who', 'Pool', 'Reason', 'Source', 'Assigned', 'Expires'],
      rows: entries.map((a) => ({
        cells: [a.kind === 'tenant' ? tenantCell(a.key) : { text: `domain ${a.key}`, code: true }, { text: a.pool }, { text: a.reason }, { text: a.source }, when(a.assignedAt), when(a.expiresAt, 'until released')],
        forms: canAct(req.staff!.role)
          ? [
              { action: '/staff/lists/pools/edit', hidden: { kind: a.kind, key: a.key, return: here }, fields: editFields(`${a.kind} ${a.key}`), button: 'Save' },
              { action: '/staff/lists/pools/release', hidden: { kind: a.kind, key: a.key, return: here }, fields: [], button: 'Release' },
            ]
          : [],
      })),
    }));
  };
}

export function restrictionsTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = new Filters(req.query);
    const tenant = f.text('tenant', 64);
    const state = f.oneOf('state', ['blocked', 'probation'] as const, 'state');
    const source = f.text('source', 254);
    const dates = f.dates();
    const sort = f.sort(LIST_SORTS.restrictions);
    await render(req, res, f, () => ctx.listTables.restrictions({ ...(tenant && { tenant }), ...(state && { state }), ...(source && { source }), ...dates, sort, ...(f.after && { after: f.after }), limit: 50 }), (entries, here) => ({
      name: 'restrictions',
      title: 'Restrictions',
      lead: 'Tenants blocked from sending from unregistered domains (550 5.7.750), and those on probation after an unblock.',
      caption: 'Current tenant restrictions',
      filters: [
        { name: 'tenant', label: 'Tenant', type: 'text', size: 14 },
        { name: 'state', label: 'State', type: 'select', options: anyOf(['blocked', 'probation']) },
        { name: 'source', label: 'Set by', type: 'text', size: 14 },
        ...DATE_FILTERS,
        sortFilter({ newest: 'newest first', expiring: 'expiring soonest', tenant: 'by tenant' }),
      ],
      columns: ['Tenant', 'State', 'Reason', 'Set by', 'Since', 'Expires'],
      rows: entries.map((r) => ({
        cells: [tenantCell(r.tenant), { text: r.state }, { text: r.reason }, { text: r.source }, when(r.since), when(r.expiresAt, 'until lifted')],
        forms: canAct(req.staff!.role)
          ? [
              { action: '/staff/lists/restrictions/edit', hidden: { tenant: r.tenant, return: here }, fields: editFields(`tenant ${r.tenant}`), button: 'Save' },
              ...(r.state === 'blocked' ? [{ action: '/staff/lists/restrictions/lift', hidden: { tenant: r.tenant, return: here }, fields: [{ name: 'reason', label: `Reason for lifting the restriction of ${r.tenant}`, placeholder: 'why', size: 10, required: true }], button: `Lift to probation (${ctx.policy.unblock.probationDays} d)` }] : []),
            ]
          : [],
      })),
    }));
  };
}

export function tenantsTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = new Filters(req.query);
    const q = f.text('q', 64);
    const domain = f.text('domain', 253);
    const dates = f.dates();
    const sort = f.sort(LIST_SORTS.tenants);
    await render(req, res, f, () => ctx.listTables.tenants({ ...(q && { q }), ...(domain && { domain }), ...dates, sort, ...(f.after && { after: f.after }), limit: 50 }), (entries) => ({
      name: 'tenants',
      title: 'Tenants',
      lead: 'Our customers in the tenant directory; each links to everything the desk knows about it.',
      caption: 'Tenants in the directory',
      filters: [
        { name: 'q', label: 'Id or name contains', type: 'text', size: 14 },
        { name: 'domain', label: 'Registered domain', type: 'text', size: 16 },
        ...DATE_FILTERS,
        sortFilter({ id: 'by id', newest: 'newest first' }),
      ],
      columns: ['Tenant', 'Name', 'Registered domains', 'Contacts', 'Added'],
      rows: entries.map((t) => ({ cells: [tenantCell(t.id), { text: t.name || '—' }, { text: String(t.domains) }, { text: String(t.contacts) }, when(t.createdAt)], forms: [] })),
    }));
  };
}

/** The row actions added with these tables; the ones the lists page had already stay in lists.ts. */
export function listTableActions(ctx: Context): Array<['post', string, Role, RequestHandler]> {
  const back = (req: Request, anchor: string): string => {
    const from = str(req.body?.return);
    return /^\/staff\/lists\/[a-z]+(\?[A-Za-z0-9_.~%=&:/+-]{0,1600})?$/.test(from) ? from : `/staff/lists#${anchor}`;
  };
  const run =
    (fn: (req: Request) => Promise<unknown>, anchor: string): RequestHandler =>
    async (req, res) => {
      await fn(req);
      res.redirect(303, back(req, anchor));
    };
  const edit = (req: Request) => ({ reason: str(req.body?.reason), expires: str(req.body?.expires) });
  return [
    ['post', '/staff/lists/blocklist/edit', 'triager', run((req) => editListing(ctx, req.staff!, normalizeIpInput(str(req.body?.target)), edit(req)), 'blocklist')],
    ['post', '/staff/lists/exclusions/edit', 'triager', run((req) => editExclusion(ctx, req.staff!, normalizeIpInput(str(req.body?.target)), edit(req)), 'blocklist')],
    ['post', '/staff/lists/exclusions/remove', 'triager', run((req) => removeExclusion(ctx, req.staff!, normalizeIpInput(str(req.body?.target)), str(req.body?.reason)), 'blocklist')],
    ['post', '/staff/lists/allowlist/edit', 'triager', run((req) => editAllowEntry(ctx, req.staff!, normalizeIpInput(str(req.body?.target)), { reason: str(req.body?.reason), reviewBy: str(req.body?.reviewBy) }), 'allowlist')],
    ['post', '/staff/lists/pools/edit', 'triager', run((req) => editAssignment(ctx, req.staff!, str(req.body?.kind) === 'domain' ? 'domain' : 'tenant', str(req.body?.key), edit(req)), 'pools')],
    ['post', '/staff/lists/restrictions/edit', 'triager', run((req) => editRestriction(ctx, req.staff!, str(req.body?.tenant), edit(req)), 'restrictions')],
    [
      'post',
      '/staff/lists/restrictions/lift',
      'triager',
      run(async (req) => {
        const reason = str(req.body?.reason).trim();
        if (reason.length < 3 || reason.length > 500) throw new ValidationError('Say why the restriction is lifted (3 to 500 characters).', { reason: 'required' });
        if (!tenantId.safeParse(str(req.body?.tenant)).success) throw new ValidationError('Not a valid tenant id.', { tenant: 'invalid' });
        return liftToProbation(ctx, str(req.body?.tenant), reason, req.staff!.email);
      }, 'restrictions'),
    ],
  ];
}
