import { ValidationError } from '../errors';
import { CORE_FIELDS, encodeKeyPart } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { chainJson, settleAll, type ChainLink, type Result } from '../results';
import { checkContactId, checkName, LIMITS, toEventTime } from '../values';
import {
	compileOperator,
	compileProperties,
	dateMs,
	FIELD_RULE_OPERATORS,
	operatorPlan,
	storedValueKind,
	type EvalContext,
	type FieldRuleOperator,
	type OperatorPlan,
	type PropertyFilter,
} from '../segments/operators';
import { AWARD_KEY_KINDS, checkDecay, computeScore, encodeAward, type Decay } from './decay';

export * from './decay';

export type Frequency = 'everyTime' | 'oncePerDay' | 'oncePerContact';

export { FIELD_RULE_OPERATORS, type FieldRuleOperator } from '../segments/operators';

export { CORE_FIELDS, CORE_TIME_FIELDS } from '../keys';

export interface ScoreRule {
	/** Stable name: award keys use it, so renaming a rule lets it award again. */
	name: string;
	points: number;
	/** Event rule: the event name that gives the points... */
	event?: string;
	/** ...when all these property conditions hold. */
	where?: PropertyFilter[];
	/** Event rules: how often the rule may give points (default every time). */
	frequency?: Frequency;
	/** Field rule: points once while the condition holds, withdrawn when it stops holding. */
	field?: {
		field: string;
		operator: FieldRuleOperator | string;
		value?: unknown;
		value2?: unknown;
		ignoreCase?: boolean;
	};
	/** Event rules only; defaults to the model's decay. */
	decay?: Decay;
}

export interface Grade {
	name: string;
	/** Lowest score of the grade; the lowest grade covers everything below the next one. */
	min?: number | null;
}

export const DEFAULT_GRADES: Grade[] = [{ name: 'cold' }, { name: 'warm', min: 20 }, { name: 'hot', min: 50 }];

export interface ScoreModel {
	/** Several independent scores can live side by side (default "default"). */
	name?: string;
	rules: ScoreRule[];
	grades?: Grade[];
	decay?: Decay;
	/** Awards kept per contact before the oldest are folded (non-decaying) or dropped (default 1000). */
	maxAwards?: number;
}

export interface ScoreEvent {
	name: string;
	/** Event id or idempotency key: the same event scored twice changes nothing. */
	id?: string;
	/** When it happened (default now): decay and "once per day" count from it. */
	time?: unknown;
	properties?: unknown;
}

export interface ScoreInput {
	contactId: string;
	/** Absent: recalculate only (field rules, decay, grade). */
	event?: ScoreEvent;
	source?: string;
	chain?: ChainLink[];
}

/** One scored item (results line up with the inputs); the Lead Score node outputs it as is. */
export interface ScoreResult {
	model: string;
	score: number;
	grade: string;
	previousGrade: string;
	changed: boolean;
	/** Rules whose conditions matched (event rules matching the event, field rules that hold). */
	matchedRules: string[];
	/** Points this call added (or withdrew, for field rules that stopped holding). */
	awarded: Array<{ rule: string; points: number }>;
	/** The event had already been scored by every rule it matches. */
	duplicate: boolean;
	/** The id of the $grade_changed event, when the grade changed. */
	gradeEventId?: string;
}

export interface ScoreReading {
	contactId: string;
	score: number;
	/** Grade at the last scoring (decay between scorings shows in `score` only). */
	grade?: string;
	/** Bounds of the score from now on, as the indexes hold them. */
	ceiling: number;
	floor: number;
}

const MODEL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function checkModelName(name: unknown, field = 'model'): string {
	const value = name === undefined || name === null || name === '' ? 'default' : String(name);
	if (!MODEL_NAME.test(value))
		throw new ValidationError(field, `Score model "${value}" is not valid`, 'Use 1-64 letters, digits, "_" or "-".');
	return value;
}

/** A field rule's condition as apply_score.lua tests it (value_test). */
interface LuaCondition {
	field: string;
	core: boolean;
	/** true for a core time, false for a custom field, absent for another core attribute. */
	time?: boolean;
	c: OperatorPlan;
}

/** A number, or a text starting with a date that parses: what a field rule compares in order with. */
function numberOrDate(value: unknown): boolean {
	if (typeof value === 'number') return Number.isFinite(value);
	if (typeof value !== 'string' || value.trim() === '') return false;
	return Number.isFinite(Number(value)) || (/^\d{4}-\d{2}-\d{2}/.test(value) && dateMs(value) !== undefined);
}

