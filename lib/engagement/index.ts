import { createHash } from 'crypto';
import { ValidationError } from '../errors';
import { SHARD_COUNT } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { chainJson, type ChangeContext, type Result } from '../results';
import { checkContactId, checkName, LIMITS } from '../values';

const DAY = 86_400_000;

export interface TierConfig {
	/** Tier names, most engaged first; each is also the contact's tag while it is in that tier. */
	names: string[];
	/** Ascending ages of the last interaction (days) where the next tier starts; one fewer than names. */
	boundaryDays: number[];
	/**
	 * Events that count as an interaction; empty: the store's own activity (every user event, e-mail
	 * opens, clicks and replies; events recorded with `activity: false` do not count).
	 */
	interactionEvents?: string[];
}

export const DEFAULT_TIERS: TierConfig = { names: ['Engaged', 'Disengaged', 'Inactive'], boundaryDays: [30, 60] };

export interface TierResult {
	contactId: string;
	tier: string;
	/** The tier before (null when it had none). */
	previous: string | null;
	changed: boolean;
	lastInteractionAt: string | null;
}

export interface WholeBaseRun {
	/** Contacts whose tier changed, in the order they were handled. */
	changed: TierResult[];
	/** Contacts looked at (those whose last interaction crossed a boundary since the previous run). */
	examined: number;
	firstRun: boolean;
	previousRunAt: string | null;
	ranAt: string;
}

export function checkTierConfig(config: TierConfig): Required<TierConfig> {
	if (!config || !Array.isArray(config.names)) throw new ValidationError('tierNames', 'Give the tier names as a list');
	const names = config.names.map((n) => checkName('tierNames', n, LIMITS.tagLength, 'Tier name').trim());
	if (names.length < 2) throw new ValidationError('tierNames', 'Give at least two tier names');
	if (new Set(names).size !== names.length) throw new ValidationError('tierNames', 'Tier names must be different');
	const days = config.boundaryDays;
	if (!Array.isArray(days) || days.length !== names.length - 1) {
		throw new ValidationError('boundaryDays', `${names.length} tiers need ${names.length - 1} boundaries (days), got ${Array.isArray(days) ? days.length : 'none'}`);
	}
	days.forEach((d, i) => {
		if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) throw new ValidationError('boundaryDays', `Boundary ${i + 1} must be a positive number of days, got ${String(d)}`);
		if (i > 0 && d <= days[i - 1]) throw new ValidationError('boundaryDays', 'Boundaries must increase (e.g. 30, 60)');
	});
	const events = (config.interactionEvents ?? []).map((e) => checkName('interactionEvents', e, LIMITS.eventNameLength, 'Event name'));
	return { names, boundaryDays: [...days], interactionEvents: events };
}

/**
 * Engagement tiers from the last interaction. Each contact carries exactly one tier tag (switched
 * atomically with its `tier` field) and a `$tier_changed` event is logged on every change.
 */
export class EngagementTagger {
	constructor(private readonly store: ContactStore) {}

	/** Re-tiers the given contacts now; one round trip per batch. */
	async tag(contactIds: string[], config: TierConfig = DEFAULT_TIERS, context: ChangeContext = {}): Promise<Array<Result<TierResult>>> {
		return this.apply(contactIds, checkTierConfig(config), this.store.now(), context);
	}

	private async apply(contactIds: string[], config: Required<TierConfig>, now: number, context: ChangeContext): Promise<Array<Result<TierResult>>> {
		const { store } = this;
		const shared = JSON.stringify({
			now,
			names: config.names,
			bounds: config.boundaryDays.map((d) => Math.round(d * DAY)),
			events: config.interactionEvents,
			source: context.source ?? 'engagement-tagger',
			chain: chainJson(context.chain),
			limits: store.limits,
		});
		// Per contact: [tier, previous tier or null, 1 when changed, last interaction (ms) or null].
		return store.runBatch<string, TierResult>({
			script: scripts.setTier,
			items: contactIds,
			shared,
			contactOf: (id) => checkContactId(id),
			argsOf: (_id, _index, contactId) => [contactId],
			answer: (answer, _index, contactId) => {
				const [tier, previous, changed, lastInteraction] = answer as [string, string | null, number, number | null];
				return { contactId, tier, previous, changed: changed === 1, lastInteractionAt: lastInteraction === null ? null : new Date(lastInteraction).toISOString() };
			},
		});
	}

