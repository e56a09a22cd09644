import { createHash } from 'crypto';
import { SUPPRESSED_STATUSES, type SubscriptionStatus } from '../contacts';
import { SYSTEM_EVENTS } from '../events';
import type { ContactStore } from '../store';
import { settleAll, type ChainLink, type Result } from '../results';
import { ValidationError } from '../errors';
import { normalizeEmail } from '../values';
import type { InboundKind, InboundMessage } from './classify';

export * from './classify';

/** A send of ours that an inbound message refers to (found by its Message-ID). */
export interface SendMatch {
	contactId: string;
	campaignId?: string;
	sendId?: string;
}

/**
 * Finds the send a message refers to from candidate Message-IDs (most specific first). Provided
 * by the campaign module; called concurrently for a batch, so it should issue its Redis commands
 * directly (auto-pipelined) rather than one after another across items.
 */
export type SendLookup = (messageIds: string[]) => Promise<SendMatch | null>;

export interface RecordInboundOptions {
	/** Record the matching $email_* event (default true). */
	record?: boolean;
	/** Set bounced / complained / unsubscribed (default true); a single soft bounce never suppresses (see softBounceLimit). */
	suppress?: boolean;
	/**
	 * A contact is marked bounced once it soft-bounced `count` times within `windowMs` (a mailbox
	 * that stays full for weeks is as dead as a missing one). Default: 3 within 30 days
	 * (DEFAULT_SOFT_BOUNCE_LIMIT); `false` turns it off.
	 */
	softBounceLimit?: { count: number; windowMs: number } | false;
	source?: string;
	chain?: ChainLink[];
}

export interface InboundOutcome {
	kind: InboundKind;
	contactId: string | null;
	matchedBy: 'send' | 'email' | null;
	campaignId: string | null;
	event: string | null;
	eventId: string | null;
	/** The same inbound message was recorded before (its Message-ID is the idempotency key). */
	duplicate: boolean;
	/** The subscription status set by this message, when it changed one. */
	suppressedAs: SubscriptionStatus | null;
}

const EVENT_OF: Partial<Record<InboundKind, string>> = {
	hard_bounce: SYSTEM_EVENTS.emailBounced,
	soft_bounce: SYSTEM_EVENTS.emailBounced,
	complaint: SYSTEM_EVENTS.emailComplained,
	reply: SYSTEM_EVENTS.emailReplied,
	unsubscribe: SYSTEM_EVENTS.emailUnsubscribed,
};

const SUPPRESSION_OF: Partial<Record<InboundKind, SubscriptionStatus>> = {
	hard_bounce: 'bounced',
	complaint: 'complained',
	unsubscribe: 'unsubscribed',
};

/** A stronger suppression is never replaced by a weaker one (a complaint stays a complaint). */
const STRENGTH: Partial<Record<SubscriptionStatus, number>> = { unsubscribed: 1, bounced: 2, complained: 3 };

/** Soft bounces that suppress when no limit is given: 3 within 30 days. */
export const DEFAULT_SOFT_BOUNCE_LIMIT = { count: 3, windowMs: 30 * 86_400_000 } as const;

/** How far the Date header may be trusted as the event time (older ones are retries or forgeries). */
const DATE_WINDOW_MS = 7 * 86_400_000;

export function inboundIdempotencyKey(message: InboundMessage): string {
	return 'inbound:' + createHash('sha256').update(message.messageId).digest('hex').slice(0, 40);
}

function eventProperties(message: InboundMessage, match: SendMatch | null): Record<string, unknown> {
	const props: Record<string, unknown> = {
		messageId: message.messageId,
		originalMessageId: message.originalMessageIds[0] ?? null,
		recipient: message.recipient,
		...(match?.campaignId ? { campaignId: match.campaignId } : {}),
		...(match?.sendId ? { sendId: match.sendId } : {}),
	};
	if (message.kind === 'hard_bounce' || message.kind === 'soft_bounce') {
		Object.assign(props, {
			type: message.kind === 'hard_bounce' ? 'hard' : 'soft',
			bounceReason: message.bounceReason,
			status: message.status,
			diagnostic: message.diagnostic?.slice(0, 1000) ?? null,
			reason: message.reason,
		});
	} else if (message.kind === 'complaint') {
		props.feedbackType = message.feedbackType;
	} else if (message.kind === 'reply') {
		Object.assign(props, { subject: message.subject.slice(0, 300), text: (message.replyText ?? '').slice(0, 2000) });
	} else if (message.kind === 'unsubscribe') {
		Object.assign(props, { method: 'email', subject: message.subject.slice(0, 300) });
	}
	return props;
}

/** The consent source a suppression leaves on the contact: what did it, and for a bounce why ("inbound-email:hard_bounce:user_unknown"). */
function suppressionSource(source: string, message: InboundMessage): string {
	const what = message.kind === 'soft_bounce' ? 'soft_bounce_limit' : message.kind;
	return message.bounceReason ? `${source}:${what}:${message.bounceReason}` : `${source}:${what}`;
}

/** Finds the contacts of classified inbound messages, records their events and applies suppression. */
export class Inbound {
	constructor(
		private readonly store: ContactStore,
		private readonly hooks: { lookupSend?: SendLookup } = {},
	) {}

