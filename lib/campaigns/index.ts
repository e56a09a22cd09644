import { randomUUID } from 'crypto';
import { ValidationError } from '../errors';
import { scripts } from '../redis/scripts';
import { SHARD_COUNT } from '../keys';
import type { ContactStore } from '../store';
import { chainJson, settleAll, type ChangeContext, type Result } from '../results';
import { checkName, checkProperties, normalizeEmail } from '../values';
import { SYSTEM_EVENTS } from '../events';
import type { Contact, SubscriptionStatus } from '../contacts';
import { checkWindow, isWithinWindow, nextWindowStart, resolveZone, type LocalWindow } from '../dates';
import { neutraliseHeader, renderMessage } from '../render';
import { checkSigningSecret, signToken, trackingUrls } from '../tracking/tokens';
import { checkTopicName, Topics } from '../topics';
import { counterField, counting, checkJourneyId } from '../analytics';
import { SmtpError, type Mailer, type OutgoingMail } from './smtp';
import { quietHoursWindow, SendPolicies } from './policy';

export * from './smtp';
export * from './policy';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How long the Message-ID of a sent mail finds its contact (bounces and ESP events come later). */
const MESSAGE_LOOKUP_MS = 90 * DAY;

export interface CampaignSpec {
	id: string;
	name?: string;
	fromEmail: string;
	fromName?: string;
	replyTo?: string;
	subject: string;
	preheader?: string;
	html: string;
	text?: string;
	/** Receipts, password resets: sent whatever the subscription status, not capped, not counted by caps. */
	transactional?: boolean;
	/** Allow the same campaign to reach a contact again. */
	allowResend?: boolean;
	/**
	 * Which rules decide consent, frequency cap and quiet hours: 'workspace', the workspace send
	 * policy read at send time (requireConsent, frequencyCap and sendWindow here are then ignored),
	 * or 'campaign' (the default), the fields below.
	 */
	policy?: 'workspace' | 'campaign';
	/** Send only to contacts whose status is "subscribed" (double opt-in confirmed). */
	requireConsent?: boolean;
	/**
	 * A declared topic (lib/topics): contacts unsubscribed from it are skipped, and the mail's
	 * one-click unsubscribe leaves this topic only. Marketing mails only.
	 */
	topic?: string;
	/** At most `max` marketing mails per contact within `windowMs` (rolling). */
	frequencyCap?: { max: number; windowMs: number };
	/** Local send window in the contact's time zone (fallback zone when the contact has none). */
	sendWindow?: LocalWindow & { fallbackZone?: string };
	/** Public base URL of the Marketing Webhook Trigger (tracking and unsubscribe links). */
	trackingBaseUrl?: string;
	trackOpens?: boolean;
	trackClicks?: boolean;
	unsubscribeMailto?: string;
	/** Secret signing tracking and unsubscribe tokens (the Contact Store credential's). */
	signingSecret?: string;
	/** When a 4xx reply defers a mail, try again after this long (default 15 minutes). */
	retryDelayMs?: number;
	/** The journey (workflow id) sending it: its sends and their outcomes are counted for it too (lib/analytics). */
	journeyId?: string;
}

export interface SendRequest {
	contactId?: string;
	email?: string;
	/** Extra merge data, read as {{ data.x }}. */
	data?: Record<string, unknown>;
	/**
	 * What asked for this send, the same on every attempt (the Contact Trigger's event id). An attempt
	 * with the key of a reservation still held takes it over: the earlier attempt died (a queue-mode
	 * worker killed) before confirming, and its event was delivered again. Without it such a send is
	 * skipped as in progress until the reservation is stale (10 minutes), and the mail is lost.
	 */
	attemptKey?: string;
}

export type Delivery = { mode: 'smtp'; mailer: Mailer } | { mode: 'render' };

export interface RenderedEmail {
	from: string;
	to: string;
	replyTo?: string;
	subject: string;
	html: string;
	text: string;
	headers: Record<string, string>;
}

