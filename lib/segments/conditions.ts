/**
 * Segment conditions: validation, compilation into a predicate over the data of one contact,
 * and the list of exactly the data those predicates need (the "fetch spec" the read script
 * serves in one call per contact, or per page of contacts of a shard).
 */
import { ValidationError } from '../errors';
import { CONTACT_HASH_PREFIXES, SHARD_INDEXES } from '../keys';
import { SYSTEM_EVENTS } from '../events';
import { checkName, LIMITS } from '../values';
import { DEFAULT_TIERS } from '../engagement';
import { checkTopicName, TOPIC_FIELD_PREFIX } from '../topics';
import { checkModelName, computeScore, CORE_FIELDS, CORE_TIME_FIELDS, pairs } from '../scoring';
import {
	compileOperator,
	compileProperties,
	operatorPlan,
	storedValueKind,
	type EvalContext,
	type OperatorPlan,
	type PropertyFilter,
	type StoredValue,
	type ValueCondition,
} from './operators';

export interface ConditionGroup {
	/** "and": every condition holds; "or": at least one. */
	combinator: 'and' | 'or';
	conditions: SegmentCondition[];
}
export interface FieldCondition extends ValueCondition {
	type: 'field';
	/** A custom field, or a core attribute (email, timezone, lifecycleStage, status, createdAt, lastActivityAt...). */
	field: string;
}
export interface TagCondition {
	type: 'tags';
	operator: 'hasAny' | 'hasAll' | 'hasNone';
	tags: string[] | string;
}
export interface ScoreCondition {
	type: 'score';
	model?: string;
	operator: 'gt' | 'gte' | 'lt' | 'lte' | 'equals' | 'between';
	value: unknown;
	value2?: unknown;
}
type MembershipOperator = 'is' | 'isNot' | 'in' | 'notIn';
export interface GradeCondition {
	type: 'grade';
	model?: string;
	operator: MembershipOperator;
	value: string | string[];
}
export interface TierCondition {
	type: 'tier';
	operator: MembershipOperator;
	value: string | string[];
	/** The tier tag names the Engagement Tagger uses (default its own: Engaged, Disengaged, Inactive). */
	tiers?: string[];
}
export interface StageCondition {
	type: 'lifecycleStage';
	operator: MembershipOperator;
	value: string | string[];
}
export interface SubscriptionCondition {
	type: 'subscription';
	operator: MembershipOperator;
	value: string | string[];
}
/**
 * A topic (lib/topics): subscribed = chose it (indexed); unsubscribed = left it; notUnsubscribed =
 * did not leave it (who a send on the topic reaches: a contact who never chose gets every topic).
 */
export interface TopicCondition {
	type: 'topic';
	operator: 'subscribed' | 'unsubscribed' | 'notUnsubscribed';
	topic: string;
}
export interface EventCondition {
	type: 'event';
	/**
	 * didAtLeast: did `event` at least `count` times (in the last `days` days, or ever);
	 * didNot: never did it (or not in the last `days` days);
	 * didButNot: did `event` and no `otherEvent` followed its latest occurrence (within `days`
	 * days of it; with `days`, only once those days have passed).
	 */
	operator: 'didAtLeast' | 'didNot' | 'didButNot';
	event: string;
	count?: number;
	days?: number;
	where?: PropertyFilter[];
	otherEvent?: string;
	otherWhere?: PropertyFilter[];
}
export interface EmailCondition {
	type: 'email';
	/**
	 * received / opened / clicked campaign C (any campaign when absent), in the last `days` days
	 * or ever; notOpened: received C, `days` days have passed since, with no open of C in them.
	 * Reads `$email_sent` / `$email_opened` / `$email_clicked` events whose properties carry
	 * `campaignId`, from the contact's events index (each name's events within the retention).
	 */
	operator: 'received' | 'opened' | 'clicked' | 'notOpened';
	campaignId?: string;
	days?: number;
}
export type SegmentLeaf =
	| FieldCondition
	| TagCondition
	| ScoreCondition
	| GradeCondition
	| TierCondition
	| StageCondition
	| SubscriptionCondition
	| TopicCondition
	| EventCondition
	| EmailCondition;
