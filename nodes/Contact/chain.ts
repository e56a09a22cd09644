import type { IExecuteFunctions } from 'n8n-workflow';
import type { ChainLink } from '../../lib';

/** Longest chain carried on; anything longer is a loop Loop Guard stops long before. */
const MAX_CHAIN = 50;

/**
 * The workflows an item has passed through (Contact Trigger items carry `json.$chain`), with the
 * current workflow appended, so events recorded here let Loop Guard see cycles across workflows.
 */
export function chainOf(ctx: IExecuteFunctions, itemIndex: number): ChainLink[] {
	const raw = ctx.getInputData()[itemIndex]?.json?.$chain;
	const chain: ChainLink[] = [];
	if (Array.isArray(raw)) {
		for (const link of raw) {
			const workflowId = (link as { workflowId?: unknown })?.workflowId;
			const executionId = (link as { executionId?: unknown })?.executionId;
			if (typeof workflowId !== 'string' && typeof workflowId !== 'number') continue;
			chain.push({
				workflowId: String(workflowId),
				...(executionId === undefined || executionId === null ? {} : { executionId: String(executionId) }),
			});
		}
	}
	const workflowId = ctx.getWorkflow().id;
	if (workflowId !== undefined) {
		const executionId = ctx.getExecutionId();
		chain.push({ workflowId: String(workflowId), ...(executionId ? { executionId: String(executionId) } : {}) });
	}
	return chain.slice(-MAX_CHAIN);
}