export type SkipReason =
	| 'no_contact'
	| 'invalid_email'
	| SubscriptionStatus
	| 'no_consent'
	| 'topic_unsubscribed'
	| 'send_in_progress'
	| 'already_sent'
	| 'recipient_rejected';
export type DeferReason = 'frequency_cap' | 'outside_send_window' | 'smtp_temporary_failure' | 'send_in_progress';

/**
 * With Allow Resend, a send for one event while the same campaign's send for another event of the
 * contact is under way is deferred this long (Deferred output), not skipped: it is a mail of its own.
 */
export const SEND_IN_PROGRESS_RETRY_MS = 15_000;
type Deferred = Extract<SendOutcome, { status: 'deferred' }>;

export type SendOutcome =
	| {
			status: 'sent';
			contactId: string;
			campaignId: string;
			email: string;
			messageId: string;
			sentAt: string;
			smtpResponse?: string;
			trackedLinks: number;
			message?: RenderedEmail;
	  }
	| {
			status: 'deferred';
			contactId: string;
			campaignId: string;
			reason: DeferReason;
			until: string;
			/** The same instant as `until`: when to send again (a Wait node's "until" time). */
			sendAt: string;
			detail?: string;
	  }
	| { status: 'skipped'; contactId?: string; campaignId: string; reason: SkipReason; detail?: string };

export type OutcomeKind = 'delivered' | 'opened' | 'clicked' | 'bounced' | 'complained' | 'unsubscribed';

export interface OutcomeInput {
	contactId: string;
	campaignId?: string;
	kind: OutcomeKind;
	/** When it happened, epoch ms (default now). */
	time?: number;
	/** A scanner or proxy, not the person: logged, not counted as engagement. */
	machine?: boolean;
	/** Opens and clicks this soon after the send count as machine hits too (0: off). */
	machineWindowMs?: number;
	url?: string;
	bounceType?: 'hard' | 'soft';
	status?: string;
	diagnostic?: string;
	messageId?: string;
	provider?: string;
	source?: string;
	/** The SMTP server refused the recipient of this send: the bounce counts for the campaign, with no send record to mark. */
	rejected?: boolean;
}

export interface OutcomeResult {
	contactId: string;
	kind: OutcomeKind;
	/** False when the contact does not exist or a provider retry repeated a known outcome. */
	recorded: boolean;
	/** The first such outcome of this contact for this campaign (counted in the report). */
	first: boolean;
	/** Flagged as a machine hit (by the caller, or for coming within the machine window of the send). */
	machine: boolean;
	eventId?: string;
	suppressed?: SubscriptionStatus;
}

export interface CampaignReport {
	campaignId: string;
	sent: number;
	delivered: number;
	opened: number;
	clicked: number;
	bounced: number;
	softBounced: number;
	complained: number;
	unsubscribed: number;
	machineOpens: number;
	machineClicks: number;
	firstSentAt?: string;
	lastSentAt?: string;
	/** Unique opens / clicks / ... per mail sent (0-1). */
	rates: { open: number; click: number; bounce: number; complaint: number; unsubscribe: number };
}

interface CheckedCampaign extends CampaignSpec {
	fromName: string;
	domain: string;
	urls?: ReturnType<typeof trackingUrls>;
	window?: LocalWindow & { fallbackZone?: string };
}

const COUNTERS = [
	'sent',
	'delivered',
	'opened',
	'clicked',
	'bounced',
	'softBounced',
	'complained',
	'unsubscribed',
	'machineOpens',
	'machineClicks',
] as const;

/** The campaign totals that count machine hits (an open or click within the machine window, or flagged). */
const MACHINE_TOTALS: Partial<Record<OutcomeKind, (typeof COUNTERS)[number]>> = {
	opened: 'machineOpens',
	clicked: 'machineClicks',
};

