import type { Context } from '../../context.js';
import { contactEmailOf, domainOf, feedbackIdOf, TenantInputError, tenantIdOf, tenantNameOf, verpPatternOf } from '../../domain/tenants.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { DirectoryConflictError, type Tenant } from '../../stores/tenants.js';

/**
 * The tenant directory's use cases (CLI `tenant …`, staff page /staff/tenants): every value validated hard
 * (src/domain/tenants.ts), every change in one transaction with its audit entry.
 */

export type DirectoryItem = 'domain' | 'feedback-id' | 'verp';
export const DIRECTORY_ITEMS: readonly DirectoryItem[] = ['domain', 'feedback-id', 'verp'];

const FIELD: Record<DirectoryItem, string> = { domain: 'domain', 'feedback-id': 'feedbackId', verp: 'verp' };
const LABEL: Record<DirectoryItem, string> = { domain: 'sending domain', 'feedback-id': 'Feedback-ID identifier', verp: 'VERP pattern' };

/** Runs a validation, turning its TenantInputError into the portal's ValidationError (400 with the field). */
function valid<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TenantInputError) throw new ValidationError(err.message, { [err.field]: 'invalid' });
    throw err;
  }
}

const canonical = (item: DirectoryItem, raw: unknown): string => valid(() => (item === 'domain' ? domainOf(raw) : item === 'feedback-id' ? feedbackIdOf(raw) : verpPatternOf(raw)));

function conflict(err: unknown): never {
  if (err instanceof DirectoryConflictError) {
    const what = err.kind === 'tenant' ? `Tenant ${err.value} exists already.` : err.owner ? `${err.value} is registered to tenant ${err.owner} already.` : `${err.value} is registered already.`;
    throw new ConflictError(err.kind === 'tenant' ? 'TENANT_EXISTS' : 'ALREADY_REGISTERED', what, { owner: err.owner });
  }
  throw err;
}

export async function addTenant(ctx: Context, input: { id: unknown; name?: unknown }, by: string, now = new Date()): Promise<{ id: string; name: string }> {
  const id = valid(() => tenantIdOf(input.id));
  const name = valid(() => tenantNameOf(input.name ?? ''));
  await ctx.db
    .transaction()
    .execute(async (trx) => {
      await ctx.tenants.addIn(trx, id, name, now);
      await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: by, action: 'tenant.add', target: `tenant:${id}`, reason: name ? `name ${name}` : 'tenant added', after: { id, name } });
    })
    .catch(conflict);
  return { id, name };
}

/** Registers a sending domain, Feedback-ID identifier or VERP pattern to an existing tenant. */
export async function addTenantItem(ctx: Context, tenantRaw: unknown, item: DirectoryItem, raw: unknown, by: string, now = new Date()): Promise<string> {
  const tenant = valid(() => tenantIdOf(tenantRaw));
  const value = canonical(item, raw);
  await ctx.db
    .transaction()
    .execute(async (trx) => {
      if (!(await ctx.tenants.exists(tenant, trx))) throw new NotFoundError(`There is no tenant "${tenant}": add it first (tenant add ${tenant}).`);
      if (item === 'domain') await ctx.tenants.addDomainIn(trx, tenant, value);
      else if (item === 'feedback-id') await ctx.tenants.addFeedbackIdIn(trx, tenant, value);
      else await ctx.tenants.addVerpIn(trx, tenant, value);
      await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: by, action: `tenant.${item}.add`, target: `tenant:${tenant}`, reason: `${LABEL[item]} ${value} registered`, after: { [FIELD[item]]: value } });
    })
    .catch(conflict);
  return value;
}

export async function removeTenantItem(ctx: Context, tenantRaw: unknown, item: DirectoryItem, raw: unknown, by: string, now = new Date()): Promise<string> {
  const tenant = valid(() => tenantIdOf(tenantRaw));
  const value = canonical(item, raw);
  await ctx.db.transaction().execute(async (trx) => {
    const gone = item === 'domain' ? await ctx.tenants.removeDomainIn(trx, tenant, value) : item === 'feedback-id' ? await ctx.tenants.removeFeedbackIdIn(trx, tenant, value) : await ctx.tenants.removeVerpIn(trx, tenant, value);
    if (!gone) throw new NotFoundError(`${value} is not a ${LABEL[item]} of tenant ${tenant}.`);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: by, action: `tenant.${item}.remove`, target: `tenant:${tenant}`, reason: `${LABEL[item]} ${value} removed`, before: { [FIELD[item]]: value } });
  });
  return value;
}

export async function addTenantContact(ctx: Context, tenantRaw: unknown, input: { email: unknown; name?: unknown; role?: unknown }, by: string, now = new Date()): Promise<string> {
  const tenant = valid(() => tenantIdOf(tenantRaw));
  const email = valid(() => contactEmailOf(input.email));
  const name = valid(() => tenantNameOf(input.name ?? ''));
  const role = input.role ?? 'abuse';
  if (role !== 'abuse' && role !== 'technical' && role !== 'admin') throw new ValidationError('A contact role is abuse, technical or admin.', { role: 'invalid' });
  await ctx.db
    .transaction()
    .execute(async (trx) => {
      if (!(await ctx.tenants.exists(tenant, trx))) throw new NotFoundError(`There is no tenant "${tenant}".`);
      await ctx.tenants.addContactIn(trx, tenant, email, name, role);
      await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: by, action: 'tenant.contact.add', target: `tenant:${tenant}`, reason: `${role} contact ${email} added`, after: { email, name, role } });
    })
    .catch(conflict);
  return email;
}

export async function listTenants(ctx: Context, q?: string, limit = 200): Promise<Tenant[]> {
  return ctx.tenants.list({ ...(q && { q: q.slice(0, 253) }), limit });
}

/**
 * The unblock checklist's first question, answered by the directory: which sending domains the tenant has
 * registered. For staff only (the ticket); the public form never says whether a tenant or domain is known.
 */
export async function registeredDomainsNote(ctx: Context, tenant: string): Promise<string> {
  if (!(await ctx.tenants.exists(tenant))) return `tenant directory: ${tenant} is not in the directory, so no sending domain is registered`;
  const domains = await ctx.tenants.domainsOf(tenant);
  if (!domains.length) return `tenant directory: ${tenant} has no registered sending domain`;
  const shown = domains.slice(0, 20).join(', ');
  return `tenant directory: ${domains.length} registered sending domain${domains.length === 1 ? '' : 's'} (${shown}${domains.length > 20 ? ', …' : ''})`;
}

/**
 * The pool classifier's accepted domains of a tenant: the ones registered to it in the directory. An id that is
 * not a tenant id gives none (nothing is asked).
 */
export async function acceptedDomainsOf(ctx: Context, tenant: string | null): Promise<string[]> {
  if (!tenant || !/^[A-Za-z0-9._-]{1,64}$/.test(tenant)) return [];
  return ctx.tenants.domainsOf(tenant);
}
