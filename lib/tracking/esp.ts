/**
 * Event webhooks of e-mail service providers: signature checks and normalisation to the pack's
 * outcomes (delivered, bounced hard/soft, complained, opened, clicked, unsubscribed).
 * Pure functions; the handler resolves contacts and records.
 */
import { createHmac, createVerify, timingSafeEqual, verify as verifySignature } from 'crypto';
import { get as httpsGet } from 'https';
import type { OutcomeKind } from '../campaigns';

export const PROVIDERS = ['sendgrid', 'mailgun', 'postmark', 'ses', 'brevo'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface NormalisedOutcome {
	kind: OutcomeKind;
	email?: string;
	messageId?: string;
	contactId?: string;
	campaignId?: string;
	bounceType?: 'hard' | 'soft';
	status?: string;
	diagnostic?: string;
	url?: string;
	machine?: boolean;
	userAgent?: string;
	/** Epoch ms. */
	time?: number;
}

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
	typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const seconds = (v: unknown): number | undefined =>
	typeof v === 'number' && Number.isFinite(v)
		? Math.round(v * 1000)
		: typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)
			? Math.round(Number(v) * 1000)
			: undefined;
const isoTime = (v: unknown): number | undefined => {
	const ms = typeof v === 'string' ? Date.parse(v) : NaN;
	return Number.isNaN(ms) ? undefined : ms;
};

/** Equal-length constant-time string comparison (length itself is not secret). */
export function safeEqual(a: string, b: string): boolean {
	const x = Buffer.from(a, 'utf8');
	const y = Buffer.from(b, 'utf8');
	return x.length === y.length && timingSafeEqual(x, y);
}

/** Our own identifiers when a sender passed them as custom arguments / metadata / variables. */
function ours(vars: Json): Pick<NormalisedOutcome, 'contactId' | 'campaignId'> {
	return { contactId: str(vars.ma_contact), campaignId: str(vars.ma_campaign) };
}

// ---------- SendGrid (Event Webhook, ECDSA P-256 signed) ----------

/** SendGrid shows its verification key as bare base64 DER; PEM is accepted as pasted. */
export function sendGridKeyPem(publicKey: string): string {
	return publicKey.includes('BEGIN PUBLIC KEY')
		? publicKey
		: `-----BEGIN PUBLIC KEY-----\n${publicKey.replace(/\s+/g, '')}\n-----END PUBLIC KEY-----`;
}

/** Verifies `X-Twilio-Email-Event-Webhook-Signature` over timestamp + raw body with the account's public key. */
export function verifySendGrid(
	publicKey: string,
	rawBody: Buffer,
	signature: string | undefined,
	timestamp: string | undefined,
): boolean {
	if (!signature || !timestamp) return false;
	try {
		return verifySignature(
			'sha256',
			Buffer.concat([Buffer.from(timestamp, 'utf8'), rawBody]),
			{ key: sendGridKeyPem(publicKey), dsaEncoding: 'der' },
			Buffer.from(signature, 'base64'),
		);
	} catch {
		return false;
	}
}

export function parseSendGrid(body: unknown, isBot: (ua?: string) => boolean): NormalisedOutcome[] {
	const out: NormalisedOutcome[] = [];
	for (const raw of Array.isArray(body) ? body : [body]) {
		const e = obj(raw);
		const base = { email: str(e.email), messageId: str(e['smtp-id']), time: seconds(e.timestamp), ...ours(e) };
		const ua = str(e.useragent);
		switch (e.event) {
			case 'delivered':
				out.push({ ...base, kind: 'delivered' });
				break;
			case 'bounce':
				// SendGrid's "blocked" bounce is a temporary refusal; "bounce" is permanent.
				out.push({
					...base,
					kind: 'bounced',
					bounceType: e.type === 'blocked' ? 'soft' : 'hard',
					status: str(e.status),
					diagnostic: str(e.reason),
				});
				break;
			case 'spamreport':
				out.push({ ...base, kind: 'complained' });
				break;
			case 'unsubscribe':
			case 'group_unsubscribe':
				out.push({ ...base, kind: 'unsubscribed' });
				break;
			case 'open':
				out.push({ ...base, kind: 'opened', userAgent: ua, machine: e.sg_machine_open === true || isBot(ua) });
				break;
			case 'click':
				out.push({ ...base, kind: 'clicked', url: str(e.url), userAgent: ua, machine: isBot(ua) });
				break;
			// processed, deferred, dropped: nothing happened at the recipient yet.
		}
	}
	return out;
}

