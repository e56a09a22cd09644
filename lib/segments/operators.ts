/**
 * Value operators shared by Segment Filter field conditions, event property conditions and Lead
 * Score property conditions. `compileOperator` validates once (unknown operator, unparsable
 * date, regex that does not compile: ValidationError naming the condition) and returns a
 * predicate that never throws.
 */
import { DateTime } from 'luxon';
import { ValidationError } from '../errors';
import { calendarDate, isAnniversaryOn, resolveZone, type LeapDayRule } from '../dates';
import { CORE_TIME_FIELDS } from '../keys';

/**
 * The one table of value operators: the value saved in workflows, the name and description the
 * nodes show, and where an operator may be used. `fieldRule`: Lead Score field rules may use it
 * (the scoring script evaluates those inside Redis: lib/scoring/lua/apply_score.lua). Lua scripts
 * get the operators' names as `OP` from the helper "operators" that scripts/build-lua.js writes from
 * this table. `date`: it reads dates only (Lead Score's property conditions do not offer these).
 */
export const OPERATOR_TABLE = {
	equals: {
		name: 'Equals',
		description: 'The value equals this one (numbers by number, dates by instant)',
		fieldRule: true,
		date: false,
	},
	notEquals: {
		name: 'Not Equals',
		description: 'The value is absent or differs from this one',
		fieldRule: true,
		date: false,
	},
	contains: { name: 'Contains', description: "The value's text contains this text", fieldRule: true, date: false },
	notContains: {
		name: 'Not Contains',
		description: 'The value is absent or its text does not contain this text',
		fieldRule: true,
		date: false,
	},
	startsWith: {
		name: 'Starts With',
		description: "The value's text starts with this text",
		fieldRule: true,
		date: false,
	},
	endsWith: { name: 'Ends With', description: "The value's text ends with this text", fieldRule: true, date: false },
	gt: {
		name: 'Greater Than',
		description: 'A number above this number, or a date after this date',
		fieldRule: true,
		date: false,
	},
	gte: {
		name: 'Greater Than or Equal',
		description: 'A number at or above this number, or a date at or after this date',
		fieldRule: true,
		date: false,
	},
	lt: {
		name: 'Less Than',
		description: 'A number below this number, or a date before this date',
		fieldRule: true,
		date: false,
	},
	lte: {
		name: 'Less Than or Equal',
		description: 'A number at or below this number, or a date at or before this date',
		fieldRule: true,
		date: false,
	},
	between: {
		name: 'Between',
		description: 'From Value to Value 2, both included (two numbers or two dates)',
		fieldRule: true,
		date: false,
	},
	exists: { name: 'Exists', description: 'The value is set', fieldRule: true, date: false },
	notExists: { name: 'Not Exists', description: 'The value is not set', fieldRule: true, date: false },
	in: { name: 'In List', description: 'The value equals one of a comma-separated list', fieldRule: true, date: false },
	notIn: {
		name: 'Not In List',
		description: 'The value is absent or equals none of a comma-separated list',
		fieldRule: true,
		date: false,
	},
	regex: {
		name: 'Regex',
		description: "The value's text matches this regular expression (/pattern/flags or a bare pattern)",
		fieldRule: false,
		date: false,
	},
	before: { name: 'Date Before', description: 'A date before this date', fieldRule: false, date: true },
	after: { name: 'Date After', description: 'A date after this date', fieldRule: false, date: true },
	withinLastDays: {
		name: 'Within the Last Days',
		description: 'A date in the last N days up to now, both ends included',
		fieldRule: false,
		date: true,
	},
	notWithinLastDays: {
		name: 'Not Within the Last Days',
		description: 'A date that is not in the last N days',
		fieldRule: false,
		date: true,
	},
	anniversaryToday: {
		name: 'Anniversary Today',
		description: "The date's day and month are today in the contact's time zone",
		fieldRule: false,
		date: true,
	},
} as const satisfies Record<string, { name: string; description: string; fieldRule: boolean; date: boolean }>;

export const VALUE_OPERATORS = Object.keys(OPERATOR_TABLE) as Array<keyof typeof OPERATOR_TABLE>;
export type ValueOperator = keyof typeof OPERATOR_TABLE;

/** Operators Lead Score field rules may use (evaluated inside the scoring script, atomically). */
export type FieldRuleOperator = {
	[K in ValueOperator]: (typeof OPERATOR_TABLE)[K]['fieldRule'] extends true ? K : never;
}[ValueOperator];
export const FIELD_RULE_OPERATORS = VALUE_OPERATORS.filter(
	(op): op is FieldRuleOperator => OPERATOR_TABLE[op].fieldRule,
);

