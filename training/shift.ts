/**
 * A shifted population, for watching drift (data/README.md, "A shifted population"): each application is drawn as
 * usual, then the named numeric fields are moved, by a share of their value (`annualIncome=-20%`) or by an amount
 * (`creditScore=-30`), rounded as the field is and kept inside its rules. Every other field stays as drawn, so a
 * feature computed from no shifted field keeps the training distribution exactly.
 */
import { NUMERIC_FIELDS, type LoanApplication, type NumericField } from '../src/model/application.js';
import { NUMBER_RULES } from '../src/decisions/rules.js';

export interface FieldShift {
  field: NumericField;
  /** relative: value × (1 + amount); absolute: value + amount */
  kind: 'relative' | 'absolute';
  amount: number;
}
export type Shift = readonly FieldShift[];

/** `annualIncome=-20%,creditScore=-30` → the shifts; throws naming the part it cannot read. */
export function parseShift(spec: string): Shift {
  const shifts: FieldShift[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9]+)=([+-]?\d+(?:\.\d+)?)(%?)$/.exec(part);
    if (!m) throw new Error(`--shift "${part}" is not field=±N or field=±N% (e.g. annualIncome=-20%,creditScore=-30)`);
    const field = m[1] as NumericField;
    if (!NUMERIC_FIELDS.includes(field)) throw new Error(`--shift "${part}": ${m[1]} is not one of ${NUMERIC_FIELDS.join(', ')}`);
    if (shifts.some((s) => s.field === field)) throw new Error(`--shift names ${field} twice`);
    const relative = m[3] === '%';
    const amount = relative ? Number(m[2]) / 100 : Number(m[2]);
    if (relative && amount <= -1) throw new Error(`--shift "${part}": a share must be above -100%`);
    shifts.push({ field, kind: relative ? 'relative' : 'absolute', amount });
  }
  if (shifts.length === 0) throw new Error('--shift names no field');
  return shifts;
}

/** `annualIncome=-20%,creditScore=-30`: parseShift's input, for the sidecar and the log. */
export function formatShift(shift: Shift): string {
  return shift.map((s) => `${s.field}=${s.amount >= 0 ? '+' : ''}${s.kind === 'relative' ? `${Number((s.amount * 100).toFixed(6))}%` : s.amount}`).join(',');
}

/** The application with each shift applied: integer fields rounded, others to cents, clamped into the field's rules. */
export function applyShift(application: LoanApplication, shift: Shift): LoanApplication {
  const shifted = { ...application };
  for (const { field, kind, amount } of shift) {
    const rule = NUMBER_RULES[field];
    const raw = kind === 'relative' ? application[field] * (1 + amount) : application[field] + amount;
    const rounded = rule.integer ? Math.round(raw) : Math.round(raw * 100) / 100;
    const step = rule.integer ? 1 : 0.01;
    const min = rule.minInclusive ? rule.min : rule.min + step;
    shifted[field] = Math.min(rule.max, Math.max(min, rounded));
  }
  return shifted;
}