// ---------- Mailgun (webhooks with HMAC-SHA256 signature in the body) ----------

export function verifyMailgun(signingKey: string, body: unknown): { ok: boolean; timestamp?: number } {
	const s = obj(obj(body).signature);
	const timestamp = str(s.timestamp);
	const token = str(s.token);
	const signature = str(s.signature);
	if (!timestamp || !token || !signature) return { ok: false };
	const expected = createHmac('sha256', signingKey)
		.update(timestamp + token)
		.digest('hex');
	return { ok: safeEqual(expected, signature.toLowerCase()), timestamp: Number(timestamp) * 1000 };
}

export function parseMailgun(body: unknown, isBot: (ua?: string) => boolean): NormalisedOutcome[] {
	const e = obj(obj(body)['event-data']);
	const headers = obj(obj(e.message).headers);
	const rawId = str(headers['message-id']);
	const delivery = obj(e['delivery-status']);
	const ua = str(obj(e['client-info'])['user-agent']);
	const base = {
		email: str(e.recipient),
		messageId: rawId ? (rawId.startsWith('<') ? rawId : `<${rawId}>`) : undefined,
		time: seconds(e.timestamp),
		...ours(obj(e['user-variables'])),
	};
	switch (e.event) {
		case 'delivered':
			return [{ ...base, kind: 'delivered' }];
		case 'failed':
			return [
				{
					...base,
					kind: 'bounced',
					bounceType: e.severity === 'permanent' ? 'hard' : 'soft',
					status: str(delivery.code),
					diagnostic: str(delivery.description) ?? str(delivery.message) ?? str(e.reason),
				},
			];
		case 'complained':
			return [{ ...base, kind: 'complained' }];
		case 'unsubscribed':
			return [{ ...base, kind: 'unsubscribed' }];
		case 'opened':
			return [{ ...base, kind: 'opened', userAgent: ua, machine: isBot(ua) }];
		case 'clicked':
			return [{ ...base, kind: 'clicked', url: str(e.url), userAgent: ua, machine: isBot(ua) }];
		default:
			return [];
	}
}

// ---------- Postmark (basic auth on the webhook URL) ----------

const POSTMARK_HARD = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated']);
const POSTMARK_IGNORED = new Set([
	'AutoResponder',
	'Subscribe',
	'Unsubscribe',
	'OpenRelayTest',
	'VirusNotification',
	'ChallengeVerification',
	'InboundError',
	'SMTPApiError',
]);

export function parsePostmark(body: unknown, isBot: (ua?: string) => boolean): NormalisedOutcome[] {
	const out: NormalisedOutcome[] = [];
	for (const raw of Array.isArray(body) ? body : [body]) {
		const e = obj(raw);
		const base = { messageId: undefined, ...ours(obj(e.Metadata)) };
		const ua = str(e.UserAgent);
		switch (e.RecordType) {
			case 'Delivery':
				out.push({ ...base, kind: 'delivered', email: str(e.Recipient), time: isoTime(e.DeliveredAt) });
				break;
			case 'Bounce': {
				const type = str(e.Type) ?? '';
				if (POSTMARK_IGNORED.has(type)) break;
				if (type === 'SpamComplaint') {
					out.push({ ...base, kind: 'complained', email: str(e.Email), time: isoTime(e.BouncedAt) });
					break;
				}
				out.push({
					...base,
					kind: 'bounced',
					email: str(e.Email),
					bounceType: POSTMARK_HARD.has(type) ? 'hard' : 'soft',
					status: str(e.TypeCode),
					diagnostic: str(e.Details) ?? str(e.Description),
					time: isoTime(e.BouncedAt),
				});
				break;
			}
			case 'SpamComplaint':
				out.push({ ...base, kind: 'complained', email: str(e.Email), time: isoTime(e.BouncedAt) });
				break;
			case 'Open':
				out.push({
					...base,
					kind: 'opened',
					email: str(e.Recipient),
					userAgent: ua,
					machine: isBot(ua),
					time: isoTime(e.ReceivedAt),
				});
				break;
			case 'Click':
				out.push({
					...base,
					kind: 'clicked',
					email: str(e.Recipient),
					url: str(e.OriginalLink),
					userAgent: ua,
					machine: isBot(ua),
					time: isoTime(e.ReceivedAt),
				});
				break;
			case 'SubscriptionChange':
				// Bounces and complaints also suppress at Postmark; they arrive as their own records.
				if (e.SuppressSending === true && e.SuppressionReason === 'ManualSuppression') {
					out.push({ ...base, kind: 'unsubscribed', email: str(e.Recipient), time: isoTime(e.ChangedAt) });
				}
				break;
		}
	}
	return out;
}