export type SegmentCondition = ConditionGroup | SegmentLeaf;

/** The data the read script returns for one contact. */
export interface ContactData {
	core: Record<string, string>;
	fields: Array<string | false>;
	tags: number[];
	counts: Array<string | false>;
	windows: number[];
	butNot: Array<[number | false, number | false]>;
	history: Array<[string, number, string]>;
	scores: Array<[string[], string[]]>;
	/** Send Campaign's per-contact record of each requested campaign (JSON), or false. */
	campaigns: Array<string | false>;
}

interface CampaignRecord {
	sentAt?: number;
	openedAt?: number;
	clickedAt?: number;
}

export interface FetchSpec {
	/** Core hash fields read (HMGET): 'id' (every contact has it) and those conditions name. */
	core: string[];
	fields: string[];
	tags: string[];
	counts: string[];
	/** [event name, since ms]: ZCOUNT of the per-name time index. */
	windows: Array<[string, number]>;
	/** [X, Y]: latest X and the first Y at or after it. */
	butNot: Array<[string, string]>;
	/** History entries of these names since `since` (for property conditions and campaigns). */
	history: { names: string[]; since: number } | null;
	scores: string[];
	/** Campaign ids whose `<base>:cmp` record is read. */
	campaigns: string[];
}

type Predicate = (d: ContactData, ctx: EvalContext) => boolean;

export interface IndexSource {
	kind: 'sets' | 'zset';
	/** Index names (keys.index(shard, name)): one zset, or sets whose union is the candidates. */
	names: string[];
	min?: number;
	max?: number;
	/** What it reads, for the docs and the node's output. */
	label: string;
}

/**
 * A condition tree as read_segment.lua decides it inside Redis (per-item mode): `i` is the 1-based
 * position in `reads` of the core hash value a leaf tests. Built only when every leaf is one the
 * script decides as `test` does (field values as lib/redis/lua/value_test.lua, tags, tiers,
 * membership, topics, event counts without property conditions, "did X but not Y").
 */
export type LuaPlanNode =
	| { all: LuaPlanNode[] }
	| { any: LuaPlanNode[] }
	/** time: true for a core time, false for a custom field, absent for another core attribute. */
	| { k: 'value'; i: number; time?: boolean; c: OperatorPlan }
	| { k: 'tags'; i: number[]; m: 'any' | 'all' | 'none' }
	| { k: 'oneOf'; i: number; v: string[]; neg: boolean }
	| { k: 'count'; i: number; min: number; none: boolean }
	/** i: the name's counter ("<count>|<first>|<last>"), which decides most contacts without the events index. */
	| { k: 'window'; i: number; e: string; s: number; min: number; none: boolean }
	| { k: 'butNot'; x: string; y: string; span?: number };

export interface LuaPlan {
	/** Core hash fields read in one HMGET; the first is 'id' (absent: no such contact). */
	reads: string[];
	tree: LuaPlanNode;
}

export interface CompiledSegment {
	spec: FetchSpec;
	test: Predicate;
	/** The conditions as Redis decides them in per-item mode; null when some leaf is not decided there. */
	plan: LuaPlan | null;
	/** Index sources any of which yields a superset of the segment (empty: needs a scan). */
	sources: IndexSource[];
	fingerprint: string;
}

const DAY = 86_400_000;

