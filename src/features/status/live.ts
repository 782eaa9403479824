import type { RequestState } from '../../stores/requests.js';
import { FINAL_STATES } from '../../stores/requests.js';
import { STATE_LABELS, type publicStatus } from './labels.js';

type Translate = (key: string, opts?: Record<string, unknown>) => string;
type PublicView = ReturnType<typeof publicStatus>;

/** A request id as the portal makes them (src/stores/requests.ts newId: 12 random bytes, base64url). */
export const REQUEST_ID = /^[A-Za-z0-9_-]{16}$/;

/** One timeline step as shown: its time in words, then `before` <strong>label</strong> `after` (status.step). */
export interface LiveEvent {
  at: string;
  when: string;
  label: string;
  before: string;
  after: string;
}

/**
 * The part of a status page that changes while a request moves on, as text in the reader's language: the state,
 * its reason and next step, and the timeline. The page renders from it and `GET /status/:id.json` answers it, so
 * what the script (public/live-status.js) puts on the page is what a reload would show, and never more: it is made
 * from the public view only (publicStatus), without the address, IP or tenant (which never change).
 */
export interface LiveStatus {
  id: string;
  state: RequestState;
  /** True once the automation is done with the request: the script stops following it. */
  final: boolean;
  label: string;
  next: string;
  /** The public reason ('' for none). */
  reason: string;
  events: LiveEvent[];
}

/** A time as the status page writes it: the UTC date in words, in the reader's language ("4 December 2026 at 21:19 UTC"). */
export function whenText(t: Translate, lang: string, iso: string): string {
  const d = new Date(iso);
  return t('common.utcTime', { time: d.toLocaleString(lang === 'en' ? 'en-GB' : lang, { timeZone: 'UTC', dateStyle: 'long', timeStyle: 'short', hourCycle: 'h23' }) });
}

export const stateLabel = (t: Translate, state: RequestState) => t(`state.${state}.label`, { defaultValue: STATE_LABELS[state]?.label ?? state });
const stateNext = (t: Translate, state: RequestState) => t(`state.${state}.next`, { defaultValue: STATE_LABELS[state]?.next ?? '' });

export function liveStatus(t: Translate, lang: string, view: PublicView): LiveStatus {
  return {
    id: view.id,
    state: view.state,
    final: FINAL_STATES.includes(view.state),
    label: stateLabel(t, view.state),
    next: stateNext(t, view.state),
    reason: view.reason,
    events: view.events.map((e) => {
      // The step sentence with the state where the label goes, split around it (the label is shown in bold).
      const [before = '', after = ''] = e.message ? t('status.step', { state: '\u0000', message: e.message.replace(/\u0000/g, '') }).split('\u0000') : [];
      return { at: e.at, when: whenText(t, lang, e.at), label: stateLabel(t, e.state), before, after };
    }),
  };
}