// ---------- Brevo (token or basic auth) ----------

export function parseBrevo(body: unknown, isBot: (ua?: string) => boolean): NormalisedOutcome[] {
	const out: NormalisedOutcome[] = [];
	for (const raw of Array.isArray(body) ? body : [body]) {
		const e = obj(raw);
		const time = typeof e.ts_epoch === 'number' ? e.ts_epoch : seconds(e.ts_event ?? e.ts);
		const ua = str(e.user_agent);
		const base = { email: str(e.email), messageId: str(e['message-id']), time, ...ours(obj(e.params ?? e.tags)) };
		switch (e.event) {
			case 'delivered':
				out.push({ ...base, kind: 'delivered' });
				break;
			case 'hard_bounce':
			case 'invalid_email':
				out.push({ ...base, kind: 'bounced', bounceType: 'hard', diagnostic: str(e.reason) });
				break;
			case 'soft_bounce':
				out.push({ ...base, kind: 'bounced', bounceType: 'soft', diagnostic: str(e.reason) });
				break;
			case 'spam':
			case 'complaint':
				out.push({ ...base, kind: 'complained' });
				break;
			case 'unsubscribed':
				out.push({ ...base, kind: 'unsubscribed' });
				break;
			case 'opened':
			case 'unique_opened':
				out.push({ ...base, kind: 'opened', userAgent: ua, machine: isBot(ua) });
				break;
			// Apple Mail Privacy Protection and similar proxies fetch every image.
			case 'proxy_open':
			case 'unique_proxy_open':
				out.push({ ...base, kind: 'opened', machine: true });
				break;
			case 'click':
				out.push({ ...base, kind: 'clicked', url: str(e.link), userAgent: ua, machine: isBot(ua) });
				break;
		}
	}
	return out;
}

// ---------- Amazon SES through SNS (RSA signature with the certificate at SigningCertURL) ----------

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** Only certificates and subscription URLs served by SNS itself are trusted. */
export function isSnsUrl(url: unknown, pem: boolean): boolean {
	try {
		const u = new URL(String(url));
		return (
			u.protocol === 'https:' &&
			SNS_HOST.test(u.hostname) &&
			!u.username &&
			!u.password &&
			(!pem || u.pathname.endsWith('.pem'))
		);
	} catch {
		return false;
	}
}

export function snsStringToSign(m: Json): string | null {
	const fields =
		m.Type === 'Notification'
			? ['Message', 'MessageId', ...(m.Subject !== undefined ? ['Subject'] : []), 'Timestamp', 'TopicArn', 'Type']
			: m.Type === 'SubscriptionConfirmation' || m.Type === 'UnsubscribeConfirmation'
				? ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type']
				: null;
	if (!fields) return null;
	let text = '';
	for (const f of fields) {
		if (typeof m[f] !== 'string') return null;
		text += `${f}\n${m[f] as string}\n`;
	}
	return text;
}

export type CertificateFetcher = (url: string) => Promise<string>;

const certificates = new Map<string, Promise<string>>();

/** Downloads (and caches per process) an SNS signing certificate. */
export const fetchSnsCertificate: CertificateFetcher = (url) => {
	let pending = certificates.get(url);
	if (!pending) {
		pending = httpsText(url, 64 * 1024);
		certificates.set(url, pending);
		pending.catch(() => certificates.delete(url));
	}
	return pending;
};