/** A node's options for the operators that pass `include` (all by default), sorted by name as n8n lists options. */
export function operatorOptions(
	include: (operator: ValueOperator) => boolean = () => true,
): Array<{ name: string; value: ValueOperator; description: string }> {
	return VALUE_OPERATORS.filter(include)
		.map((value) => ({ name: OPERATOR_TABLE[value].name, value, description: OPERATOR_TABLE[value].description }))
		.sort((a, b) => a.name.localeCompare(b.name));
}

export interface ValueCondition {
	operator: ValueOperator | string;
	value?: unknown;
	/** Upper bound of "between". */
	value2?: unknown;
	/** Days for "within the last N days". */
	days?: unknown;
	/** String comparisons ignore case. */
	ignoreCase?: boolean;
	leapDay?: LeapDayRule;
}

/** A stored value as read back: number, string (dates as ISO text), boolean, or absent. */
export type StoredValue = string | number | boolean | undefined | null;

export interface EvalContext {
	now: number;
	/** The contact's time zone (for "anniversary today"); falls back to `fallbackZone`, then UTC. */
	timezone?: string;
	fallbackZone?: string;
}

export type ValuePredicate = (value: StoredValue, ctx: EvalContext) => boolean;

const DAY = 86_400_000;

/** Epoch ms of a date-like value, or undefined (never throws). */
export function dateMs(value: unknown): number | undefined {
	if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
	if (typeof value !== 'string' || value.trim() === '') return undefined;
	const dt = DateTime.fromISO(value.trim(), { setZone: true });
	return dt.isValid ? dt.toMillis() : undefined;
}

function numeric(value: unknown): number | undefined {
	if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
	if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
	return undefined;
}

function text(value: StoredValue, ignoreCase: boolean): string {
	const s = typeof value === 'boolean' ? String(value) : String(value ?? '');
	return ignoreCase ? s.toLowerCase() : s;
}

function list(value: unknown, field: string): unknown[] {
	if (Array.isArray(value)) return value;
	if (typeof value === 'string')
		return value
			.split(',')
			.map((v) => v.trim())
			.filter((v) => v !== '');
	if (value === undefined || value === null) throw new ValidationError(field, 'The list of values is empty');
	return [value];
}

function requireDate(value: unknown, field: string): number {
	const ms = dateMs(value);
	if (ms === undefined) {
		throw new ValidationError(
			field,
			`${JSON.stringify(value)?.slice(0, 60)} is not a date`,
			'Use ISO 8601, e.g. "2024-05-17" or "2024-05-17T09:30:00Z", or epoch milliseconds.',
		);
	}
	return ms;
}