class SpecBuilder {
	// Only what the conditions test: segment mode adds the attributes it emits (SEGMENT_CORE).
	readonly spec: FetchSpec = {
		core: ['id'],
		fields: [],
		tags: [],
		counts: [],
		windows: [],
		butNot: [],
		history: null,
		scores: [],
		campaigns: [],
	};
	private index(list: unknown[], value: unknown): number {
		const key = JSON.stringify(value);
		const at = list.findIndex((v) => JSON.stringify(v) === key);
		if (at >= 0) return at;
		list.push(value);
		return list.length - 1;
	}
	core(name: string) {
		return this.index(this.spec.core, name);
	}
	field(name: string) {
		return this.index(this.spec.fields, name);
	}
	tag(name: string) {
		return this.index(this.spec.tags, name);
	}
	count(name: string) {
		return this.index(this.spec.counts, name);
	}
	window(name: string, since: number) {
		return this.index(this.spec.windows, [name, since]);
	}
	butNot(x: string, y: string) {
		return this.index(this.spec.butNot, [x, y]);
	}
	score(model: string) {
		return this.index(this.spec.scores, model);
	}
	campaign(id: string) {
		return this.index(this.spec.campaigns, id);
	}
	history(names: string[], since: number) {
		const h = (this.spec.history ??= { names: [], since });
		for (const n of names) if (!h.names.includes(n)) h.names.push(n);
		h.since = Math.min(h.since, since);
	}
}

class PlanReads {
	readonly reads: string[] = ['id'];
	/** The 1-based position of a core hash field in the HMGET. */
	at(name: string): number {
		const at = this.reads.indexOf(name);
		return at >= 0 ? at + 1 : this.reads.push(name);
	}
}

/** A compiled node: its test, its index sources, and its plan node unless Redis cannot decide it. */
interface CompiledNode {
	test: Predicate;
	sources: IndexSource[];
	lua?: LuaPlanNode;
}

function asList(value: unknown, field: string, what: string): string[] {
	const list = Array.isArray(value)
		? value
		: typeof value === 'string'
			? value
					.split(',')
					.map((v) => v.trim())
					.filter(Boolean)
			: [];
	if (list.length === 0) throw new ValidationError(field, `Give at least one ${what}`);
	return list.map((v) => checkName(field, String(v), 200, what));
}

function membership(operator: string, path: string): (hit: boolean) => boolean {
	if (operator === 'is' || operator === 'in') return (hit) => hit;
	if (operator === 'isNot' || operator === 'notIn') return (hit) => !hit;
	throw new ValidationError(`${path}.operator`, `Unknown operator "${operator}"`, 'Use is, isNot, in or notIn.');
}

function optionalDays(value: unknown, field: string, maxDays?: number): number | undefined {
	if (value === undefined || value === null || value === '') return undefined;
	const days = Number(value);
	if (!Number.isFinite(days) || days < 0)
		throw new ValidationError(field, `Days must be a number of 0 or more, got ${JSON.stringify(value)}`);
	if (maxDays !== undefined && days > maxDays) {
		throw new ValidationError(
			field,
			`${days} days is beyond the ${maxDays} days event times are kept`,
			'Use a shorter window, or "ever" (leave days empty).',
		);
	}
	return days;
}

/** The stored value of a field as conditions see it: typed, core times as ISO text. */
function fieldValue(d: ContactData, core: boolean, name: string, at: number): StoredValue {
	if (core) {
		const raw = d.core[name];
		if (raw === undefined) return undefined;
		return CORE_TIME_FIELDS.has(name) ? new Date(Number(raw)).toISOString() : raw;
	}
	const enc = d.fields[at];
	if (enc === false || enc === undefined || enc === null) return undefined;
	const text = enc.slice(2);
	if (enc[0] === 'n') return Number(text);
	if (enc[0] === 'b') return text === '1';
	return text;
}

export interface CompileOptions {
	now: number;
	/** Limits of the store: event times are kept `retentionMs`. */
	retentionMs: number;
}

