import { randomUUID } from 'crypto';
import { ValidationError } from '../errors';
import { encodeKeyPart } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { settleAll, type ChainLink, type Result } from '../results';
import { checkContactId, checkName } from '../values';

export type LoopScope = { kind: 'workflow' } | { kind: 'all' } | { kind: 'group'; name: string };

export interface LoopRules {
	/** Entries allowed per key in the rolling window; 0 = no limit. */
	maxEntries: number;
	windowMs: number;
	/** Minimum time between two entries; 0 = none. */
	cooldownMs: number;
	/** Maximum number of workflows the event already passed through; 0 = no limit. */
	maxDepth: number;
	/** Block when the current workflow already appears in the chain. */
	detectCycles: boolean;
}

export const DEFAULT_LOOP_RULES: LoopRules = {
	maxEntries: 1,
	windowMs: 86_400_000,
	cooldownMs: 0,
	maxDepth: 5,
	detectCycles: true,
};

export interface LoopCheckInput {
	/** The contact id, or a custom key when `customKey` is true. */
	key: string;
	customKey?: boolean;
	scope: LoopScope;
	/** The workflow doing the check (scope "this workflow" and cycle detection). */
	workflowId: string;
	/** Workflows the event came through, oldest first (the item's `$chain`). */
	chain?: unknown;
	rules?: Partial<LoopRules>;
}

export type BlockReason = 'cycle' | 'maxDepth' | 'rateLimit' | 'cooldown';

export interface LoopDecision {
	allowed: boolean;
	reason?: BlockReason;
	/** Human-readable explanation of a block. */
	message?: string;
	/** When the rate limit or cool-down lets this key in again (ISO time). */
	retryAt?: string;
	/** Entries of this key in the current window, including this one when allowed. */
	entries?: number;
	depth: number;
}

export function checkChain(value: unknown, field = 'chain'): ChainLink[] {
	if (value === undefined || value === null || value === '') return [];
	let chain = value;
	if (typeof value === 'string') {
		try {
			chain = JSON.parse(value);
		} catch {
			throw new ValidationError(
				field,
				'The chain is not valid JSON',
				'Map the trigger item\'s "$chain" (a list of {workflowId, executionId}).',
			);
		}
	}
	if (
		!Array.isArray(chain) ||
		chain.some(
			(link) =>
				!link ||
				typeof link !== 'object' ||
				(typeof (link as ChainLink).workflowId !== 'string' && typeof (link as ChainLink).workflowId !== 'number'),
		)
	) {
		throw new ValidationError(
			field,
			'The chain must be a list of {workflowId, executionId}',
			'Map the trigger item\'s "$chain".',
		);
	}
	return (chain as ChainLink[]).map((link) => ({
		workflowId: String(link.workflowId),
		...(link.executionId !== undefined ? { executionId: String(link.executionId) } : {}),
	}));
}

function checkRules(rules: Partial<LoopRules> | undefined): LoopRules {
	const r = { ...DEFAULT_LOOP_RULES, ...rules };
	for (const field of ['maxEntries', 'windowMs', 'cooldownMs', 'maxDepth'] as const) {
		if (!Number.isFinite(r[field]) || r[field] < 0)
			throw new ValidationError(field, `${field} must be a number of at least 0, got ${r[field]}`);
	}
	if (r.maxEntries > 0 && r.windowMs <= 0)
		throw new ValidationError('windowMs', 'A limit on entries needs a window longer than 0');
	return r;
}

function scopeName(scope: LoopScope, workflowId: string): string {
	if (scope?.kind === 'workflow') return `wf:${workflowId}`;
	if (scope?.kind === 'all') return 'all';
	if (scope?.kind === 'group') return `group:${checkName('scope.name', scope.name, 200, 'Group name')}`;
	throw new ValidationError('scope', 'Scope must be this workflow, all workflows or a named group');
}

/** Stops contacts from looping between workflows and from re-entering a workflow too often. */
export class LoopGuard {
	constructor(private readonly store: ContactStore) {}

	/** One atomic check per item; a batch costs one round trip. Blocked checks record nothing. */
	async check(inputs: LoopCheckInput[]): Promise<Array<Result<LoopDecision>>> {
		const { store } = this;
		const now = store.now();
		return settleAll(inputs, async (input) => {
			const rules = checkRules(input.rules);
			const workflowId = checkName('workflowId', String(input.workflowId ?? ''), 200, 'Workflow ID');
			const chain = checkChain(input.chain);
			const scope = encodeKeyPart(scopeName(input.scope, workflowId));
			const depth = chain.length;
			if (rules.detectCycles && chain.some((link) => link.workflowId === workflowId)) {
				const path = [...chain.map((l) => l.workflowId), workflowId].join(' -> ');
				return {
					allowed: false,
					reason: 'cycle',
					message: `Cycle: this workflow already handled this event's chain (${path})`,
					depth,
				};
			}
			if (rules.maxDepth > 0 && depth >= rules.maxDepth) {
				return {
					allowed: false,
					reason: 'maxDepth',
					message: `The event came through ${depth} workflows; the limit is ${rules.maxDepth}`,
					depth,
				};
			}
			if (rules.maxEntries === 0 && rules.cooldownMs === 0) return { allowed: true, depth };
			let keys: string[];
			if (input.customKey) {
				const key = checkName(
					'key',
					input.key === undefined || input.key === null ? input.key : String(input.key),
					1000,
					'Key',
				);
				const record = store.keys.global('lg', `${scope}|${key}`);
				keys = [record, record];
			} else {
				const id = checkContactId(input.key, 'key');
				keys = store.keys.contactScriptKeys(id);
			}
			const raw = await store.run<string>(scripts.checkLoopGuard, keys, [
				scope,
				now,
				rules.windowMs,
				rules.maxEntries,
				rules.cooldownMs,
				`${now}:${randomUUID()}`,
				input.customKey ? '0' : '1',
			]);
			const out = JSON.parse(raw) as { allowed: boolean; reason?: BlockReason; count: number; retryAt?: number };
			const retryAt = out.retryAt === undefined ? undefined : new Date(out.retryAt).toISOString();
			if (out.allowed) return { allowed: true, entries: out.count, depth };
			const message =
				out.reason === 'cooldown'
					? `Cool-down: the last entry was less than ${rules.cooldownMs / 1000} s ago; next allowed at ${retryAt}`
					: `Limit reached: ${out.count} of ${rules.maxEntries} entries in the last ${rules.windowMs / 1000} s; next allowed at ${retryAt}`;
			return { allowed: false, reason: out.reason, message, retryAt, entries: out.count, depth };
		});
	}
}

/** Longest chain carried on; anything longer is a loop Loop Guard stops long before. */
const MAX_CHAIN = 50;

/**
 * The chain an event recorded now carries: the workflows the item has passed through (its
 * `$chain`; malformed links are dropped, not fatal) with the current workflow appended, so Loop
 * Guard sees cycles across workflows.
 */
export function extendChain(raw: unknown, current?: ChainLink): ChainLink[] {
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
	if (current) chain.push(current);
	return chain.slice(-MAX_CHAIN);
}