function requireDays(value: unknown, field: string): number {
	const n = numeric(value);
	if (n === undefined || n < 0)
		throw new ValidationError(field, `Days must be a number of 0 or more, got ${JSON.stringify(value)}`);
	return n;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

/** Equality: numbers numerically, booleans against true/false text, dates by instant, else text. */
function equalsTo(operand: unknown, ignoreCase: boolean): (value: StoredValue) => boolean {
	const n = numeric(operand);
	const asText = text(operand as StoredValue, ignoreCase);
	const asDate = typeof operand === 'string' && ISO_DATE.test(operand) ? dateMs(operand) : undefined;
	return (value) => {
		if (value === undefined || value === null) return false;
		if (typeof value === 'number') return n !== undefined && value === n;
		if (typeof value === 'boolean') return asText === String(value);
		if (text(value, ignoreCase) === asText) return true;
		// "2024-05-17" equals a stored "2024-05-17T00:00:00.000Z".
		return asDate !== undefined && ISO_DATE.test(value) && dateMs(value) === asDate;
	};
}

/**
 * Ordered comparison against a number (numeric values only) or a date (date values only).
 * Returns the operand's kind so callers can explain a bad one.
 */
function orderedOperand(operand: unknown, field: string): { kind: 'number' | 'date'; at: number } {
	const n = numeric(operand);
	if (n !== undefined) return { kind: 'number', at: n };
	const d = dateMs(operand);
	if (d !== undefined) return { kind: 'date', at: d };
	throw new ValidationError(
		field,
		`${JSON.stringify(operand)?.slice(0, 60)} is neither a number nor a date`,
		'Compare with a number such as 7, or a date such as "2024-05-17".',
	);
}

function orderedValue(value: StoredValue, kind: 'number' | 'date'): number | undefined {
	if (kind === 'number') return numeric(value);
	return typeof value === 'string' ? dateMs(value) : undefined;
}

/** Validates a value condition and returns its predicate; `path` names it in errors ("conditions[1]"). */
export function compileOperator(condition: ValueCondition, path: string): ValuePredicate {
	const op = condition.operator as ValueOperator;
	const ignoreCase = Boolean(condition.ignoreCase);
	const valueField = `${path}.value`;
	switch (op) {
		case 'exists':
			return (v) => v !== undefined && v !== null;
		case 'notExists':
			return (v) => v === undefined || v === null;
		case 'equals': {
			const eq = equalsTo(condition.value, ignoreCase);
			return (v) => eq(v);
		}
		case 'notEquals': {
			const eq = equalsTo(condition.value, ignoreCase);
			return (v) => !eq(v);
		}
		case 'in':
		case 'notIn': {
			const tests = list(condition.value, valueField).map((item) => equalsTo(item, ignoreCase));
			return op === 'in' ? (v) => tests.some((t) => t(v)) : (v) => !tests.some((t) => t(v));
		}
		case 'contains':
		case 'notContains':
		case 'startsWith':
		case 'endsWith': {
			if (condition.value === undefined || condition.value === null || condition.value === '') {
				throw new ValidationError(valueField, `"${op}" needs a value to look for`);
			}
			const needle = text(condition.value as StoredValue, ignoreCase);
			const test =
				op === 'startsWith'
					? (s: string) => s.startsWith(needle)
					: op === 'endsWith'
						? (s: string) => s.endsWith(needle)
						: (s: string) => s.includes(needle);
			if (op === 'notContains') return (v) => v === undefined || v === null || !test(text(v, ignoreCase));
			return (v) => v !== undefined && v !== null && test(text(v, ignoreCase));
		}
		case 'gt':
		case 'gte':
		case 'lt':
		case 'lte': {
			const { kind, at } = orderedOperand(condition.value, valueField);
			const cmp = {
				gt: (x: number) => x > at,
				gte: (x: number) => x >= at,
				lt: (x: number) => x < at,
				lte: (x: number) => x <= at,
			}[op];
			return (v) => {
				const x = orderedValue(v, kind);
				return x !== undefined && cmp(x);
			};
		}
		case 'between': {
			const low = orderedOperand(condition.value, valueField);
			const high = orderedOperand(condition.value2, `${path}.value2`);
			if (low.kind !== high.kind)
				throw new ValidationError(`${path}.value2`, '"between" needs two numbers or two dates');
			if (low.at > high.at)
				throw new ValidationError(
					`${path}.value2`,
					`The upper bound ${JSON.stringify(condition.value2)} is below the lower bound ${JSON.stringify(condition.value)}`,
				);
			return (v) => {
				const x = orderedValue(v, low.kind);
				return x !== undefined && x >= low.at && x <= high.at;
			};
		}
		case 'regex': {
			if (typeof condition.value !== 'string' || condition.value === '')
				throw new ValidationError(valueField, '"regex" needs a regular expression');
			let re: RegExp;
			try {
				// "/pattern/flags" or a bare pattern.
				const m = /^\/(.*)\/([a-z]*)$/s.exec(condition.value);
				re = m
					? new RegExp(m[1], m[2] + (ignoreCase && !m[2].includes('i') ? 'i' : ''))
					: new RegExp(condition.value, ignoreCase ? 'i' : '');
			} catch (error) {
				throw new ValidationError(
					valueField,
					`The regular expression ${condition.value} does not compile: ${(error as Error).message}`,
				);
			}
			return (v) => v !== undefined && v !== null && re.test(text(v, false));
		}
		case 'before':
		case 'after': {
			const at = requireDate(condition.value, valueField);
			return (v) => {
				const x = typeof v === 'string' ? dateMs(v) : undefined;
				return x !== undefined && (op === 'before' ? x < at : x > at);
			};
		}
		case 'withinLastDays':
		case 'notWithinLastDays': {
			const span = requireDays(condition.days ?? condition.value, `${path}.days`) * DAY;
			// Inclusive: exactly N days ago is within the last N days.
			const within = (v: StoredValue, now: number) => {
				const x = typeof v === 'string' ? dateMs(v) : undefined;
				return x !== undefined && x >= now - span && x <= now;
			};
			return op === 'withinLastDays'
				? (v, ctx) => within(v, ctx.now)
				: (v, ctx) => v !== undefined && v !== null && !within(v, ctx.now);
		}
		case 'anniversaryToday': {
			const leapDay = condition.leapDay ?? 'feb28';
			if (leapDay !== 'feb28' && leapDay !== 'mar1')
				throw new ValidationError(`${path}.leapDay`, `"${leapDay}" is not "feb28" or "mar1"`);
			return (v, ctx) => {
				if (typeof v !== 'string' || dateMs(v) === undefined) return false;
				return isAnniversaryOn(calendarDate(v), ctx.now, resolveZone(ctx.timezone, ctx.fallbackZone), leapDay);
			};
		}
		default:
			throw new ValidationError(
				`${path}.operator`,
				`Unknown operator "${String(condition.operator)}"`,
				`Use one of: ${VALUE_OPERATORS.join(', ')}.`,
			);
	}
}

/** Property conditions on an event: all must hold. Property names may use dots for nesting. */
export interface PropertyFilter extends ValueCondition {
	property: string;
}

/** The value at a property path (its parts: "page.path" is ["page", "path"]). */
function propertyValue(props: unknown, path: string[]): StoredValue {
	let cur: unknown = props;
	for (const part of path) {
		if (cur === null || typeof cur !== 'object') return undefined;
		cur = (cur as Record<string, unknown>)[part];
	}
	if (cur === null || cur === undefined) return undefined;
	if (typeof cur === 'object') return JSON.stringify(cur);
	return cur as StoredValue;
}

export function compileProperties(conditions: unknown, path: string): (props: unknown, ctx: EvalContext) => boolean {
	if (conditions === undefined || conditions === null) return () => true;
	if (!Array.isArray(conditions)) throw new ValidationError(path, 'Property conditions must be a list');
	const tests = conditions.map((c: PropertyFilter, i) => {
		const here = `${path}[${i}]`;
		if (!c || typeof c !== 'object' || typeof c.property !== 'string' || c.property.trim() === '') {
			throw new ValidationError(`${here}.property`, 'A property condition needs a property name');
		}
		const predicate = compileOperator(c, here);
		const parts = c.property.trim().split('.');
		return (props: unknown, ctx: EvalContext) => predicate(propertyValue(props, parts), ctx);
	});
	return (props, ctx) => tests.every((t) => t(props, ctx));
}

/**
 * An equality operand as the Lua evaluator compares it (lib/redis/lua/value_test.lua): its text
 * (lower-cased when ignoring case), its number and, for a text starting with a date, its instant.
 */
export interface OperandPlan {
	t: string;
	n?: number;
	d?: number;
}

/**
 * How value_test reads a field's stored value: `time: true` a core time (epoch ms), `time: false`
 * a typed custom field, no `time` another core attribute.
 */
export function storedValueKind(field: string, core: boolean): { time?: boolean } {
	if (!core) return { time: false };
	return CORE_TIME_FIELDS.has(field) ? { time: true } : {};
}

/**
 * A value condition as lib/redis/lua/value_test.lua evaluates it inside Redis (Segment Filter's
 * per-item mode): the operator and its operands prepared here, so that the script decides exactly
 * as compileOperator's predicate does, or answers "cannot tell" for a value it cannot judge
 * exactly (a text with letters outside ASCII when ignoring case, a date written otherwise than
 * toISOString writes it in UTC, a number not written as plain decimals).
 */
export interface OperatorPlan {
	op: ValueOperator;
	ic?: boolean;
	a?: OperandPlan;
	list?: OperandPlan[];
	/** Ordered comparisons: what the operand is (number or date) and the bounds. */
	kind?: 'number' | 'date';
	lo?: number;
	hi?: number;
	/** withinLastDays / notWithinLastDays: the span in ms (now comes with the call). */
	span?: number;
}

function operandPlan(operand: unknown, ignoreCase: boolean): OperandPlan {
	const plan: OperandPlan = { t: text(operand as StoredValue, ignoreCase) };
	const n = numeric(operand);
	if (n !== undefined) plan.n = n;
	const d = typeof operand === 'string' && ISO_DATE.test(operand) ? dateMs(operand) : undefined;
	if (d !== undefined) plan.d = d;
	return plan;
}

/**
 * The plan of a condition compileOperator has validated; undefined for the operators the script
 * does not evaluate (regex, anniversary today).
 */
export function operatorPlan(condition: ValueCondition): OperatorPlan | undefined {
	const op = condition.operator as ValueOperator;
	const ic = Boolean(condition.ignoreCase);
	switch (op) {
		case 'exists':
		case 'notExists':
			return { op };
		case 'equals':
		case 'notEquals':
			return { op, ic, a: operandPlan(condition.value, ic) };
		case 'in':
		case 'notIn':
			return { op, ic, list: list(condition.value, 'value').map((v) => operandPlan(v, ic)) };
		case 'contains':
		case 'notContains':
		case 'startsWith':
		case 'endsWith':
			return { op, ic, a: { t: text(condition.value as StoredValue, ic) } };
		case 'gt':
		case 'gte':
		case 'lt':
		case 'lte': {
			const { kind, at } = orderedOperand(condition.value, 'value');
			return { op, kind, lo: at };
		}
		case 'between': {
			const low = orderedOperand(condition.value, 'value');
			return { op, kind: low.kind, lo: low.at, hi: orderedOperand(condition.value2, 'value2').at };
		}
		case 'before':
		case 'after':
			return { op, kind: 'date', lo: requireDate(condition.value, 'value') };
		case 'withinLastDays':
		case 'notWithinLastDays':
			return { op, kind: 'date', span: requireDays(condition.days ?? condition.value, 'days') * DAY };
		default:
			return undefined;
	}
}
