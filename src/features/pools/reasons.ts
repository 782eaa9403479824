import type { PoolReason } from '../../domain/pools.js';
import { whenText } from '../status/live.js';

type Translate = (key: string, opts?: Record<string, unknown>) => string;

/**
 * The pool explainer's reasons in the reader's language (`pools.reason.*`): pool names and conditions in words,
 * times in the reader's format (never an ISO string), a rule that gave way followed by what took precedence.
 */
export function poolReasonTexts(t: Translate, lang: string, steps: PoolReason[]): string[] {
  const pool = (p: string) => t(`pools.name.${p}`, { defaultValue: p });
  const but = (b: string | null) => (b ? ` ${t(`pools.reason.precedence.${b}`)}` : '');
  return steps.map((s) => {
    switch (s.key) {
      case 'assignment': {
        const until = s.until === null ? t('pools.reason.untilRemoved') : t('pools.reason.until', { time: whenText(t, lang, s.until) });
        const key = s.kind === 'tenant' ? 'assignedTenant' : s.parent ? 'assignedParent' : 'assignedDomain';
        return t(`pools.reason.${key}`, { name: s.name, parent: s.parent ?? '', pool: pool(s.pool), until }) + but(s.but);
      }
      case 'noDns':
        return s.domain ? t('pools.reason.noDns', { domain: s.domain }) : t('pools.reason.noDnsUnnamed');
      case 'forwardedUnverified':
        return t(s.but ? 'pools.reason.forwardedUnverifiedWould' : 'pools.reason.forwardedUnverified') + but(s.but);
      case 'forwardedVerified': {
        const conditions = new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(s.conditions.map((c) => t(`pools.reason.condition.${c}`)));
        return t(`pools.reason.forwardedVerified.${s.outcome}`, { conditions });
      }
      default:
        return t(`pools.reason.${s.key}`);
    }
  });
}
