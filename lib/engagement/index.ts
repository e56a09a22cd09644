import { createHash } from 'crypto';
import { ValidationError } from '../errors';
import { SHARD_COUNT, SHARD_INDEXES } from '../keys';
import { scripts } from '../redis/scripts';
import type { ContactStore } from '../store';
import { chainJson, type ChainLink, type ChangeContext, type Result } from '../results';
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

/** One contact to re-tier (EngagementTagger.tagEach). */
export interface TagRequest {
	contactId: string;
	/** Default DEFAULT_TIERS. */
	config?: TierConfig;
	/** The workflows the change came through (recorded on `$tier_changed`). */
	chain?: ChainLink[];
}

/** A checked tier configuration as set_tier reads it. */
function tierSettings(config: Required<TierConfig>): string {
	return JSON.stringify({
		names: config.names,
		bounds: config.boundaryDays.map((d) => Math.round(d * DAY)),
		events: config.interactionEvents,
	});
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
		throw new ValidationError(
			'boundaryDays',
			`${names.length} tiers need ${names.length - 1} boundaries (days), got ${Array.isArray(days) ? days.length : 'none'}`,
		);
	}
	days.forEach((d, i) => {
		if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0)
			throw new ValidationError(
				'boundaryDays',
				`Boundary ${i + 1} must be a positive number of days, got ${String(d)}`,
			);
		if (i > 0 && d <= days[i - 1]) throw new ValidationError('boundaryDays', 'Boundaries must increase (e.g. 30, 60)');
	});
	const events = (config.interactionEvents ?? []).map((e) =>
		checkName('interactionEvents', e, LIMITS.eventNameLength, 'Event name'),
	);
	return { names, boundaryDays: [...days], interactionEvents: events };
}

/**
 * Engagement tiers from the last interaction. Each contact carries exactly one tier tag (switched
 * atomically with its `tier` field) and a `$tier_changed` event is logged on every change.
 */
export class EngagementTagger {
	constructor(private readonly store: ContactStore) {}

	/** Re-tiers the given contacts now; one round trip per batch. Bad settings throw (they concern every contact). */
	async tag(
		contactIds: string[],
		config: TierConfig = DEFAULT_TIERS,
		context: ChangeContext = {},
	): Promise<Array<Result<TierResult>>> {
		checkTierConfig(config);
		return this.tagEach(
			contactIds.map((contactId) => ({ contactId, config, chain: context.chain })),
			context.source,
		);
	}

	/**
	 * Re-tiers contacts now, each with its own tier settings and chain (a node's items may differ in
	 * both): one script call per shard (and chunk) for the whole batch. An item with bad settings
	 * fails alone.
	 */
	async tagEach(requests: TagRequest[], source?: string): Promise<Array<Result<TierResult>>> {
		const settings: string[] = [];
		const indexOf = new Map<string, number>();
		const prepared = requests.map((request): { contactId: string; tiers: number; chain: string } | Error => {
			try {
				const config = checkTierConfig(request.config ?? DEFAULT_TIERS);
				const json = tierSettings(config);
				let index = indexOf.get(json);
				if (index === undefined) indexOf.set(json, (index = settings.push(json)));
				return { contactId: request.contactId, tiers: index, chain: chainJson(request.chain) };
			} catch (error) {
				return error as Error;
			}
		});
		return this.apply(prepared, settings, this.store.now(), source);
	}

	/** Runs set_tier over prepared items: `tiers` is the 1-based index of the item's entry in `settings` (JSON). */
	private async apply(
		items: Array<{ contactId: string; tiers: number; chain: string } | Error>,
		settings: string[],
		now: number,
		source = 'engagement-tagger',
	): Promise<Array<Result<TierResult>>> {
		const { store } = this;
		const shared = `{"now":${now},"tiers":[${settings.join(',')}],"source":${JSON.stringify(source)},"limits":${JSON.stringify(store.limits)}}`;
		// Per contact: [tier, previous tier or null, 1 when changed, last interaction (ms) or null].
		return store.runBatch({
			script: scripts.setTier,
			items,
			shared,
			contactOf: (item) => {
				if (item instanceof Error) throw item;
				return checkContactId(item.contactId);
			},
			argsOf: (item, _index, contactId) => {
				const { tiers, chain } = item as { tiers: number; chain: string };
				return [contactId, tiers, chain];
			},
			answer: (answer, _index, contactId) => {
				const [tier, previous, changed, lastInteraction] = answer as [string, string | null, number, number | null];
				return {
					contactId,
					tier,
					previous,
					changed: changed === 1,
					lastInteractionAt: lastInteraction === null ? null : new Date(lastInteraction).toISOString(),
				};
			},
		});
	}

	private stateKey(runName: string, config: Required<TierConfig>): string {
		const signature = createHash('sha1')
			.update(JSON.stringify([config.names, config.boundaryDays]))
			.digest('hex')
			.slice(0, 10);
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
		options: {
			pageSize?: number;
			context?: ChangeContext;
			keepChanges?: boolean;
			onPage?: (changed: TierResult[]) => void | Promise<void>;
		} = {},
	): Promise<WholeBaseRun> {
		const { store } = this;
		const checked = checkTierConfig(config);
		if (checked.interactionEvents.length > 0) {
			throw new ValidationError(
				'interactionEvents',
				"A whole-base run uses the store's activity index; choose interaction events only when tagging per contact",
				'Record events that must not count with activity: false instead.',
			);
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
				: [
						[`(${prev}`, now],
						...checked.boundaryDays.map((d): [string, number] => [`(${prev - d * DAY}`, now - d * DAY]),
					];
		const settings = [tierSettings(checked)];
		const chain = chainJson(options.context?.chain);
		const changed: TierResult[] = [];
		let examined = 0;
		for (const [min, max] of ranges) {
			if (min !== '-inf' && Number(min.slice(1)) >= max) continue;
			await Promise.all(
				Array.from({ length: SHARD_COUNT }, async (_, shard) => {
					for (let offset = 0; ; offset += pageSize) {
						const ids = await store.call((r) =>
							r.zrangebyscore(store.keys.index(shard, SHARD_INDEXES.active), min, max, 'LIMIT', offset, pageSize),
						);
						if (ids.length === 0) break;
						examined += ids.length;
						const results = await this.apply(
							ids.map((contactId) => ({ contactId, tiers: 1, chain })),
							settings,
							now,
							options.context?.source,
						);
						const page = results.flatMap((r) => (r.ok && r.value.changed ? [r.value] : []));
						if (options.keepChanges !== false) changed.push(...page);
						if (page.length > 0) await options.onPage?.(page);
						if (ids.length < pageSize) break;
					}
				}),
			);
		}
		await store.call((r) => r.hset(key, 'lastRunAt', String(now)));
		return {
			changed,
			examined,
			firstRun: prev === null,
			previousRunAt: prev === null ? null : new Date(prev).toISOString(),
			ranAt: new Date(now).toISOString(),
		};
	}
}