/** Validates and compiles a condition tree; `path` prefixes the names in errors. */
export function compileSegment(root: SegmentCondition, options: CompileOptions): CompiledSegment {
	const builder = new SpecBuilder();
	const reads = new PlanReads();
	const { now } = options;
	const retentionDays = options.retentionMs / DAY;

	const compileLeaf = (c: SegmentLeaf, path: string): CompiledNode => {
		switch (c.type) {
			case 'field': {
				const field = checkName(`${path}.field`, c.field, LIMITS.fieldNameLength, 'Field name');
				const core = (CORE_FIELDS as readonly string[]).includes(field);
				const at = core ? builder.core(field) : builder.field(field);
				const predicate = compileOperator(c, path);
				// "anniversary today" is in the contact's own time zone; no other operator reads it.
				const zoned = c.operator === 'anniversaryToday';
				if (zoned) builder.core('timezone');
				const test: Predicate = zoned
					? (d, ctx) => predicate(fieldValue(d, core, field, at), { ...ctx, timezone: d.core.timezone })
					: (d, ctx) => predicate(fieldValue(d, core, field, at), ctx);
				const plan = operatorPlan(c);
				const lua: LuaPlanNode | undefined = plan && {
					k: 'value',
					i: reads.at(core ? field : CONTACT_HASH_PREFIXES.field + field),
					...storedValueKind(field, core),
					c: plan,
				};
				return { test, sources: timeSources(field, c, now), lua };
			}
			case 'tags': {
				const tags = asList(c.tags, `${path}.tags`, 'tag');
				const at = tags.map((t) => builder.tag(t));
				const hasAny = (d: ContactData) => hasAnyTag(d, at);
				const lua = (m: 'any' | 'all' | 'none'): LuaPlanNode => ({
					k: 'tags',
					i: tags.map((t) => reads.at(CONTACT_HASH_PREFIXES.tag + t)),
					m,
				});
				if (c.operator === 'hasAny')
					return {
						test: hasAny,
						lua: lua('any'),
						sources: [
							setSource(
								tags.map((t) => SHARD_INDEXES.tag + t),
								`tags ${tags.join(', ')}`,
							),
						],
					};
				if (c.operator === 'hasAll')
					return {
						test: (d) => {
							for (const i of at) if (d.tags[i] !== 1) return false;
							return true;
						},
						sources: tags.map((t) => setSource([SHARD_INDEXES.tag + t], `tag ${t}`)),
						lua: lua('all'),
					};
				if (c.operator === 'hasNone') return { test: (d) => !hasAny(d), sources: [], lua: lua('none') };
				throw new ValidationError(
					`${path}.operator`,
					`Unknown operator "${String(c.operator)}"`,
					'Use hasAny, hasAll or hasNone.',
				);
			}
			case 'score': {
				const model = checkModelName(c.model, `${path}.model`);
				const at = builder.score(model);
				if (!['gt', 'gte', 'lt', 'lte', 'equals', 'between'].includes(c.operator)) {
					throw new ValidationError(
						`${path}.operator`,
						`Unknown operator "${String(c.operator)}"`,
						'Use gt, gte, lt, lte, equals or between.',
					);
				}
				for (const [k, v] of [['value', c.value], ...(c.operator === 'between' ? [['value2', c.value2]] : [])] as Array<
					[string, unknown]
				>) {
					if (v === '' || v === null || v === undefined || !Number.isFinite(Number(v)))
						throw new ValidationError(
							`${path}.${k}`,
							`A score must be compared with a number, got ${JSON.stringify(v)}`,
						);
				}
				const predicate = compileOperator(
					{
						operator: c.operator,
						value: Number(c.value),
						value2: c.value2 === undefined ? undefined : Number(c.value2),
					},
					path,
				);
				const test: Predicate = (d, ctx) => {
					const [entries, values] = d.scores[at];
					return predicate(computeScore(entries, pairs(values), ctx.now).score, ctx);
				};
				// ix:score holds the most a score can be worth from its last write on, ix:scoremin the least.
				const low = Number(c.value);
				const high = c.operator === 'between' ? Number(c.value2) : low;
				const sources =
					c.operator === 'lt' || c.operator === 'lte'
						? [
								zsetSource(
									SHARD_INDEXES.scoreFloor + model,
									-Infinity,
									high,
									`score ${c.operator} ${high} (score floor index)`,
								),
							]
						: [
								zsetSource(
									SHARD_INDEXES.score + model,
									low,
									Infinity,
									`score ${c.operator} ${low} (score ceiling index)`,
								),
							];
				return { test, sources };
			}
			case 'grade': {
				const model = checkModelName(c.model, `${path}.model`);
				const grades = asList(c.value, `${path}.value`, 'grade');
				const decide = membership(c.operator, path);
				builder.core(CONTACT_HASH_PREFIXES.grade + model);
				const test: Predicate = (d) => decide(grades.includes(d.core[CONTACT_HASH_PREFIXES.grade + model] ?? ''));
				const indexed = c.operator === 'is' || c.operator === 'in';
				return {
					test,
					lua: { k: 'oneOf', i: reads.at(CONTACT_HASH_PREFIXES.grade + model), v: grades, neg: !indexed },
					sources: indexed
						? [
								setSource(
									grades.map((g) => `${SHARD_INDEXES.grade}${model}:${g}`),
									`grade ${grades.join(', ')}`,
								),
							]
						: [],
				};
			}
			case 'tier': {
				const tiers =
					c.tiers === undefined || (Array.isArray(c.tiers) && c.tiers.length === 0)
						? DEFAULT_TIERS.names
						: asList(c.tiers, `${path}.tiers`, 'tier name');
				const wanted = asList(c.value, `${path}.value`, 'tier');
				for (const w of wanted) {
					if (!tiers.includes(w))
						throw new ValidationError(`${path}.value`, `"${w}" is not one of the tiers (${tiers.join(', ')})`);
				}
				const at = wanted.map((t) => builder.tag(t));
				const decide = membership(c.operator, path);
				const test: Predicate = (d) => decide(hasAnyTag(d, at));
				const indexed = c.operator === 'is' || c.operator === 'in';
				return {
					test,
					lua: {
						k: 'tags',
						i: wanted.map((t) => reads.at(CONTACT_HASH_PREFIXES.tag + t)),
						m: indexed ? 'any' : 'none',
					},
					sources: indexed
						? [
								setSource(
									wanted.map((t) => SHARD_INDEXES.tag + t),
									`tier ${wanted.join(', ')}`,
								),
							]
						: [],
				};
			}
			case 'lifecycleStage':
			case 'subscription': {
				const attr = c.type === 'lifecycleStage' ? 'lifecycleStage' : 'status';
				builder.core(attr);
				const values = asList(
					c.value,
					`${path}.value`,
					c.type === 'lifecycleStage' ? 'lifecycle stage' : 'subscription status',
				);
				const decide = membership(c.operator, path);
				const test: Predicate = (d) => decide(values.includes(d.core[attr] ?? ''));
				const prefix = c.type === 'lifecycleStage' ? 'stage' : 'status';
				const indexed = c.operator === 'is' || c.operator === 'in';
				return {
					test,
					lua: { k: 'oneOf', i: reads.at(attr), v: values, neg: !indexed },
					sources: indexed
						? [
								setSource(
									values.map((v) => `${prefix}:${v}`),
									`${attr} ${values.join(', ')}`,
								),
							]
						: [],
				};
			}
			case 'topic': {
				const topic = checkTopicName(c.topic, `${path}.topic`);
				const field = `${TOPIC_FIELD_PREFIX}${topic}`;
				builder.core(field);
				const wanted = { subscribed: '1', unsubscribed: '0' }[c.operator as string];
				if (c.operator === 'notUnsubscribed')
					return {
						test: (d) => d.core[field] !== '0',
						sources: [],
						lua: { k: 'oneOf', i: reads.at(field), v: ['0'], neg: true },
					};
				if (!wanted)
					throw new ValidationError(
						`${path}.operator`,
						`Unknown operator "${String(c.operator)}"`,
						'Use subscribed, unsubscribed or notUnsubscribed.',
					);
				return {
					test: (d) => d.core[field] === wanted,
					lua: { k: 'oneOf', i: reads.at(field), v: [wanted], neg: false },
					sources: c.operator === 'subscribed' ? [setSource([SHARD_INDEXES.topic + topic], `topic ${topic}`)] : [],
				};
			}
			case 'event':
				return { ...compileEvent(c, path), sources: [] };
			case 'email':
				return { test: compileEmail(c, path), sources: [] };
			default:
				throw new ValidationError(
					`${path}.type`,
					`Unknown condition type "${String((c as { type?: unknown }).type)}"`,
					'Use field, tags, score, grade, tier, lifecycleStage, subscription, topic, event or email.',
				);
		}
	};

	const eventName = (value: unknown, field: string) => checkName(field, value, LIMITS.eventNameLength, 'Event name');

	const compileEvent = (c: EventCondition, path: string): { test: Predicate; lua?: LuaPlanNode } => {
		const name = eventName(c.event, `${path}.event`);
		const hasWhere = Array.isArray(c.where) && c.where.length > 0;
		const where = compileProperties(c.where, `${path}.where`);
		if (c.operator === 'didAtLeast' || c.operator === 'didNot') {
			const days = optionalDays(c.days, `${path}.days`, hasWhere ? undefined : retentionDays);
			const count =
				c.operator === 'didNot' ? 1 : c.count === undefined || (c.count as unknown) === '' ? 1 : Number(c.count);
			if (!Number.isInteger(count) || count < 1)
				throw new ValidationError(
					`${path}.count`,
					`Count must be a whole number of 1 or more, got ${JSON.stringify(c.count)}`,
				);
			const since = days === undefined ? -Infinity : now - days * DAY;
			let counted: (d: ContactData, ctx: EvalContext) => number;
			let lua: LuaPlanNode | undefined;
			const none = c.operator === 'didNot';
			if (hasWhere) {
				builder.history([name], since);
				counted = (d, ctx) =>
					d.history.filter(([n, ts, props]) => n === name && ts >= since && where(parseJson(props), ctx)).length;
			} else if (days === undefined) {
				const at = builder.count(name);
				counted = (d) => Number(d.counts[at] || 0);
				lua = { k: 'count', i: reads.at(CONTACT_HASH_PREFIXES.counter + name), min: count, none };
			} else {
				const at = builder.window(name, since);
				counted = (d) => d.windows[at];
				lua = { k: 'window', i: reads.at(CONTACT_HASH_PREFIXES.counter + name), e: name, s: since, min: count, none };
			}
			return {
				test: none ? (d, ctx) => counted(d, ctx) === 0 : (d, ctx) => counted(d, ctx) >= count,
				lua,
			};
		}
		if (c.operator === 'didButNot') {
			const other = eventName(c.otherEvent, `${path}.otherEvent`);
			const days = optionalDays(c.days, `${path}.days`);
			const otherWhere = compileProperties(c.otherWhere, `${path}.otherWhere`);
			const hasOtherWhere = Array.isArray(c.otherWhere) && c.otherWhere.length > 0;
			const settled = (lastX: number, firstY: number | undefined, at: number) => {
				if (days === undefined) return firstY === undefined;
				const end = lastX + days * DAY;
				// Inclusive: a Y exactly N days after X is within N days.
				return at >= end && (firstY === undefined || firstY > end);
			};
			if (hasWhere || hasOtherWhere) {
				builder.history([name, other], -Infinity);
				const test: Predicate = (d, ctx) => {
					let lastX: number | undefined;
					for (const [n, ts, props] of d.history)
						if (n === name && (lastX === undefined || ts > lastX) && where(parseJson(props), ctx)) lastX = ts;
					if (lastX === undefined) return false;
					let firstY: number | undefined;
					for (const [n, ts, props] of d.history) {
						if (
							n === other &&
							ts >= (lastX as number) &&
							(firstY === undefined || ts < firstY) &&
							otherWhere(parseJson(props), ctx)
						)
							firstY = ts;
					}
					return settled(lastX, firstY, ctx.now);
				};
				return { test };
			}
			const at = builder.butNot(name, other);
			return {
				test: (d, ctx) => {
					const [lastX, firstY] = d.butNot[at];
					return lastX !== false && settled(lastX, firstY === false ? undefined : firstY, ctx.now);
				},
				lua: { k: 'butNot', x: name, y: other, ...(days === undefined ? {} : { span: days * DAY }) },
			};
		}
		throw new ValidationError(
			`${path}.operator`,
			`Unknown operator "${String(c.operator)}"`,
			'Use didAtLeast, didNot or didButNot.',
		);
	};

	const compileEmail = (c: EmailCondition, path: string): Predicate => {
		const campaign =
			c.campaignId === undefined || c.campaignId === ''
				? undefined
				: checkName(`${path}.campaignId`, String(c.campaignId), 200, 'Campaign ID');
		// A history entry of this campaign that a person did (opens and clicks flagged as a
		// scanner's or a privacy proxy's, `machine: true`, do not count).
		const human = (props: string) => {
			const p = parseJson(props) as { campaignId?: unknown; machine?: unknown };
			return (campaign === undefined || String(p?.campaignId ?? '') === campaign) && p?.machine !== true;
		};
		// The contact's record of the campaign kept by Send Campaign (`<base>:cmp`): sentAt (latest
		// send), openedAt / clickedAt (first human open / click).
		const recordAt = campaign === undefined ? -1 : builder.campaign(campaign);
		const record = (d: ContactData): CampaignRecord => {
			const raw = recordAt < 0 ? false : d.campaigns[recordAt];
			return raw ? (parseJson(raw) as CampaignRecord) : {};
		};
		const names = {
			received: SYSTEM_EVENTS.emailSent,
			opened: SYSTEM_EVENTS.emailOpened,
			clicked: SYSTEM_EVENTS.emailClicked,
		} as const;
		const fields = { received: 'sentAt', opened: 'openedAt', clicked: 'clickedAt' } as const;
		if (c.operator === 'received' || c.operator === 'opened' || c.operator === 'clicked') {
			const name = names[c.operator];
			const field = fields[c.operator];
			const days = optionalDays(c.days, `${path}.days`);
			const since = days === undefined ? -Infinity : now - days * DAY;
			builder.history([name], since);
			return (d) => {
				const at = Number(record(d)[field]);
				if (Number.isFinite(at) && at >= since) return true;
				return d.history.some(([n, ts, props]) => n === name && ts >= since && human(props));
			};
		}
		if (c.operator === 'notOpened') {
			if (campaign === undefined)
				throw new ValidationError(`${path}.campaignId`, '"did not open" needs the campaign ID');
			const days = optionalDays(c.days, `${path}.days`);
			if (days === undefined)
				throw new ValidationError(`${path}.days`, '"did not open within N days" needs the number of days');
			builder.history([SYSTEM_EVENTS.emailSent, SYSTEM_EVENTS.emailOpened], -Infinity);
			return (d, ctx) => {
				const rec = record(d);
				let sent = Number.isFinite(Number(rec.sentAt)) ? Number(rec.sentAt) : undefined;
				if (sent === undefined) {
					for (const [n, ts, props] of d.history)
						if (n === SYSTEM_EVENTS.emailSent && (sent === undefined || ts < sent) && human(props)) sent = ts;
				}
				if (sent === undefined) return false;
				const end = sent + days * DAY;
				if (ctx.now < end) return false;
				// An open of an earlier send of the same campaign counts as opened.
				const openedAt = Number(rec.openedAt);
				if (Number.isFinite(openedAt) && openedAt <= end) return false;
				return !d.history.some(([n, ts, props]) => n === SYSTEM_EVENTS.emailOpened && ts <= end && human(props));
			};
		}
		throw new ValidationError(
			`${path}.operator`,
			`Unknown operator "${String(c.operator)}"`,
			'Use received, opened, clicked or notOpened.',
		);
	};

	const compileNode = (c: SegmentCondition, path: string): CompiledNode => {
		if (!c || typeof c !== 'object') throw new ValidationError(path, 'A condition must be an object');
		if ('conditions' in c || 'combinator' in c) {
			const group = c as ConditionGroup;
			if (group.combinator !== 'and' && group.combinator !== 'or') {
				throw new ValidationError(
					`${path}.combinator`,
					`Unknown combinator "${String(group.combinator)}"`,
					'Use "and" or "or".',
				);
			}
			if (!Array.isArray(group.conditions) || group.conditions.length === 0)
				throw new ValidationError(`${path}.conditions`, 'A group needs at least one condition');
			const parts = group.conditions.map((child, i) => compileNode(child, `${path}.conditions[${i}]`));
			// Loops, not every/some with an arrow: a closure per contact and group costs more than the test.
			const tests = parts.map((p) => p.test);
			const luaParts = parts.every((p) => p.lua) ? parts.map((p) => p.lua as LuaPlanNode) : undefined;
			if (group.combinator === 'and') {
				return {
					lua: luaParts && { all: luaParts },
					test: (d, ctx) => {
						for (const test of tests) if (!test(d, ctx)) return false;
						return true;
					},
					sources: parts.flatMap((p) => p.sources),
				};
			}
			// An OR is served by an index only when every branch is one set lookup: their union.
			const unionable = parts.every((p) => p.sources.length > 0 && p.sources.some((s) => s.kind === 'sets'));
			const union = unionable
				? [
						setSource(
							parts.flatMap((p) => p.sources.find((s) => s.kind === 'sets')!.names),
							parts.map((p) => p.sources.find((s) => s.kind === 'sets')!.label).join(' or '),
						),
					]
				: [];
			return {
				lua: luaParts && { any: luaParts },
				test: (d, ctx) => {
					for (const test of tests) if (test(d, ctx)) return true;
					return false;
				},
				sources: union,
			};
		}
		return compileLeaf(c as SegmentLeaf, path);
	};

	const compiled = compileNode(root, 'conditions');
	const plan = compiled.lua ? { reads: reads.reads, tree: compiled.lua } : null;
	return {
		spec: builder.spec,
		test: compiled.test,
		// A lone surrogate in the JSON (an escape cjson refuses) keeps the conditions in this process.
		plan: plan && !/\\ud[89a-f]/i.test(JSON.stringify(plan)) ? plan : null,
		sources: compiled.sources,
		fingerprint: fingerprint(JSON.stringify(root)),
	};
}

