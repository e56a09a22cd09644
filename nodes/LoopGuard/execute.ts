import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { LoopGuard, type LoopCheckInput, type LoopScope } from '../../lib';
import { perItem, routeResults, runBatch } from '../shared/items';
import { leaseStore } from '../shared/store';
import { BLOCKED, CONTINUE } from './description';

const UNIT_MS: Record<string, number> = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const workflowId = String(this.getWorkflow().id ?? 'manual');
	const inputs = perItem(this, (i): LoopCheckInput => {
		const keyType = this.getNodeParameter('keyType', i) as string;
		const scopeKind = this.getNodeParameter('scope', i) as string;
		const scope: LoopScope =
			scopeKind === 'group'
				? { kind: 'group', name: this.getNodeParameter('groupName', i) as string }
				: ({ kind: scopeKind } as LoopScope);
		const maxEntries = this.getNodeParameter('maxEntries', i) as number;
		const options = this.getNodeParameter('options', i, {}) as IDataObject;
		const windowMs =
			maxEntries > 0
				? (this.getNodeParameter('window', i) as number) *
					(UNIT_MS[this.getNodeParameter('windowUnit', i) as string] ?? NaN)
				: 0;
		return {
			key: (keyType === 'custom'
				? this.getNodeParameter('customKey', i)
				: this.getNodeParameter('contactId', i)) as string,
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
		const results = await runBatch(inputs, (valid) => new LoopGuard(lease.store).check(valid));
		return routeResults(this, results, 2, BLOCKED, (d, i) => {
			const loopGuard: IDataObject = d.allowed
				? { blocked: false, entries: d.entries ?? null, depth: d.depth }
				: {
						blocked: true,
						reason: d.reason,
						message: d.message,
						retryAt: d.retryAt ?? null,
						entries: d.entries ?? null,
						depth: d.depth,
					};
			return { output: d.allowed ? CONTINUE : BLOCKED, item: { json: { ...items[i].json, loopGuard } } };
		});
	} finally {
		lease.release();
	}
}
