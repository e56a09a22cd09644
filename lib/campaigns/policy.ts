/**
 * The workspace send policy: one record in the contact store that every Send Campaign in "Workspace
 * Policy" mode reads at send time. It is the send window, frequency cap and consent check Send
 * Campaign already has, set once for the workspace instead of per node.
 */
import { ValidationError } from '../errors';
import { checkWindow, type LocalWindow } from '../dates';
import { checkTimeZone } from '../values';
import type { ContactStore } from '../store';

const MINUTE = 60_000;
/** How long a process reuses a policy it read: a change reaches every send within this time. */
export const POLICY_CACHE_MS = 5_000;

export type ConsentRule = 'doubleOptIn' | 'singleOptIn';

export interface SendPolicy {
	/**
	 * No marketing mail from `startHour` to `endHour` (exclusive) in the contact's time zone, or
	 * `fallbackZone` for contacts without one; 21 -> 8 wraps midnight. null: no quiet hours.
	 */
	quietHours: { startHour: number; endHour: number; fallbackZone: string } | null;
	/** At most `max` marketing mails per contact within `windowMs`, all campaigns together. null: none. */
	frequencyCap: { max: number; windowMs: number } | null;
	/**
	 * doubleOptIn: marketing mail only to "subscribed" contacts ("pending" and contacts without a
	 * status never get any). singleOptIn: to every contact that is not suppressed. Transactional mail
	 * is exempt from both.
	 */
	consent: ConsentRule;
	/** When it was last set (ISO), absent for the default. */
	updatedAt?: string;
}

/** In force until someone sets a policy: double opt-in, no quiet hours, no cap. */
export const DEFAULT_POLICY: SendPolicy = { quietHours: null, frequencyCap: null, consent: 'doubleOptIn' };

/** Checks a policy; a ValidationError names the offending field (quietHours.startHour ...). */
export function checkPolicy(input: unknown): SendPolicy {
	if (!input || typeof input !== 'object' || Array.isArray(input))
		throw new ValidationError('policy', 'The send policy must be an object');
	const p = input as Partial<SendPolicy>;
	const consent = p.consent ?? DEFAULT_POLICY.consent;
	if (consent !== 'doubleOptIn' && consent !== 'singleOptIn')
		throw new ValidationError(
			'consent',
			`"${String(consent)}" is not a consent rule`,
			'Use doubleOptIn or singleOptIn.',
		);

	let quietHours: SendPolicy['quietHours'] = null;
	if (p.quietHours) {
		const { startHour, endHour, fallbackZone } = p.quietHours;
		for (const [field, value] of [
			['quietHours.startHour', startHour],
			['quietHours.endHour', endHour],
		] as const) {
			if (!Number.isInteger(value) || value < 0 || value > 23)
				throw new ValidationError(field, `${field} must be a whole hour 0-23, got ${String(value)}`);
		}
		if (startHour === endHour)
			throw new ValidationError('quietHours.endHour', 'Quiet hours are empty: start and end hours are equal');
		quietHours = { startHour, endHour, fallbackZone: checkTimeZone(fallbackZone, 'quietHours.fallbackZone') };
	}

	let frequencyCap: SendPolicy['frequencyCap'] = null;
	if (p.frequencyCap) {
		const { max, windowMs } = p.frequencyCap;
		if (!Number.isInteger(max) || max < 1)
			throw new ValidationError(
				'frequencyCap.max',
				`The frequency cap must be a whole number of at least 1, got ${String(max)}`,
			);
		if (!Number.isFinite(windowMs) || windowMs < MINUTE)
			throw new ValidationError('frequencyCap.window', 'The frequency cap window must be at least one minute');
		frequencyCap = { max, windowMs };
	}
	return { quietHours, frequencyCap, consent };
}

/** Quiet hours as the send window Send Campaign checks: sending is allowed from their end to their start. */
export function quietHoursWindow(quiet: NonNullable<SendPolicy['quietHours']>): LocalWindow & { fallbackZone: string } {
	return { ...checkWindow({ startHour: quiet.endHour, endHour: quiet.startHour }), fallbackZone: quiet.fallbackZone };
}

const cache = new WeakMap<ContactStore, { at: number; policy: SendPolicy }>();

export class SendPolicies {
	constructor(private readonly store: ContactStore) {}

	/** A store-level key: one policy per contact store (key prefix). */
	get key(): string {
		return this.store.keys.global('policy', 'workspace');
	}

	/** The policy in force: the stored one, else DEFAULT_POLICY. */
	async get(): Promise<SendPolicy> {
		const raw = await this.store.call((r) => r.get(this.key));
		return raw ? { ...DEFAULT_POLICY, ...(JSON.parse(raw) as SendPolicy) } : { ...DEFAULT_POLICY };
	}

	/** The policy for a send: read again when the copy this process holds is older than POLICY_CACHE_MS. */
	async current(): Promise<SendPolicy> {
		const now = this.store.now();
		const held = cache.get(this.store);
		if (held && Math.abs(now - held.at) < POLICY_CACHE_MS) return held.policy;
		const policy = await this.get();
		cache.set(this.store, { at: now, policy });
		return policy;
	}

	/** Checks and stores a policy whole (nothing is written when a field is wrong). */
	async set(input: unknown): Promise<SendPolicy> {
		const policy = { ...checkPolicy(input), updatedAt: new Date(this.store.now()).toISOString() };
		await this.store.call((r) => r.set(this.key, JSON.stringify(policy)));
		cache.delete(this.store);
		return policy;
	}
}
