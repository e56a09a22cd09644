import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { ValidationError } from '../../lib/errors';
import type { Decay, Grade, ScoreRule } from '../../lib/scoring';
import { parseJsonParameter } from './items';

export function stringOrEmpty(value: unknown): string {
	return value === undefined || value === null ? '' : String(value);
}

function optionalValue(value: unknown): unknown {
	return value === '' ? undefined : value;
}

/** Reads the score model (rules, decay, grades) from the node parameters of an item. */
export function readModel(
	ctx: IExecuteFunctions,
	itemIndex = 0,
): { name: string; rules: ScoreRule[]; decay: Decay; grades?: Grade[] } {
	const decayMode = ctx.getNodeParameter('decay', itemIndex, 'none') as Decay['mode'];
	const decay: Decay =
		decayMode === 'none'
			? { mode: 'none' }
			: { mode: decayMode, days: ctx.getNodeParameter('decayDays', itemIndex) as number };
	const gradeRows =
		((ctx.getNodeParameter('grades', itemIndex, {}) as IDataObject).grade as IDataObject[] | undefined) ?? [];
	const grades =
		gradeRows.length > 0 ? gradeRows.map((g) => ({ name: g.name as string, min: g.minScore as number })) : undefined;
	let rules: ScoreRule[];
	if (ctx.getNodeParameter('rulesInput', itemIndex) === 'json') {
		const raw = parseJsonParameter(ctx.getNodeParameter('rulesJson', itemIndex), 'rulesJson', 'Rules (JSON)');
		if (!Array.isArray(raw)) throw new ValidationError('rulesJson', 'Rules (JSON) must be a list of rules');
		rules = raw as ScoreRule[];
	} else {
		const rows =
			((ctx.getNodeParameter('rules', itemIndex, {}) as IDataObject).rule as IDataObject[] | undefined) ?? [];
		rules = rows.map((row): ScoreRule => {
			const base = { name: row.name as string, points: row.points as number };
			if (row.kind === 'field') {
				return {
					...base,
					field: {
						field: row.field as string,
						operator: row.fieldOperator as string,
						value: optionalValue(row.value),
						value2: optionalValue(row.value2),
					},
				};
			}
			const ruleDecay = (row.decay as string) ?? 'default';
			return {
				...base,
				event: row.event as string,
				frequency: (row.frequency as ScoreRule['frequency']) ?? 'everyTime',
				...(row.property
					? {
							where: [
								{
									property: row.property as string,
									operator: row.propertyOperator as string,
									value: row.propertyValue,
								},
							],
						}
					: {}),
				...(ruleDecay === 'default'
					? {}
					: {
							decay:
								ruleDecay === 'none'
									? { mode: 'none' }
									: { mode: ruleDecay as Decay['mode'], days: row.decayDays as number },
						}),
			};
		});
	}
	return { name: ctx.getNodeParameter('model', itemIndex, 'default') as string, rules, decay, grades };
}

type Json = Record<string, unknown>;
const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/**
 * The event of an input item: an `event` object {name, id, time, properties} (Contact Trigger,
 * webhook), or `event` as the name with `eventId` beside it (Contact node "Record Event"), or
 * top-level `name` / `eventId` / `time` / `properties`.
 */
export function eventOf(json: Json): { name: string; id?: string; time?: unknown; properties?: unknown } {
	const event = json.event;
	if (event && typeof event === 'object') {
		const e = event as Json;
		return {
			name: e.name as string,
			id: present(e.id) ? String(e.id) : present(json.eventId) ? String(json.eventId) : undefined,
			time: e.time,
			properties: e.properties,
		};
	}
	const name = typeof event === 'string' ? event : json.name;
	if (!present(name))
		throw new ValidationError(
			'eventName',
			'The item has no event name (looked for event.name, event and name)',
			'Map the event with "Define Below".',
		);
	return {
		name: name as string,
		id: present(json.eventId) ? String(json.eventId) : undefined,
		time: json.time,
		properties: json.properties,
	};
}