function compileFieldRule(rule: ScoreRule, path: string): LuaCondition {
	const f = rule.field as NonNullable<ScoreRule['field']>;
	if (!f || typeof f !== 'object') throw new ValidationError(`${path}.field`, 'A field rule needs a field condition');
	const field = checkName(`${path}.field.field`, f.field, LIMITS.fieldNameLength, 'Field name');
	const op = f.operator as FieldRuleOperator;
	if (!FIELD_RULE_OPERATORS.includes(op)) {
		throw new ValidationError(
			`${path}.field.operator`,
			`Unknown operator "${String(f.operator)}" for a field rule`,
			`Use one of: ${FIELD_RULE_OPERATORS.join(', ')}.`,
		);
	}
	// The checks (and errors) of a Segment Filter condition with the same operator: a rule the
	// segment side rejects (between with a number and a date, or its bounds reversed...) is
	// rejected here too, not evaluated by the script.
	compileOperator({ operator: op, value: f.value, value2: f.value2, ignoreCase: f.ignoreCase }, `${path}.field`);
	if (op === 'in' || op === 'notIn') {
		const values = Array.isArray(f.value)
			? f.value
			: String(f.value ?? '')
					.split(',')
					.map((v) => v.trim())
					.filter(Boolean);
		if (values.length === 0) throw new ValidationError(`${path}.field.value`, `"${op}" needs a list of values`);
	} else if (op !== 'exists' && op !== 'notExists') {
		if (f.value === undefined || f.value === null || f.value === '')
			throw new ValidationError(`${path}.field.value`, `"${op}" needs a value`);
		if (['gt', 'gte', 'lt', 'lte', 'between'].includes(op) && !numberOrDate(f.value))
			throw new ValidationError(`${path}.field.value`, `${JSON.stringify(f.value)} is neither a number nor a date`);
		if (op === 'between' && !numberOrDate(f.value2))
			throw new ValidationError(`${path}.field.value2`, `${JSON.stringify(f.value2)} is neither a number nor a date`);
	}
	const core = (CORE_FIELDS as readonly string[]).includes(field);
	return {
		field,
		core,
		...storedValueKind(field, core),
		c: operatorPlan({ operator: op, value: f.value, value2: f.value2, ignoreCase: f.ignoreCase }) as OperatorPlan,
	};
}

interface CompiledRule {
	rule: ScoreRule;
	name: string;
	keyPart: string;
	frequency: Frequency;
	decay: Decay;
	matches?: (props: unknown, ctx: EvalContext) => boolean;
	field?: LuaCondition;
}

export interface CompiledModel {
	compiled: true;
	name: string;
	rules: CompiledRule[];
	grades: Array<{ name: string; min: number | null }>;
	maxAwards: number;
	/** Indexes in `rules` of the field rules. */
	fieldRules: number[];
}

export function checkGrades(
	grades: Grade[] | undefined,
	field = 'grades',
): Array<{ name: string; min: number | null }> {
	const list = grades === undefined || grades === null ? DEFAULT_GRADES : grades;
	if (!Array.isArray(list) || list.length === 0) throw new ValidationError(field, 'Give at least one grade');
	const seen = new Set<string>();
	const checked = list.map((g, i) => {
		const name = checkName(`${field}[${i}].name`, g?.name, 64, 'Grade name');
		if (seen.has(name)) throw new ValidationError(`${field}[${i}].name`, `Grade "${name}" appears twice`);
		seen.add(name);
		const min = g.min === undefined || g.min === null || (g.min as unknown) === '' ? null : Number(g.min);
		if (min !== null && !Number.isFinite(min))
			throw new ValidationError(`${field}[${i}].min`, `The threshold of grade "${name}" is not a number`);
		return { name, min };
	});
	checked.sort((a, b) => (a.min ?? -Infinity) - (b.min ?? -Infinity));
	if (checked.filter((g) => g.min === null).length > 1)
		throw new ValidationError(field, 'Only the lowest grade may have no threshold');
	for (let i = 1; i < checked.length; i++) {
		if (checked[i].min === checked[i - 1].min)
			throw new ValidationError(
				field,
				`Grades "${checked[i - 1].name}" and "${checked[i].name}" have the same threshold`,
			);
	}
	return checked.map((g, i) => (i === 0 ? { name: g.name, min: null } : g));
}