export function httpsText(url: string, maxBytes: number): Promise<string> {
	return new Promise((resolve, reject) => {
		const req = httpsGet(url, { timeout: 5000 }, (res) => {
			if (res.statusCode !== 200) {
				res.resume();
				return reject(new Error(`GET ${url} answered ${res.statusCode}`));
			}
			let size = 0;
			const chunks: Buffer[] = [];
			res.on('data', (c: Buffer) => {
				size += c.length;
				if (size > maxBytes) req.destroy(new Error('response too large'));
				else chunks.push(c);
			});
			res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
			res.on('error', reject);
		});
		req.on('timeout', () => req.destroy(new Error('timed out')));
		req.on('error', reject);
	});
}

export async function verifySns(message: Json, fetchCertificate: CertificateFetcher): Promise<boolean> {
	const text = snsStringToSign(message);
	const signature = str(message.Signature);
	if (!text || !signature || !isSnsUrl(message.SigningCertURL, true)) return false;
	const algorithm =
		message.SignatureVersion === '2' ? 'RSA-SHA256' : message.SignatureVersion === '1' ? 'RSA-SHA1' : null;
	if (!algorithm) return false;
	let certificate: string;
	try {
		certificate = await fetchCertificate(message.SigningCertURL as string);
	} catch {
		return false;
	}
	try {
		return createVerify(algorithm).update(text, 'utf8').verify(certificate, signature, 'base64');
	} catch {
		return false;
	}
}

function sesHeader(mail: Json, name: string): string | undefined {
	const headers = Array.isArray(mail.headers) ? (mail.headers as Json[]) : [];
	const found = headers.find((h) => typeof h.name === 'string' && h.name.toLowerCase() === name.toLowerCase());
	return found ? str(found.value) : undefined;
}

export function parseSes(notification: unknown, isBot: (ua?: string) => boolean): NormalisedOutcome[] {
	const n = obj(notification);
	const mail = obj(n.mail);
	const campaignHeader = sesHeader(mail, 'X-MA-Campaign');
	const tags = obj(mail.tags);
	const tagCampaign = Array.isArray(tags.ma_campaign) ? str(tags.ma_campaign[0]) : undefined;
	const base = {
		messageId: sesHeader(mail, 'Message-ID') ?? str(obj(mail.commonHeaders).messageId),
		campaignId: campaignHeader ? decodeURIComponent(campaignHeader) : tagCampaign,
	};
	const type = n.notificationType ?? n.eventType;
	const recipients = (list: unknown) => (Array.isArray(list) ? list : []);
	switch (type) {
		case 'Bounce': {
			const b = obj(n.bounce);
			const hard = b.bounceType === 'Permanent';
			return recipients(b.bouncedRecipients).map((r) => ({
				...base,
				kind: 'bounced' as const,
				email: str(obj(r).emailAddress),
				bounceType: hard ? ('hard' as const) : ('soft' as const),
				status: str(obj(r).status),
				diagnostic: str(obj(r).diagnosticCode) ?? str(b.bounceSubType),
				time: isoTime(b.timestamp),
			}));
		}
		case 'Complaint': {
			const c = obj(n.complaint);
			return recipients(c.complainedRecipients).map((r) => ({
				...base,
				kind: 'complained' as const,
				email: str(obj(r).emailAddress),
				time: isoTime(c.timestamp),
			}));
		}
		case 'Delivery': {
			const d = obj(n.delivery);
			return recipients(d.recipients).map((email) => ({
				...base,
				kind: 'delivered' as const,
				email: str(email),
				time: isoTime(d.timestamp),
			}));
		}
		case 'Open': {
			const o = obj(n.open);
			const ua = str(o.userAgent);
			return recipients(mail.destination).map((email) => ({
				...base,
				kind: 'opened' as const,
				email: str(email),
				userAgent: ua,
				machine: isBot(ua),
				time: isoTime(o.timestamp),
			}));
		}
		case 'Click': {
			const c = obj(n.click);
			const ua = str(c.userAgent);
			return recipients(mail.destination).map((email) => ({
				...base,
				kind: 'clicked' as const,
				email: str(email),
				url: str(c.link),
				userAgent: ua,
				machine: isBot(ua),
				time: isoTime(c.timestamp),
			}));
		}
		default:
			return [];
	}
}
