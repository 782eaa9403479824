import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import type { Role } from '../../stores/staff.js';
import { addTenant, addTenantItem, DIRECTORY_ITEMS, listTenants, removeTenantItem, type DirectoryItem } from '../tenants/service.js';
import { ValidationError } from '../../errors.js';

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const search = z.string().trim().max(253).catch('');

/** The tenant directory page: triager reads (and searches) it; admin adds tenants and (un)registers their values. */
export function tenantsPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    const q = search.parse(req.query.q);
    const tenants = await listTenants(ctx, q || undefined, 200);
    res.render('staff/tenants', { title: 'Tenant directory', q, tenants, items: DIRECTORY_ITEMS });
  };
}

const itemOf = (raw: unknown): DirectoryItem => {
  const item = str(raw);
  if (!(DIRECTORY_ITEMS as readonly string[]).includes(item)) throw new ValidationError('Unknown kind of value: domain, feedback-id or verp.', { item: 'unknown' });
  return item as DirectoryItem;
};

/** The directory's changing routes, admin only, each audited with the staff member's email. */
export function tenantActions(ctx: Context): Array<['post', string, Role, RequestHandler]> {
  const back = (tenant: string): string => `/staff/tenants?q=${encodeURIComponent(tenant)}`;
  return [
    ['post', '/staff/tenants/add', 'admin', async (req, res) => {
      const t = await addTenant(ctx, { id: str(req.body?.id), name: str(req.body?.name) }, req.staff!.email);
      res.redirect(303, back(t.id));
    }],
    ['post', '/staff/tenants/item/add', 'admin', async (req, res) => {
      await addTenantItem(ctx, str(req.body?.tenant), itemOf(req.body?.item), str(req.body?.value), req.staff!.email);
      res.redirect(303, back(str(req.body?.tenant)));
    }],
    ['post', '/staff/tenants/item/remove', 'admin', async (req, res) => {
      await removeTenantItem(ctx, str(req.body?.tenant), itemOf(req.body?.item), str(req.body?.value), req.staff!.email);
      res.redirect(303, back(str(req.body?.tenant)));
    }],
  ];
}