/** Validates a model once for a whole batch. */
export function compileModel(model: ScoreModel): CompiledModel {
	if (!model || typeof model !== 'object') throw new ValidationError('rules', 'The score model must be an object');
	const name = checkModelName(model.name);
	if (!Array.isArray(model.rules)) throw new ValidationError('rules', 'Rules must be a list');
	const defaultDecay = checkDecay(model.decay, 'decay');
	const names = new Set<string>();
	const rules = model.rules.map((rule, i): CompiledRule => {
		const path = `rules[${i}]`;
		if (!rule || typeof rule !== 'object') throw new ValidationError(path, 'A rule must be an object');
		const ruleName = checkName(`${path}.name`, rule.name, 100, 'Rule name');
		if (names.has(ruleName)) throw new ValidationError(`${path}.name`, `Two rules are named "${ruleName}"`);
		names.add(ruleName);
		const points = Number(rule.points);
		if (
			typeof rule.points === 'boolean' ||
			rule.points === null ||
			(rule.points as unknown) === '' ||
			!Number.isFinite(points) ||
			Math.abs(points) > 1e9
		) {
			throw new ValidationError(
				`${path}.points`,
				`Points of rule "${ruleName}" must be a number, got ${JSON.stringify(rule.points)}`,
			);
		}
		const hasEvent = rule.event !== undefined && rule.event !== '';
		if (hasEvent === Boolean(rule.field))
			throw new ValidationError(path, `Rule "${ruleName}" needs either an event or a field condition`);
		const frequency = rule.frequency ?? 'everyTime';
		if (!['everyTime', 'oncePerDay', 'oncePerContact'].includes(frequency)) {
			throw new ValidationError(
				`${path}.frequency`,
				`"${frequency}" is not a frequency`,
				'Use everyTime, oncePerDay or oncePerContact.',
			);
		}
		const base = { rule: { ...rule, points }, name: ruleName, keyPart: encodeKeyPart(ruleName), frequency };
		if (!hasEvent)
			return { ...base, frequency: 'oncePerContact', decay: { mode: 'none' }, field: compileFieldRule(rule, path) };
		checkName(`${path}.event`, rule.event, LIMITS.eventNameLength, 'Event name');
		return {
			...base,
			decay: rule.decay ? checkDecay(rule.decay, `${path}.decay`) : defaultDecay,
			matches: compileProperties(rule.where, `${path}.where`),
		};
	});
	const maxAwards = model.maxAwards ?? 1000;
	if (!Number.isInteger(maxAwards) || maxAwards < 10)
		throw new ValidationError('maxAwards', 'maxAwards must be a whole number of 10 or more');
	return {
		compiled: true,
		name,
		rules,
		grades: checkGrades(model.grades),
		maxAwards,
		fieldRules: rules.flatMap((r, i) => (r.field ? [i] : [])),
	};
}

const DAY_MS = 86_400_000;

export class Scoring {
	constructor(private readonly store: ContactStore) {}