/** Whether the contact has any of the tags at these spec positions. */
function hasAnyTag(d: ContactData, at: number[]): boolean {
	for (const i of at) if (d.tags[i] === 1) return true;
	return false;
}

function setSource(names: string[], label: string): IndexSource {
	return { kind: 'sets', names: [...new Set(names)], label: `index: ${label}` };
}

function zsetSource(name: string, min: number, max: number, label: string): IndexSource {
	return { kind: 'zset', names: [name], min, max, label: `index: ${label}` };
}

/** lastActivityAt and createdAt conditions can be served by ix:act / ix:all ranges. */
function timeSources(field: string, c: ValueCondition, now: number): IndexSource[] {
	const index =
		field === 'lastActivityAt' ? SHARD_INDEXES.active : field === 'createdAt' ? SHARD_INDEXES.all : undefined;
	if (!index) return [];
	const ms = (v: unknown) => {
		const n = typeof v === 'number' ? v : Date.parse(String(v));
		return Number.isFinite(n) ? n : undefined;
	};
	let min = -Infinity;
	let max = Infinity;
	switch (c.operator) {
		case 'after':
		case 'gt':
		case 'gte':
			min = ms(c.value) ?? -Infinity;
			break;
		case 'before':
		case 'lt':
		case 'lte':
			max = ms(c.value) ?? Infinity;
			break;
		case 'between':
			min = ms(c.value) ?? -Infinity;
			max = ms(c.value2) ?? Infinity;
			break;
		case 'withinLastDays':
			min = now - Number(c.days ?? c.value) * DAY;
			max = now;
			break;
		default:
			return [];
	}
	return [zsetSource(index, min, max, `${field} ${c.operator} (ix:${index} range)`)];
}

function parseJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return {};
	}
}

function fingerprint(text: string): string {
	let hash = 0x811c9dc5;
	for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
	return hash.toString(36);
}
