import { h } from './dom.js';

const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percentage = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export const amount = (value: number): string => decimal.format(value);

export const percent = (share: number): string => percentage.format(share);

/** A time in the reader's locale; the exact instant (UTC) in `datetime` and as a tooltip. */
export const time = (iso: string): HTMLTimeElement => h('time', { datetime: iso, title: iso }, dateTime.format(new Date(iso)));

/** An enum value as words: DEBT_CONSOLIDATION → "Debt consolidation". */
export const words = (value: string): string => value.charAt(0) + value.slice(1).toLowerCase().replace(/_/g, ' ');

/** An outcome as a labelled badge (its colour repeats the word; the word alone carries the meaning). */
export const outcomeBadge = (outcome: string): HTMLSpanElement => h('span', { class: `badge ${outcome.toLowerCase()}` }, outcome);