	/** Scores each input atomically on its contact's shard; one round trip per batch. */
	async score(model: ScoreModel | CompiledModel, inputs: ScoreInput[]): Promise<Array<Result<ScoreResult>>> {
		const { store } = this;
		const compiled = 'compiled' in model ? model : compileModel(model);
		const { rules } = compiled;
		const now = store.now();
		// What the items share is sent once per call: each rule's encoded award value (an award
		// names its rule by number), the field rules, the grades, and the source and chain most
		// items carry (an item sends its own only when they differ).
		const defaultChain = chainJson(inputs.find((input) => input?.chain)?.chain);
		const shared = JSON.stringify({
			now,
			model: compiled.name,
			awardValues: rules.map((r) => (r.field ? '' : encodeAward(r.rule.points, r.decay))),
			fieldRules: rules.flatMap((r, i) =>
				r.field
					? [{ index: i + 1, key: `${AWARD_KEY_KINDS.field}${r.keyPart}`, points: r.rule.points, cond: r.field }]
					: [],
			),
			grades: compiled.grades,
			maxAwards: compiled.maxAwards,
			limits: store.limits,
			source: 'lead-score',
			chain: defaultChain,
		});
		// Chains are usually one object shared by all the items: encoded once.
		let lastChain: ChainLink[] | undefined;
		let lastChainJson = defaultChain;
		const days = new Map<number, string>();
		// Per item: the rules its event matched and how many awards it asked for.
		const asked: Array<{ matched: string[]; awards: number }> = new Array(inputs.length);
		return store.runBatch<ScoreInput, ScoreResult>({
			script: scripts.applyScore,
			items: inputs,
			shared,
			contactOf: (input) => checkContactId(input?.contactId),
			argsOf: (input, index, contactId) => {
				const source =
					input.source && input.source !== 'lead-score' ? checkName('source', input.source, 200, 'Source') : '';
				if (input.chain !== lastChain) {
					lastChain = input.chain;
					lastChainJson = chainJson(input.chain);
				}
				// id, source, chain ('': the shared ones), the event's time, then per award: its rule
				// number (1-based) and award key; tab-separated in one argument (none of them holds a
				// control character): each argument costs this process and Redis more than its bytes.
				let packed = `${contactId}\t${source}\t${lastChainJson === defaultChain ? '' : lastChainJson}`;
				let awards = 0;
				const matched: string[] = [];
				if (input.event !== undefined && input.event !== null) {
					const event = input.event;
					const eventName = checkName('event', event.name, LIMITS.eventNameLength, 'Event name');
					const at =
						event.time === undefined || event.time === '' || event.time === null
							? now
							: toEventTime(event.time, 'time', now);
					packed += `\t${at}`;
					const props = parseProperties(event.properties);
					let eventKey: string | undefined;
					const ctx: EvalContext = { now };
					for (let r = 0; r < rules.length; r++) {
						const rule = rules[r];
						if (!rule.matches || rule.rule.event !== eventName || !rule.matches(props, ctx)) continue;
						matched.push(rule.name);
						let key: string;
						if (rule.frequency === 'oncePerContact') key = `${AWARD_KEY_KINDS.oncePerContact}${rule.keyPart}`;
						else if (rule.frequency === 'oncePerDay')
							key = `${AWARD_KEY_KINDS.oncePerDay}${rule.keyPart}:${utcDay(days, at)}`;
						else {
							eventKey ??= encodeKeyPart(
								event.id === undefined || event.id === null || event.id === ''
									? `${eventName}@${at}`
									: checkName('eventId', String(event.id), 200, 'Event ID'),
							);
							key = `${AWARD_KEY_KINDS.everyEvent}${rule.keyPart}:${eventKey}`;
						}
						packed += `\t${r + 1}\t${key}`;
						awards++;
					}
				} else {
					packed += '\t';
				}
				asked[index] = { matched, awards };
				return [packed];
			},
			// apply_score.lua's answer: score, grade, previous grade, 1 if changed, $grade_changed
			// event id, awarded rules (by number; "-<number>:<points>" when a field rule's points were
			// withdrawn), duplicate rules, then 1 or 0 per field rule, tab-separated.
			answer: (answer, index) => {
				const [score, grade, previousGrade, changed, eventId, awarded, duplicates, fieldBits] = (
					answer as string
				).split('\t');
				const { matched, awards } = asked[index];
				for (let i = 0; i < fieldBits.length; i++)
					if (fieldBits[i] === '1') matched.push(rules[compiled.fieldRules[i]].name);
				const awardedList: Array<{ rule: string; points: number }> = [];
				if (awarded !== '') {
					for (const n of awarded.split(' ')) {
						if (n.startsWith('-')) {
							const [number, points] = n.slice(1).split(':');
							awardedList.push({ rule: rules[Number(number) - 1].name, points: -Number(points) });
						} else {
							const rule = rules[Number(n) - 1];
							awardedList.push({ rule: rule.name, points: rule.rule.points });
						}
					}
				}
				const result: ScoreResult = {
					model: compiled.name,
					score: Number(score),
					grade,
					previousGrade,
					changed: changed === '1',
					matchedRules: matched,
					awarded: awardedList,
					duplicate: awards > 0 && duplicates !== '' && duplicates.split(' ').length === awards,
				};
				if (eventId) result.gradeEventId = eventId;
				return result;
			},
		});
	}

	/** The current (decayed) score of each contact; null when the contact does not exist. */
	async read(ids: string[], model?: string): Promise<Array<Result<ScoreReading | null>>> {
		const { store } = this;
		const name = checkModelName(model);
		const now = store.now();
		return settleAll(ids, async (rawId) => {
			const contactId = checkContactId(rawId);
			const raw = await store.run<[string[], string[], string | null] | null>(
				scripts.readScore,
				store.keys.contactScriptKeys(contactId),
				[name],
			);
			if (!raw) return null;
			const snapshot = computeScore(raw[0], pairs(raw[1]), now);
			return { contactId, ...snapshot, ...(raw[2] ? { grade: raw[2] } : {}) };
		});
	}
}

export function pairs(flat: string[]): Record<string, string> {
	const out: Record<string, string> = {};
	for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
	return out;
}

/** The UTC day of an instant ("once per day" award keys), remembered per batch. */
function utcDay(days: Map<number, string>, at: number): string {
	const day = Math.floor(at / DAY_MS);
	let text = days.get(day);
	if (text === undefined) days.set(day, (text = new Date(day * DAY_MS).toISOString().slice(0, 10)));
	return text;
}

function parseProperties(value: unknown): unknown {
	if (value === undefined || value === null || value === '') return {};
	if (typeof value === 'string') {
		try {
			return JSON.parse(value);
		} catch {
			throw new ValidationError('properties', 'Event properties are not valid JSON');
		}
	}
	if (typeof value !== 'object' || Array.isArray(value))
		throw new ValidationError('properties', 'Event properties must be an object');
	return value;
}