const OUTCOME_EVENTS: Record<OutcomeKind, string> = {
	delivered: SYSTEM_EVENTS.emailDelivered,
	opened: SYSTEM_EVENTS.emailOpened,
	clicked: SYSTEM_EVENTS.emailClicked,
	bounced: SYSTEM_EVENTS.emailBounced,
	complained: SYSTEM_EVENTS.emailComplained,
	unsubscribed: SYSTEM_EVENTS.emailUnsubscribed,
};

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function checkCampaign(spec: CampaignSpec): CheckedCampaign {
	const id = checkName('campaignId', spec.id, 200, 'Campaign ID');
	const fromEmail = normalizeEmail(spec.fromEmail, 'fromEmail');
	const fromName = neutraliseHeader(spec.fromName ?? '');
	const replyTo = spec.replyTo ? normalizeEmail(spec.replyTo, 'replyTo') : undefined;
	if (typeof spec.subject !== 'string' || spec.subject.trim() === '')
		throw new ValidationError('subject', 'The subject is empty');
	if (typeof spec.html !== 'string' || spec.html.trim() === '')
		throw new ValidationError('html', 'The HTML body is empty');
	let frequencyCap = spec.frequencyCap;
	if (frequencyCap) {
		if (!Number.isInteger(frequencyCap.max) || frequencyCap.max < 1)
			throw new ValidationError(
				'frequencyCap.max',
				`The frequency cap must be a whole number of at least 1, got ${frequencyCap.max}`,
			);
		if (!Number.isFinite(frequencyCap.windowMs) || frequencyCap.windowMs < MINUTE)
			throw new ValidationError('frequencyCap.window', 'The frequency cap window must be at least one minute');
		frequencyCap = { max: frequencyCap.max, windowMs: frequencyCap.windowMs };
	}
	const window = spec.sendWindow
		? { ...checkWindow(spec.sendWindow), fallbackZone: spec.sendWindow.fallbackZone }
		: undefined;
	let urls: CheckedCampaign['urls'];
	if (spec.trackingBaseUrl) {
		urls = trackingUrls(spec.trackingBaseUrl);
		const url = new URL(spec.trackingBaseUrl);
		// RFC 8058 one-click needs HTTPS; plain HTTP only for a local test instance.
		if (url.protocol !== 'https:' && !LOCAL_HOSTS.has(url.hostname)) {
			throw new ValidationError(
				'trackingBaseUrl',
				'The tracking base URL must use https (List-Unsubscribe one-click requires it)',
			);
		}
		checkSigningSecret(spec.signingSecret);
	} else if (!spec.transactional) {
		throw new ValidationError(
			'trackingBaseUrl',
			'Marketing mails need the tracking base URL for their List-Unsubscribe link',
			'Paste the production URL of a Marketing Webhook Trigger, or mark the campaign as transactional.',
		);
	}
	if ((spec.trackOpens || spec.trackClicks) && !urls)
		throw new ValidationError('trackingBaseUrl', 'Open and click tracking need the tracking base URL');
	const unsubscribeMailto = spec.unsubscribeMailto
		? normalizeEmail(spec.unsubscribeMailto, 'unsubscribeMailto')
		: undefined;
	const topic = spec.topic ? checkTopicName(spec.topic) : undefined;
	if (topic && spec.transactional)
		throw new ValidationError('topic', 'A transactional mail has no topic', 'Clear the topic, or send as marketing.');
	const journeyId = spec.journeyId ? checkJourneyId(spec.journeyId) : undefined;
	return {
		...spec,
		id,
		journeyId,
		fromEmail,
		fromName,
		replyTo,
		frequencyCap,
		window,
		urls,
		unsubscribeMailto,
		topic,
		domain: fromEmail.split('@')[1],
	};
}

function deferred(contactId: string, campaignId: string, reason: DeferReason, until: number): Deferred {
	const at = new Date(until).toISOString();
	return { status: 'deferred', contactId, campaignId, reason, until: at, sendAt: at };
}