	/** Constant round trips per batch: send lookup, e-mail lookup, record, soft-bounce count, status read, change. */
	async record(messages: InboundMessage[], options: RecordInboundOptions = {}): Promise<Array<Result<InboundOutcome>>> {
		const { store } = this;
		const source = options.source || 'inbound-email';
		const lookupSend = this.hooks.lookupSend;

		const matches = await settleAll(messages, async (message) => {
			if (message.kind === 'other' || !lookupSend || message.originalMessageIds.length === 0) return null;
			return lookupSend(message.originalMessageIds);
		});
		const contacts = await settleAll(
			messages,
			async (message, i): Promise<{ id: string | null; by: InboundOutcome['matchedBy']; match: SendMatch | null }> => {
				const matched = matches[i];
				if (!matched.ok) throw matched.error;
				if (matched.value) return { id: matched.value.contactId, by: 'send', match: matched.value };
				if (message.kind === 'other' || !message.recipient) return { id: null, by: null, match: null };
				let email: string;
				try {
					email = normalizeEmail(message.recipient, 'recipient');
				} catch {
					return { id: null, by: null, match: null };
				}
				const id = await store.contacts.idForEmail(email);
				return { id, by: id ? 'email' : null, match: null };
			},
		);

		const now = store.now();
		const recorded = await settleAll(messages, async (message, i) => {
			const found = contacts[i];
			if (!found.ok) throw found.error;
			const event = EVENT_OF[message.kind];
			if (!found.value.id || !event || options.record === false) return null;
			const dateMs = message.date ? Date.parse(message.date) : NaN;
			const time = Number.isFinite(dateMs) && dateMs <= now && dateMs >= now - DATE_WINDOW_MS ? dateMs : now;
			const [result] = await store.events.recordSystem([
				{
					contactId: found.value.id,
					name: event,
					properties: eventProperties(message, found.value.match),
					time,
					source,
					idempotencyKey: inboundIdempotencyKey(message),
					chain: options.chain,
					createContact: false,
				},
			]);
			if (!result.ok) throw result.error;
			return result.value;
		});

		// Soft bounces escalate to a suppression when the limit is reached (hard bounces suppress at
		// once, so the bounces of a contact that is not suppressed are soft ones).
		const limit = options.softBounceLimit === false ? null : (options.softBounceLimit ?? DEFAULT_SOFT_BOUNCE_LIMIT);
		if (limit && (!Number.isInteger(limit.count) || limit.count < 1 || !(limit.windowMs > 0))) {
			throw new ValidationError(
				'softBounceLimit',
				'The soft bounce limit needs a count of at least 1 and a positive window',
			);
		}
		const targets = await settleAll(messages, async (message, i): Promise<SubscriptionStatus | null> => {
			const found = contacts[i];
			if (!found.ok || !found.value.id || options.suppress === false) return null;
			if (SUPPRESSION_OF[message.kind]) return SUPPRESSION_OF[message.kind] as SubscriptionStatus;
			if (message.kind !== 'soft_bounce' || !limit || options.record === false) return null;
			const count = await store.events.countSince(found.value.id, SYSTEM_EVENTS.emailBounced, now - limit.windowMs);
			return count >= limit.count ? 'bounced' : null;
		});

		const statuses = await settleAll(messages, async (_message, i) => {
			const found = contacts[i];
			const target = targets[i];
			if (!found.ok || !found.value.id || !target.ok || !target.value) return null;
			return (await store.call((r) =>
				r.hget(store.keys.contact(found.value.id as string), 'status'),
			)) as SubscriptionStatus | null;
		});

		// Retried messages apply suppression again: it is idempotent, and the first try may have stopped before it.
		const suppress = messages.map((message, i) => {
			const found = contacts[i];
			const current = statuses[i];
			const target = targets[i].ok ? (targets[i] as { value: SubscriptionStatus | null }).value : null;
			if (!found.ok || !found.value.id || !target || !current.ok) return null;
			const currentStrength =
				current.value && SUPPRESSED_STATUSES.includes(current.value) ? (STRENGTH[current.value] ?? 0) : 0;
			return current.value === target || currentStrength >= (STRENGTH[target] ?? 0)
				? null
				: { id: found.value.id, status: target };
		});
		const changes = await settleAll(suppress, async (s, i) => {
			if (!s) return null;
			const [result] = await store.contacts.change(
				[
					{
						id: s.id,
						subscription: { status: s.status, source: suppressionSource(source, messages[i]) },
						context: { source, chain: options.chain },
					},
				],
				'update',
			);
			if (!result.ok) throw result.error;
			return s.status;
		});

		return messages.map((message, i): Result<InboundOutcome> => {
			for (const step of [contacts[i], recorded[i], targets[i], statuses[i], changes[i]]) if (!step.ok) return step;
			const found = (
				contacts[i] as { value: { id: string | null; by: InboundOutcome['matchedBy']; match: SendMatch | null } }
			).value;
			const rec = (recorded[i] as { value: { duplicate: boolean; eventId?: string } | null }).value;
			return {
				ok: true,
				value: {
					kind: message.kind,
					contactId: found.id,
					matchedBy: found.by,
					campaignId: found.match?.campaignId ?? null,
					event: rec ? (EVENT_OF[message.kind] ?? null) : null,
					eventId: rec?.eventId ?? null,
					duplicate: rec?.duplicate ?? false,
					suppressedAs: (changes[i] as { value: SubscriptionStatus | null }).value,
				},
			};
		});
	}
}
