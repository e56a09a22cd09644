import {
	NodeConnectionTypes,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { LoopGuard as Guard, type LoopCheckInput, type LoopScope } from '../../lib';
import { perItem, runBatch, toNodeError } from '../shared/items';
import { CREDENTIAL_NAME, leaseStore, testContactStoreCredential } from '../shared/store';

const UNIT_MS: Record<string, number> = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

export class LoopGuard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Loop Guard',
		name: 'loopGuard',
		icon: { light: 'file:loopGuard.svg', dark: 'file:loopGuard.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["scope"] === "group" ? "group " + $parameter["groupName"] : $parameter["scope"] }}',
		description: 'Stops contacts from looping between workflows or re-entering one too often',
		defaults: { name: 'Loop Guard' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Continue', 'Blocked'],
		credentials: [{ name: CREDENTIAL_NAME, required: true, testedBy: 'contactStoreConnectionTest' }],
		properties: [
			{
				displayName: 'Key',
				name: 'keyType',
				type: 'options',
				options: [
					{ name: 'Contact', value: 'contact', description: 'Count entries per contact' },
					{ name: 'Custom Expression', value: 'custom', description: 'Count entries per any value (order ID, e-mail + campaign...)' },
				],
				default: 'contact',
			},
			{
				displayName: 'Contact ID',
				name: 'contactId',
				type: 'string',
				default: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
				required: true,
				displayOptions: { show: { keyType: ['contact'] } },
				description: 'The contact this item is about (Contact Trigger items carry it in contact.ID)',
			},
			{
				displayName: 'Custom Key',
				name: 'customKey',
				type: 'string',
				default: '',
				required: true,
				displayOptions: { show: { keyType: ['custom'] } },
				placeholder: '={{ $json.orderId }}',
				description: 'Any value; entries are counted per distinct value',
			},
			{
				displayName: 'Scope',
				name: 'scope',
				type: 'options',
				options: [
					{ name: 'This Workflow', value: 'workflow', description: 'Entries into this workflow only' },
					{ name: 'All Workflows', value: 'all', description: 'Entries into any workflow guarded with this scope' },
					{ name: 'Named Group', value: 'group', description: 'Entries into the workflows sharing a group name' },
				],
				default: 'workflow',
			},
			{
				displayName: 'Group Name',
				name: 'groupName',
				type: 'string',
				default: '',
				required: true,
				displayOptions: { show: { scope: ['group'] } },
				placeholder: 'e.g. promotions',
			},
			{
				displayName: 'Max Entries',
				name: 'maxEntries',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 1,
				description: 'Entries allowed per key in the rolling window; 0 for no limit',
			},
			{
				displayName: 'Window',
				name: 'window',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 24,
				displayOptions: { hide: { maxEntries: [0] } },
			},
			{
				displayName: 'Window Unit',
				name: 'windowUnit',
				type: 'options',
				options: [
					{ name: 'Minutes', value: 'minutes' },
					{ name: 'Hours', value: 'hours' },
					{ name: 'Days', value: 'days' },
				],
				default: 'hours',
				displayOptions: { hide: { maxEntries: [0] } },
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Chain Field',
						name: 'chainField',
						type: 'string',
						default: '$chain',
						description: 'Item field holding the workflows the event came through (Contact Trigger sets $chain)',
					},
					{
						displayName: 'Cool-Down (Minutes)',
						name: 'cooldownMinutes',
						type: 'number',
						typeOptions: { minValue: 0 },
						default: 0,
						description: 'Minimum time between two entries of the same key; 0 for none',
					},
					{
						displayName: 'Detect Cycles',
						name: 'detectCycles',
						type: 'boolean',
						default: true,
						description: 'Whether to block items whose event already passed through this workflow',
					},
					{
						displayName: 'Max Chain Depth',
						name: 'maxDepth',
						type: 'number',
						typeOptions: { minValue: 0 },
						default: 5,
						description: 'Block events that already came through this many workflows; 0 for no limit',
					},
				],
			},
		],
	};

	methods = { credentialTest: { contactStoreConnectionTest: testContactStoreCredential } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const workflowId = String(this.getWorkflow().id ?? 'manual');
		const inputs = perItem(this, (i): LoopCheckInput => {
			const keyType = this.getNodeParameter('keyType', i) as string;
			const scopeKind = this.getNodeParameter('scope', i) as string;
			const scope: LoopScope =
				scopeKind === 'group' ? { kind: 'group', name: this.getNodeParameter('groupName', i) as string } : ({ kind: scopeKind } as LoopScope);
			const maxEntries = this.getNodeParameter('maxEntries', i) as number;
			const options = this.getNodeParameter('options', i, {}) as IDataObject;
			const windowMs = maxEntries > 0 ? (this.getNodeParameter('window', i) as number) * (UNIT_MS[this.getNodeParameter('windowUnit', i) as string] ?? NaN) : 0;
			return {
				key: (keyType === 'custom' ? this.getNodeParameter('customKey', i) : this.getNodeParameter('contactId', i)) as string,
				customKey: keyType === 'custom',
				scope,
				workflowId,
				chain: items[i].json[(options.chainField as string) || '$chain'],
				rules: {
					maxEntries,
					windowMs,
					cooldownMs: ((options.cooldownMinutes as number) ?? 0) * 60_000,
					maxDepth: (options.maxDepth as number) ?? 5,
					detectCycles: (options.detectCycles as boolean) ?? true,
				},
			};
		});
		const lease = await leaseStore(this);
		try {
			const results = await runBatch(inputs, (valid) => new Guard(lease.store).check(valid));
			const pass: INodeExecutionData[] = [];
			const blocked: INodeExecutionData[] = [];
			results.forEach((result, i) => {
				if (!result.ok) {
					const error = toNodeError(this, result.error, i);
					if (!this.continueOnFail()) throw error;
					// Failing open would defeat the guard: an item whose check failed goes to "Blocked".
					blocked.push({ json: { ...items[i].json, loopGuard: { blocked: true, reason: 'error', message: error.message } }, pairedItem: { item: i } });
					return;
				}
				const d = result.value;
				const loopGuard: IDataObject = d.allowed
					? { blocked: false, entries: d.entries ?? null, depth: d.depth }
					: { blocked: true, reason: d.reason, message: d.message, retryAt: d.retryAt ?? null, entries: d.entries ?? null, depth: d.depth };
				(d.allowed ? pass : blocked).push({ json: { ...items[i].json, loopGuard }, pairedItem: { item: i } });
			});
			return [pass, blocked];
		} finally {
			lease.release();
		}
	}
}