function formatAddress(name: string, address: string): string {
	return name ? `"${name.replace(/["\\]/g, '\\$&')}" <${address}>` : address;
}

interface Prepared {
	contact: Contact;
	email: string;
	token: string;
	messageId: string;
	window?: { inWindow: boolean; nextAt: number };
}

type Step = SendOutcome | Prepared;

export class Campaigns {
	constructor(private readonly store: ContactStore) {}

	private base(contactId: string): [string, string] {
		return this.store.keys.contactScriptKeys(contactId);
	}

	campaignKey(campaignId: string): string {
		return this.store.keys.global('campaign', campaignId);
	}

	/** The campaign's totals in the contact's shard: written by the scripts that record its sends and outcomes. */
	private totalsKey(contactId: string, campaignId: string): string {
		const { keys } = this.store;
		return keys.campaignTotals(keys.shardOfContact(contactId), campaignId);
	}

	/** A new replay guard of a guarded script call for the contact (store.replayGuard), in its shard. */
	private replayGuard(contactId: string): string {
		return this.store.replayGuard(this.store.keys.shardOfContact(contactId));
	}

	messageKey(messageId: string): string {
		return this.store.keys.global('msgid', messageId);
	}

	/**
	 * A new Message-ID whose lookup key (messageKey) falls in the contact's shard: the send's script
	 * then writes it and registers it with the contact, so erase deletes it (the key names the
	 * contact). One in SHARD_COUNT random ids fits; the bound is never reached in practice.
	 */
	private newMessageId(domain: string, contactId: string): string {
		const { keys } = this.store;
		const shard = keys.shardOfContact(contactId);
		for (let attempt = 0; attempt < 10_000; attempt++) {
			const messageId = `<${randomUUID()}@${domain}>`;
			if (keys.shardOfGlobal('msgid', messageId) === shard) return messageId;
		}
		throw new Error(`No Message-ID found in shard ${shard}`);
	}

