import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { ValidationError } from '../../lib/errors';
import { DEFAULT_TIERS } from '../../lib/engagement';
import type { SegmentCondition, SegmentLeaf } from '../../lib/segments';
import { parseJsonParameter } from './items';

const blank = (v: unknown) => v === undefined || v === null || v === '';
/** 0 or empty days mean "ever" for event and e-mail conditions. */
const optionalDays = (v: unknown) => (blank(v) || Number(v) === 0 ? undefined : Number(v));

/** One row of the Conditions list as a lib condition. */
export function rowToCondition(row: IDataObject): SegmentLeaf {
	switch (row.type) {
		case 'field':
			return {
				type: 'field',
				field: row.field as string,
				operator: row.fieldOperator as string,
				value: row.value,
				value2: row.value2,
				days: row.fieldDays,
				ignoreCase: Boolean(row.ignoreCase),
			};
		case 'tags':
			return { type: 'tags', operator: row.tagOperator as 'hasAny', tags: row.tags as string };
		case 'score':
			return {
				type: 'score',
				model: (row.model as string) || undefined,
				operator: row.scoreOperator as 'gt',
				value: row.value,
				value2: row.value2,
			};
		case 'grade':
			return {
				type: 'grade',
				model: (row.model as string) || undefined,
				operator: row.memberOperator as 'is',
				value: row.value as string,
			};
		case 'tier':
			return {
				type: 'tier',
				operator: row.memberOperator as 'is',
				value: row.value as string,
				tiers: blank(row.tierNames)
					? DEFAULT_TIERS.names
					: String(row.tierNames)
							.split(',')
							.map((t) => t.trim())
							.filter(Boolean),
			};
		case 'lifecycleStage':
		case 'subscription':
			return { type: row.type, operator: row.memberOperator as 'is', value: row.value as string };
		case 'topic':
			return { type: 'topic', operator: row.topicOperator as 'subscribed', topic: row.topic as string };
		case 'event':
			return {
				type: 'event',
				operator: row.eventOperator as 'didAtLeast',
				event: row.event as string,
				count: blank(row.count) ? undefined : Number(row.count),
				days: optionalDays(row.days),
				...(blank(row.property)
					? {}
					: {
							where: [
								{
									property: row.property as string,
									operator: row.propertyOperator as string,
									value: row.propertyValue,
								},
							],
						}),
				...(row.eventOperator === 'didButNot' ? { otherEvent: row.otherEvent as string } : {}),
			};
		case 'email':
			return {
				type: 'email',
				operator: row.emailOperator as 'opened',
				campaignId: (row.campaignId as string) || undefined,
				days: optionalDays(row.days),
			};
		default:
			throw new ValidationError('type', `Unknown condition type "${String(row.type)}"`);
	}
}

/** The condition tree from the node: the rows joined by the combinator, or the JSON tree. */
export function readConditions(ctx: IExecuteFunctions, itemIndex: number): SegmentCondition {
	if (ctx.getNodeParameter('conditionsInput', itemIndex) === 'json') {
		const raw = parseJsonParameter(
			ctx.getNodeParameter('conditionsJson', itemIndex),
			'conditionsJson',
			'Conditions (JSON)',
		);
		if (Array.isArray(raw)) return { combinator: 'and', conditions: raw as SegmentCondition[] };
		if (!raw || typeof raw !== 'object')
			throw new ValidationError(
				'conditionsJson',
				'Conditions (JSON) must be a condition, a group or a list of conditions',
			);
		return raw as SegmentCondition;
	}
	const rows =
		((ctx.getNodeParameter('conditions', itemIndex, {}) as IDataObject).condition as IDataObject[] | undefined) ?? [];
	if (rows.length === 0) throw new ValidationError('conditions', 'Add at least one condition');
	return {
		combinator: ctx.getNodeParameter('combinator', itemIndex, 'and') as 'and' | 'or',
		conditions: rows.map(rowToCondition),
	};
}
