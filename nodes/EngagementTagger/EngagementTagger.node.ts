import {
	NodeConnectionTypes,
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { EngagementTagger as Tagger, checkTierConfig, type TierConfig, type TierResult } from '../../lib';
import { chainOf } from '../Contact/chain';
import { collect, perItem, runBatch, toNodeError } from '../shared/items';
import { CREDENTIAL_NAME, leaseStore, testContactStoreCredential } from '../shared/store';

const splitList = (text: unknown) =>
	String(text ?? '')
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);

function readConfig(ctx: IExecuteFunctions, itemIndex: number, withEvents: boolean): TierConfig {
	const days = splitList(ctx.getNodeParameter('boundaryDays', itemIndex)).map((d) => (/^\d+(\.\d+)?$/.test(d) ? Number(d) : NaN));
	return checkTierConfig({
		names: splitList(ctx.getNodeParameter('tierNames', itemIndex)),
		boundaryDays: days,
		interactionEvents: withEvents ? splitList(ctx.getNodeParameter('interactionEvents', itemIndex, '')) : [],
	});
}

const toJson = (r: TierResult): IDataObject => ({
	contactId: r.contactId,
	tier: r.tier,
	previousTier: r.previous,
	changed: r.changed,
	lastInteractionAt: r.lastInteractionAt,
});

export class EngagementTagger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Engagement Tagger',
		name: 'engagementTagger',
		icon: { light: 'file:engagementTagger.svg', dark: 'file:engagementTagger.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["mode"] === "wholeBase" ? "whole base" : "per contact" }}',
		description: 'Tags contacts Engaged / Disengaged / Inactive from their last interaction',
		defaults: { name: 'Engagement Tagger' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: CREDENTIAL_NAME, required: true, testedBy: 'contactStoreConnectionTest' }],
		properties: [
			{
				displayName: 'Mode',
				name: 'mode',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Per Contact', value: 'contact', description: 'Re-tier the contact of each incoming item' },
					{
						name: 'Whole Base',
						value: 'wholeBase',
						description: 'One run (e.g. daily from a Schedule Trigger) over the contacts that crossed a boundary; outputs those whose tier changed',
					},
				],
				default: 'contact',
			},
			{
				displayName: 'Contact ID',
				name: 'contactId',
				type: 'string',
				default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
				required: true,
				displayOptions: { show: { mode: ['contact'] } },
			},
			{
				displayName: 'Tier Names',
				name: 'tierNames',
				type: 'string',
				default: 'Engaged, Disengaged, Inactive',
				description: 'Comma-separated, most engaged first; each is also the tag the contact carries while in that tier',
			},
			{
				displayName: 'Boundaries (Days)',
				name: 'boundaryDays',
				type: 'string',
				default: '30, 60',
				description: 'Days since the last interaction where the next tier starts; one fewer than the tier names',
			},
			{
				displayName: 'Interaction Events',
				name: 'interactionEvents',
				type: 'string',
				default: '',
				placeholder: 'e.g. purchase, $email_clicked',
				description: "Comma-separated events that count as an interaction; empty for the store's activity (every event you record, e-mail opens, clicks and replies)",
				displayOptions: { show: { mode: ['contact'] } },
			},
			{
				displayName: 'Run Name',
				name: 'runName',
				type: 'string',
				default: '',
				placeholder: 'e.g. daily-tiers',
				description: 'Remembers when the previous whole-base run was; empty: one per workflow and node',
				displayOptions: { show: { mode: ['wholeBase'] } },
			},
			{
				displayName: 'Output',
				name: 'output',
				type: 'options',
				options: [
					{ name: 'Changed Contacts', value: 'changed', description: 'One item per contact whose tier changed' },
					{ name: 'Summary Only', value: 'summary', description: 'One item with the counts (the first run over a large base changes every contact)' },
				],
				default: 'changed',
				displayOptions: { show: { mode: ['wholeBase'] } },
			},
		],
	};

	methods = { credentialTest: { contactStoreConnectionTest: testContactStoreCredential } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const mode = this.getNodeParameter('mode', 0) as string;
		const lease = await leaseStore(this);
		try {
			const tagger = new Tagger(lease.store);
			if (mode === 'wholeBase') {
				let config: TierConfig;
				try {
					config = readConfig(this, 0, false);
				} catch (error) {
					throw toNodeError(this, error as Error, 0);
				}
				const runName = (this.getNodeParameter('runName', 0, '') as string) || `${this.getWorkflow().id ?? 'manual'}:${this.getNode().id}`;
				try {
					const summaryOnly = this.getNodeParameter('output', 0, 'changed') === 'summary';
					let changedCount = 0;
					const run = await tagger.runWholeBase(runName, config, {
						context: { source: 'engagement-tagger', chain: chainOf(this, 0) },
						keepChanges: !summaryOnly,
						onPage: (page) => void (changedCount += page.length),
					});
					if (summaryOnly) {
						return [[{ json: { changed: changedCount, examined: run.examined, firstRun: run.firstRun, runAt: run.ranAt, previousRunAt: run.previousRunAt }, pairedItem: { item: 0 } }]];
					}
					return [run.changed.map((r) => ({ json: { ...toJson(r), runAt: run.ranAt, previousRunAt: run.previousRunAt }, pairedItem: { item: 0 } }))];
				} catch (error) {
					const nodeError = toNodeError(this, error as Error, 0);
					if (!this.continueOnFail()) throw nodeError;
					return [[{ json: { error: nodeError.message }, pairedItem: { item: 0 } }]];
				}
			}
			if (mode !== 'contact') throw new NodeOperationError(this.getNode(), `"${mode}" is not a mode`);
			const inputs = perItem(this, (i) => ({
				contactId: this.getNodeParameter('contactId', i) as string,
				config: readConfig(this, i, true),
				chain: chainOf(this, i),
			}));
			// Each item may carry its own settings (expressions); the calls start together, so
			// auto-pipelining still sends the whole batch in one round trip.
			const results = await runBatch(inputs, async (valid) =>
				Promise.all(valid.map((v) => tagger.tag([v.contactId], v.config, { source: 'engagement-tagger', chain: v.chain }).then(([r]) => r))),
			);
			const items = this.getInputData();
			return [collect(this, results, (r, i) => ({ ...items[i].json, engagement: toJson(r) }))];
		} finally {
			lease.release();
		}
	}
}