	/**
	 * Checks, renders, sends and records one campaign for a batch of contacts. Each step of the
	 * batch is one round trip (auto-pipelined); the reservation makes concurrent runs send once.
	 */
	async send(
		spec: CampaignSpec,
		requests: SendRequest[],
		delivery: Delivery,
		context: ChangeContext = {},
	): Promise<Array<Result<SendOutcome>>> {
		const campaign = await this.applyPolicy(checkCampaign(spec));
		const { store } = this;
		if (campaign.topic) await new Topics(store).requireDeclared([campaign.topic], 'topic');
		const now = store.now();
		const skip = (reason: SkipReason, contactId?: string, detail?: string): SendOutcome => ({
			status: 'skipped',
			contactId,
			campaignId: campaign.id,
			reason,
			...(detail ? { detail } : {}),
		});

		const ids = await store.contacts.resolve(requests.map((r) => ({ id: r?.contactId, email: r?.email })));
		const found = await settleAll(ids, async (id) => {
			if (!id.ok) {
				if ((id.error as { name?: string }).name === 'NotFoundError') return null;
				throw id.error;
			}
			return store.contacts.getOne(id.value);
		});

		// Only the first request of a contact with an attempt key may take over that attempt's
		// reservation of the contact; a repeat for the same contact in the same call is a distinct
		// attempt (or two of them would send). Other contacts may share the key (one event sent to a
		// segment): each has its own reservation.
		const seenAttempts = new Set<string>();
		const attemptKeys = requests.map((request, i) => {
			const key = request?.attemptKey;
			const seen = `${key}\0${ids[i].ok ? (ids[i] as { value: string }).value : i}`;
			if (!key || seenAttempts.has(seen)) return false;
			seenAttempts.add(seen);
			return key;
		});

		// 1. Reserve, in the order of checks (one script per contact).
		const steps = await settleAll(found, async (result, i): Promise<Step> => {
			if (!result.ok) throw result.error;
			const contact = result.value;
			if (!contact) return skip('no_contact', ids[i].ok ? (ids[i] as { value: string }).value : undefined);
			let email: string;
			try {
				email = normalizeEmail(contact.email);
			} catch {
				return skip('invalid_email', contact.id);
			}
			const messageId = this.newMessageId(campaign.domain, contact.id);
			const token = `${campaign.id}|${messageId}`;
			let window: Prepared['window'];
			if (campaign.window) {
				const zone = resolveZone(contact.timezone, campaign.window.fallbackZone);
				window = {
					inWindow: isWithinWindow(now, zone, campaign.window),
					nextAt: nextWindowStart(now, zone, campaign.window),
				};
			}
			const raw = await store.run<string>(scripts.reserveSend, this.base(contact.id), [
				JSON.stringify({
					now,
					campaignId: campaign.id,
					token,
					attemptKey: attemptKeys[i],
					transactional: Boolean(campaign.transactional),
					allowResend: Boolean(campaign.allowResend),
					requireConsent: Boolean(campaign.requireConsent),
					topic: campaign.topic ?? false,
					cap: campaign.frequencyCap ?? false,
					window: window ?? false,
					staleMs: 10 * MINUTE,
					busyRetryMs: SEND_IN_PROGRESS_RETRY_MS,
					retentionMs: Math.max(store.limits.retentionMs, campaign.frequencyCap?.windowMs ?? 0),
				}),
			]);
			const out = JSON.parse(raw) as { result: 'reserved' | 'skip' | 'defer'; reason?: string; until?: number };
			if (out.result === 'skip')
				return skip(
					out.reason as SkipReason,
					contact.id,
					out.reason === 'topic_unsubscribed' ? `Unsubscribed from topic "${campaign.topic}"` : undefined,
				);
			if (out.result === 'defer') {
				let until = out.until as number;
				// A capped mail must also wait for the window to open.
				if (campaign.window)
					until = nextWindowStart(until, resolveZone(contact.timezone, campaign.window.fallbackZone), campaign.window);
				return deferred(contact.id, campaign.id, out.reason as DeferReason, until);
			}
			return { contact, email, token, messageId, window };
		});

		// 2. Render and send the reserved ones.
		const send = async (step: Step, index: number) => {
			if ('status' in step) return { outcome: step };
			try {
				const message = this.build(campaign, step, requests[index]?.data, now);
				if (delivery.mode === 'render') return { prepared: step, message };
				const { response } = await delivery.mailer.send(message.mail);
				return { prepared: step, message, response };
			} catch (error) {
				return { prepared: step, error: error as Error };
			}
		};

		// 3. Confirm each as soon as it left (a crash before its confirmation sends it again: the
		// window is its own, not the batch's), give back what did not.
		return settleAll(steps, async (step, index): Promise<SendOutcome> => {
			if (!step.ok) throw step.error;
			const v = (await send(step.value, index)) as {
				outcome?: SendOutcome;
				prepared?: Prepared;
				message?: ReturnType<Campaigns['build']>;
				response?: string;
				error?: Error;
			};
			if (v.outcome) return v.outcome;
			const prepared = v.prepared as Prepared;
			const contactId = prepared.contact.id;
			if (v.error) {
				await store.run(scripts.releaseSend, this.base(contactId), [campaign.id, prepared.token]);
				const error = v.error;
				if (error instanceof SmtpError && error.kind === 'temporary') {
					return {
						...deferred(contactId, campaign.id, 'smtp_temporary_failure', now + (campaign.retryDelayMs ?? 15 * MINUTE)),
						detail: error.message,
					};
				}
				if (error instanceof SmtpError && error.kind === 'recipient_rejected') {
					await this.recordOutcomes([
						{
							contactId,
							campaignId: campaign.id,
							kind: 'bounced',
							bounceType: 'hard',
							status: String(error.responseCode ?? 550),
							diagnostic: error.response ?? error.message,
							source: 'smtp',
							rejected: true,
						},
					]);
					return skip('recipient_rejected', contactId, error.message);
				}
				throw error;
			}
			const message = v.message as ReturnType<Campaigns['build']>;
			await store.run(
				scripts.confirmSend,
				[
					...this.base(contactId),
					this.messageKey(prepared.messageId),
					this.totalsKey(contactId, campaign.id),
					this.replayGuard(contactId),
				],
				[
					JSON.stringify({
						id: contactId,
						now,
						campaignId: campaign.id,
						token: prepared.token,
						messageId: prepared.messageId,
						transactional: Boolean(campaign.transactional),
						source: context.source ?? 'campaign',
						chain: chainJson(context.chain),
						limits: store.limits,
						messageTtlMs: MESSAGE_LOOKUP_MS,
						journey: campaign.journeyId ?? false,
						count: counting(now, now, [
							counterField('campaign', 'sent', campaign.id),
							...(campaign.journeyId ? [counterField('journey', 'sent', campaign.journeyId)] : []),
						]),
					}),
				],
			);
			if (campaign.name)
				await store.call((r) => r.hset(this.campaignKey(campaign.id), 'name', campaign.name as string));
			return {
				status: 'sent',
				contactId,
				campaignId: campaign.id,
				email: prepared.email,
				messageId: prepared.messageId,
				sentAt: new Date(now).toISOString(),
				...(v.response ? { smtpResponse: v.response } : {}),
				trackedLinks: message.trackedLinks,
				...(delivery.mode === 'render' ? { message: message.rendered } : {}),
			};
		});
	}

