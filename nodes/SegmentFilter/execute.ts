import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { Segments, type CompiledSegment } from '../../lib/segments';
import { contactIdOf, hasExpression, perItem, routeInputs, runGrouped, toNodeError } from '../shared/items';
import { readConditions } from '../shared/segmentConditions';
import { leaseStore } from '../shared/store';
import { MATCHED, NOT_MATCHED } from './description';

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const mode = this.getNodeParameter('mode', 0) as string;
	const options = this.getNodeParameter('options', 0, {}) as IDataObject;
	const fallbackZone = (options.fallbackZone as string) || undefined;
	const lease = await leaseStore(this);
	try {
		const segments = new Segments(lease.store);
		if (mode === 'segment') return await listSegment(this, segments, fallbackZone);
		const items = this.getInputData();
		// Conditions without expressions are compiled once; with expressions (an author taken
		// from the item...) per item, sharing one compilation between items that resolve alike.
		const compiledByTree = new Map<string, CompiledSegment>();
		const compileFor = (i: number): CompiledSegment => {
			const tree = readConditions(this, i);
			const key = JSON.stringify(tree);
			let compiled = compiledByTree.get(key);
			if (!compiled) compiledByTree.set(key, (compiled = segments.compile(tree)));
			return compiled;
		};
		let shared: CompiledSegment | undefined;
		if (
			!hasExpression(
				['conditionsInput', 'combinator', 'conditions', 'conditionsJson'].map(
					(name) => this.getNode().parameters[name],
				),
			)
		) {
			try {
				shared = compileFor(0);
			} catch (error) {
				throw toNodeError(this, error as Error, 0);
			}
		}
		const fromItem = this.getNodeParameter('input', 0, 'item') === 'item';
		// The inputs are the items' indexes, their contacts and conditions kept beside them: no object
		// per item (a batch holds thousands, all alive until it ends).
		const contactIds: string[] = new Array(items.length);
		const compiledOf: CompiledSegment[] = shared ? [] : new Array(items.length);
		const inputs = perItem(this, (i) => {
			contactIds[i] = fromItem ? contactIdOf(items[i].json) : (this.getNodeParameter('contactId', i) as string);
			if (!shared) compiledOf[i] = compileFor(i);
			return i;
		});
		// Items grouped by their compiled conditions; all groups share one round trip.
		const results = await runGrouped(
			inputs,
			(i) => shared ?? compiledOf[i],
			(group, compiled) =>
				segments.verdicts(
					compiled,
					group.map((i) => contactIds[i]),
					{ fallbackZone },
				),
		);
		return routeInputs(this, results, 2, NOT_MATCHED, (verdict) => (verdict === 'matched' ? MATCHED : NOT_MATCHED));
	} finally {
		lease.release();
	}
}

/** Segment mode: runs once, on the first input item's parameters. */
async function listSegment(
	ctx: IExecuteFunctions,
	segments: Segments,
	fallbackZone: string | undefined,
): Promise<INodeExecutionData[][]> {
	const pagination = ctx.getNodeParameter('pagination', 0) as string;
	const pageSize = ctx.getNodeParameter('pageSize', 0) as number;
	const paired = { item: 0 };
	const contacts: INodeExecutionData[] = [];
	try {
		const conditions = readConditions(ctx, 0);
		if (pagination === 'page') {
			const cursor = (ctx.getNodeParameter('cursor', 0, '') as string) || undefined;
			const page = await segments.page(conditions, { cursor, pageSize, fallbackZone });
			for (const c of page.contacts) contacts.push({ json: { ...c }, pairedItem: paired });
			const next = page.cursor
				? [
						{
							json: { cursor: page.cursor, contacts: page.contacts.length, scanned: page.scanned, plan: page.plan },
							pairedItem: paired,
						},
					]
				: [];
			return [contacts, next];
		}
		const maxContacts = ctx.getNodeParameter('maxContacts', 0) as number;
		let cursor: string | null = null;
		let scanned = 0;
		let plan = '';
		do {
			const page = await segments.page(conditions, {
				cursor,
				pageSize: Math.min(pageSize, maxContacts - contacts.length),
				fallbackZone,
			});
			for (const c of page.contacts) contacts.push({ json: { ...c }, pairedItem: paired });
			cursor = page.cursor;
			scanned += page.scanned;
			plan = page.plan;
		} while (cursor && contacts.length < maxContacts);
		return [
			contacts,
			cursor ? [{ json: { cursor, contacts: contacts.length, scanned, plan }, pairedItem: paired }] : [],
		];
	} catch (error) {
		throw toNodeError(ctx, error as Error, 0);
	}
}