	private stateKey(runName: string, config: Required<TierConfig>): string {
		const signature = createHash('sha1').update(JSON.stringify([config.names, config.boundaryDays])).digest('hex').slice(0, 10);
		return this.store.keys.global('eng', `${runName}:${signature}`);
	}

	/** Sets when the previous whole-base run of `runName` happened (recovery, migrations, benchmarks). */
	async setPreviousRun(runName: string, config: TierConfig, atMs: number): Promise<void> {
		const key = this.stateKey(checkName('runName', runName, 200, 'Run name'), checkTierConfig(config));
		await this.store.call((r) => r.hset(key, 'lastRunAt', String(atMs)));
	}

	/**
	 * Whole-base run (for a daily schedule): touches only contacts whose last interaction crossed a
	 * boundary since the previous run of `runName` (activity-index ranges (previous - B, now - B] per
	 * boundary B, plus new interactions since then), page by page. The first run tiers every contact
	 * that has interacted. `onPage` receives changes as they happen, so memory stays flat when the
	 * caller does not keep them (`keepChanges: false`).
	 */
	async runWholeBase(
		runName: string,
		config: TierConfig = DEFAULT_TIERS,
		options: { pageSize?: number; context?: ChangeContext; keepChanges?: boolean; onPage?: (changed: TierResult[]) => void | Promise<void> } = {},
	): Promise<WholeBaseRun> {
		const { store } = this;
		const checked = checkTierConfig(config);
		if (checked.interactionEvents.length > 0) {
			throw new ValidationError('interactionEvents', 'A whole-base run uses the store\'s activity index; choose interaction events only when tagging per contact', 'Record events that must not count with activity: false instead.');
		}
		const name = checkName('runName', runName, 200, 'Run name');
		const pageSize = options.pageSize ?? 500;
		const key = this.stateKey(name, checked);
		const now = store.now();
		const previous = await store.call((r) => r.hget(key, 'lastRunAt'));
		const prev = previous === null ? null : Number(previous);
		// Score ranges of the activity index to visit: [min, max] with an exclusive min.
		const ranges: Array<[string, number]> =
			prev === null
				? [['-inf', now]]
				: [[`(${prev}`, now], ...checked.boundaryDays.map((d): [string, number] => [`(${prev - d * DAY}`, now - d * DAY])];
		const changed: TierResult[] = [];
		let examined = 0;
		for (const [min, max] of ranges) {
			if (min !== '-inf' && Number(min.slice(1)) >= max) continue;
			await Promise.all(
				Array.from({ length: SHARD_COUNT }, async (_, shard) => {
					for (let offset = 0; ; offset += pageSize) {
						const ids = await store.call((r) => r.zrangebyscore(store.keys.index(shard, 'act'), min, max, 'LIMIT', offset, pageSize));
						if (ids.length === 0) break;
						examined += ids.length;
						const results = await this.apply(ids, checked, now, options.context ?? {});
						const page = results.flatMap((r) => (r.ok && r.value.changed ? [r.value] : []));
						if (options.keepChanges !== false) changed.push(...page);
						if (page.length > 0) await options.onPage?.(page);
						if (ids.length < pageSize) break;
					}
				}),
			);
		}
		await store.call((r) => r.hset(key, 'lastRunAt', String(now)));
		return { changed, examined, firstRun: prev === null, previousRunAt: prev === null ? null : new Date(prev).toISOString(), ranAt: new Date(now).toISOString() };
	}
}