	/** In 'workspace' mode, the consent rule, cap and quiet hours of the workspace policy replace the spec's. */
	private async applyPolicy(campaign: CheckedCampaign): Promise<CheckedCampaign> {
		if (campaign.policy !== 'workspace') return campaign;
		const policy = await new SendPolicies(this.store).current();
		return {
			...campaign,
			requireConsent: policy.consent === 'doubleOptIn',
			frequencyCap: policy.frequencyCap ?? undefined,
			// Quiet hours hold marketing mail only: a receipt or password reset goes at night too.
			window: policy.quietHours && !campaign.transactional ? quietHoursWindow(policy.quietHours) : undefined,
		};
	}

	/** Renders the mail of one contact with its signed links and headers. */
	private build(campaign: CheckedCampaign, prepared: Prepared, data: Record<string, unknown> | undefined, now: number) {
		const { contact, messageId } = prepared;
		const secret = campaign.signingSecret as string;
		const claims = { contactId: contact.id, campaignId: campaign.id, messageId, issuedAt: now };
		const unsubscribeUrl = campaign.urls
			? campaign.urls.unsubscribe(signToken(secret, { ...claims, kind: 'u', topic: campaign.topic }))
			: undefined;
		const confirmUrl = campaign.urls ? campaign.urls.confirm(signToken(secret, { ...claims, kind: 'd' })) : undefined;
		const rendered = renderMessage(
			{ subject: campaign.subject, preheader: campaign.preheader, html: campaign.html, text: campaign.text },
			{ contact, campaign: { id: campaign.id, name: campaign.name }, data, unsubscribeUrl, confirmUrl },
			{
				click:
					campaign.trackClicks && campaign.urls
						? (url) =>
								url === unsubscribeUrl || url === confirmUrl
									? null
									: (campaign.urls as NonNullable<CheckedCampaign['urls']>).click(
											signToken(secret, { ...claims, kind: 'c', url }),
										)
						: undefined,
				openPixelUrl:
					campaign.trackOpens && campaign.urls
						? campaign.urls.open(signToken(secret, { ...claims, kind: 'o' }))
						: undefined,
			},
		);
		const headers: Record<string, string> = {};
		if (unsubscribeUrl) {
			const targets = [`<${unsubscribeUrl}>`];
			if (campaign.unsubscribeMailto) targets.push(`<mailto:${campaign.unsubscribeMailto}?subject=unsubscribe>`);
			headers['List-Unsubscribe'] = targets.join(', ');
			headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
		}
		headers['X-MA-Campaign'] = encodeURIComponent(campaign.id);
		const mail: OutgoingMail = {
			from: { name: campaign.fromName || undefined, address: campaign.fromEmail },
			to: prepared.email,
			replyTo: campaign.replyTo,
			subject: rendered.subject,
			html: rendered.html,
			text: rendered.text,
			messageId,
			headers,
		};
		return {
			mail,
			trackedLinks: rendered.trackedLinks.length,
			rendered: {
				from: formatAddress(campaign.fromName, campaign.fromEmail),
				to: prepared.email,
				...(campaign.replyTo ? { replyTo: campaign.replyTo } : {}),
				subject: rendered.subject,
				html: rendered.html,
				text: rendered.text,
				headers: { 'Message-ID': messageId, ...headers },
			} as RenderedEmail,
		};
	}

	/** Records delivered / opened / clicked / bounced / complained / unsubscribed, counts firsts, suppresses. */
	async recordOutcomes(inputs: OutcomeInput[], context: ChangeContext = {}): Promise<Array<Result<OutcomeResult>>> {
		const { store } = this;
		const now = store.now();
		const recorded = await settleAll(inputs, async (input) => {
			const contactId = checkName('contactId', input?.contactId, 256, 'Contact ID');
			if (!(input.kind in OUTCOME_EVENTS))
				throw new ValidationError('kind', `"${input.kind}" is not an e-mail outcome`);
			const campaignId = input.campaignId ?? '';
			const ts = input.time ?? now;
			const machine = Boolean(input.machine) && (input.kind === 'opened' || input.kind === 'clicked');
			const props: Record<string, unknown> = {};
			if (campaignId) props.campaignId = campaignId;
			if (input.messageId) props.messageId = input.messageId;
			if (input.provider) props.provider = input.provider;
			if (machine) props.machine = true;
			if (input.kind === 'clicked' && input.url) props.url = input.url;
			if (input.kind === 'bounced')
				Object.assign(props, {
					type: input.bounceType ?? 'hard',
					status: input.status ?? '',
					diagnostic: (input.diagnostic ?? '').slice(0, 1000),
				});
			const softBounce = input.kind === 'bounced' && input.bounceType === 'soft';
			const field = softBounce ? 'softBouncedAt' : `${input.kind}At`;
			const raw = await store.run<string>(
				scripts.recordOutcome,
				[...this.base(contactId), this.totalsKey(contactId, campaignId), this.replayGuard(contactId)],
				[
					JSON.stringify({
						id: contactId,
						now,
						ts,
						kind: input.kind,
						campaignId,
						field,
						machine,
						machineWindowMs: input.machineWindowMs ?? 0,
						onlyFirst: input.kind !== 'opened' && input.kind !== 'clicked',
						name: OUTCOME_EVENTS[input.kind],
						props: checkProperties(props),
						activity: input.kind === 'opened' || input.kind === 'clicked',
						source: input.source ?? context.source ?? input.provider ?? 'tracking',
						chain: chainJson(context.chain),
						limits: store.limits,
						// A first outcome of a known send counts for its campaign and the journey that sent it.
						count:
							campaignId && !softBounce
								? {
										...counting(now, ts, [counterField('campaign', input.kind, campaignId)]),
										journeyField: counterField('journey', input.kind, ''),
									}
								: false,
						totals: campaignId
							? {
									first: softBounce ? 'softBounced' : input.kind,
									machine: MACHINE_TOTALS[input.kind] ?? false,
									rejected: Boolean(input.rejected),
								}
							: false,
					}),
				],
			);
			const out = JSON.parse(raw) as { missing?: boolean; first?: boolean; eventId?: string; machine?: boolean };
			return { input, machine: Boolean(out.machine), out };
		});

		// Suppression: one more round trip for the batch.
		return settleAll(recorded, async (r): Promise<OutcomeResult> => {
			if (!r.ok) throw r.error;
			const { input, machine, out } = r.value;
			const result: OutcomeResult = {
				contactId: input.contactId,
				kind: input.kind,
				recorded: !out.missing && out.eventId !== undefined,
				first: Boolean(out.first),
				machine,
			};
			if (out.eventId) result.eventId = out.eventId;
			if (out.missing) return result;
			const suppress: SubscriptionStatus | undefined =
				input.kind === 'unsubscribed'
					? 'unsubscribed'
					: input.kind === 'complained'
						? 'complained'
						: input.kind === 'bounced' && input.bounceType !== 'soft'
							? 'bounced'
							: undefined;
			if (suppress && result.recorded) {
				const [change] = await store.contacts.change(
					[
						{
							id: input.contactId,
							subscription: {
								status: suppress,
								source:
									input.provider ?? input.source ?? (input.campaignId ? `campaign:${input.campaignId}` : 'tracking'),
							},
						},
					],
					'update',
					context,
				);
				if (!change.ok) throw change.error;
				result.suppressed = suppress;
			}
			return result;
		});
	}

	/** Which contact and campaign a Message-ID we sent belongs to (kept 90 days). */
	async lookupMessages(messageIds: string[]): Promise<Array<Result<{ contactId: string; campaignId: string } | null>>> {
		return settleAll(messageIds, async (raw) => {
			const id = String(raw ?? '').trim();
			if (!id) return null;
			const withBrackets = id.startsWith('<') ? id : `<${id}>`;
			const found = await this.store.call((r) => r.get(this.messageKey(withBrackets)));
			if (!found) return null;
			const v = JSON.parse(found) as { c: string; k: string };
			return { contactId: v.c, campaignId: v.k };
		});
	}

	/** The per-contact record of one campaign: {sentAt, messageId, openedAt?, clickedAt?, ...}. */
	async sendRecord(contactId: string, campaignId: string): Promise<Record<string, unknown> | null> {
		const raw = await this.store.call((r) => r.hget(this.store.keys.contactKey(contactId, 'campaigns'), campaignId));
		return raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
	}

	async report(campaignIds: string[]): Promise<Array<Result<CampaignReport>>> {
		return settleAll(campaignIds, async (raw) => {
			const campaignId = checkName('campaignId', raw, 200, 'Campaign ID');
			const { keys } = this.store;
			// Every shard's totals (in the campaign's own shard, what earlier releases counted too).
			const shards = await Promise.all(
				Array.from({ length: SHARD_COUNT }, (_, shard) =>
					this.store.call((r) => r.hgetall(keys.campaignTotals(shard, campaignId))),
				),
			);
			const counts = Object.fromEntries(
				COUNTERS.map((c) => [c, shards.reduce((sum, h) => sum + Number(h[c] ?? 0), 0)]),
			) as Record<(typeof COUNTERS)[number], number>;
			const times = (field: string) => shards.filter((h) => h[field]).map((h) => Number(h[field]));
			const firstSentAt = times('firstSentAt');
			const lastSentAt = times('lastSentAt');
			const rate = (n: number) => (counts.sent > 0 ? Math.round((n / counts.sent) * 10_000) / 10_000 : 0);
			return {
				campaignId,
				...counts,
				...(firstSentAt.length > 0 ? { firstSentAt: new Date(Math.min(...firstSentAt)).toISOString() } : {}),
				...(lastSentAt.length > 0 ? { lastSentAt: new Date(Math.max(...lastSentAt)).toISOString() } : {}),
				rates: {
					open: rate(counts.opened),
					click: rate(counts.clicked),
					bounce: rate(counts.bounced),
					complaint: rate(counts.complained),
					unsubscribe: rate(counts.unsubscribed),
				},
			};
		});
	}
}
