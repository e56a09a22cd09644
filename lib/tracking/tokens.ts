import {
	createCipheriv,
	createDecipheriv,
	createHmac,
	createSecretKey,
	hkdfSync,
	randomBytes,
	timingSafeEqual,
	type KeyObject,
} from 'crypto';
import { ValidationError } from '../errors';
import { routeUrl } from './routes';

/**
 * What a tracking link does: open pixel, click redirect, unsubscribe, double opt-in confirmation,
 * or identify (added by a click to a page of the site, for the browser snippet: lib/tracking/browser).
 */
export type TokenKind = 'o' | 'c' | 'u' | 'd' | 'i';

export interface TrackingClaims {
	kind: TokenKind;
	contactId: string;
	campaignId: string;
	/** The only URL a click token may redirect to (http/https). */
	url?: string;
	/** Message-ID of the mail that carried the link. */
	messageId?: string;
	/** The mail's topic (lib/topics): its one-click unsubscribe leaves this topic only. */
	topic?: string;
	/** Issued at, epoch ms (machine-click detection compares it with the hit time). */
	issuedAt: number;
}

interface Payload {
	k: TokenKind;
	c: string;
	m: string;
	u?: string;
	i?: string;
	p?: string;
	t: number;
}

const MIN_SECRET = 16;

export function checkSigningSecret(secret: unknown): string {
	if (typeof secret !== 'string' || secret.length < MIN_SECRET) {
		throw new ValidationError(
			'signingSecret',
			`The Contact Store credential needs a Signing Secret of at least ${MIN_SECRET} characters to sign tracking and unsubscribe links`,
			'Set "Signing Secret" in the Contact Store credential to a long random value.',
		);
	}
	return secret;
}

/** Only absolute http(s) URLs may be click targets: never javascript:, data: or relative ones. */
export function checkRedirectUrl(url: unknown, field = 'url'): string {
	let parsed: URL;
	try {
		parsed = new URL(String(url));
	} catch {
		throw new ValidationError(field, `"${String(url).slice(0, 80)}" is not an absolute URL`);
	}
	if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
		throw new ValidationError(field, `Only http and https links can be tracked, got "${parsed.protocol}"`);
	}
	return parsed.toString();
}

/**
 * Tokens are AES-256-GCM ciphertexts, not signed JSON: a link in a mail, a proxy log or a scanner's
 * report shows nothing of the contact id (often the e-mail address), the campaign or the
 * Message-ID. Self-contained, so a click needs no lookup and nothing is stored per link (a random id
 * kept in Redis would cost a write and memory per link of every mail, and erase would have to find
 * them). GCM's tag authenticates: a changed token does not decrypt. Overhead: 12-byte nonce and
 * 16-byte tag, less than the 32-byte MAC of the signed form.
 */
const SEALED_CONTEXT = Buffer.from('ma-track.v2');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

let cachedKey: { secret: string; key: KeyObject } | undefined;

/** The encryption key, derived from the signing secret (HKDF-SHA256): one secret in the credential. */
function sealingKey(secret: string): KeyObject {
	if (cachedKey?.secret !== secret)
		cachedKey = { secret, key: createSecretKey(Buffer.from(hkdfSync('sha256', secret, '', SEALED_CONTEXT, 32))) };
	return cachedKey.key;
}

function seal(secret: string, plain: string): string {
	const nonce = randomBytes(NONCE_BYTES);
	const cipher = createCipheriv('aes-256-gcm', sealingKey(secret), nonce);
	cipher.setAAD(SEALED_CONTEXT);
	const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
	return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
}

function unseal(secret: string, token: string): string | null {
	const raw = Buffer.from(token, 'base64url');
	if (raw.length <= NONCE_BYTES + TAG_BYTES) return null;
	try {
		const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret), raw.subarray(0, NONCE_BYTES));
		decipher.setAAD(SEALED_CONTEXT);
		decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
		return Buffer.concat([
			decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
			decipher.final(),
		]).toString('utf8');
	} catch {
		return null;
	}
}

/**
 * The JSON of a token signed before tokens were encrypted (`<base64url(JSON)>.<base64url(HMAC)>`),
 * when its signature holds: links in mails already sent keep working (unsubscribe links must).
 */
function legacyPayload(secret: string, token: string): string | null {
	const dot = token.indexOf('.');
	if (dot <= 0 || dot !== token.lastIndexOf('.')) return null;
	const body = token.slice(0, dot);
	const given = Buffer.from(token.slice(dot + 1), 'base64url');
	const expected = createHmac('sha256', secret).update(`ma-track.v1.${body}`).digest();
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
	return Buffer.from(body, 'base64url').toString('utf8');
}

/** An opaque token (base64url, no "."): the claims encrypted and authenticated under the secret. */
export function signToken(secret: string, claims: TrackingClaims): string {
	checkSigningSecret(secret);
	const payload: Payload = { k: claims.kind, c: claims.contactId, m: claims.campaignId, t: claims.issuedAt };
	if (claims.kind === 'c') payload.u = checkRedirectUrl(claims.url);
	if (claims.messageId) payload.i = claims.messageId;
	if (claims.topic) payload.p = claims.topic;
	return seal(secret, JSON.stringify(payload));
}

/** The claims of a valid token of the expected kind, or null (bad format, altered, wrong key or kind). */
export function verifyToken(secret: string, token: unknown, kind: TokenKind): TrackingClaims | null {
	// An empty or short secret would let anyone forge tokens: nothing verifies under it.
	if (typeof secret !== 'string' || secret.length < MIN_SECRET) return null;
	if (typeof token !== 'string' || token.length > 4096) return null;
	const json = token.includes('.') ? legacyPayload(secret, token) : unseal(secret, token);
	if (json === null) return null;
	let payload: Payload;
	try {
		payload = JSON.parse(json) as Payload;
	} catch {
		return null;
	}
	if (
		!payload ||
		payload.k !== kind ||
		typeof payload.c !== 'string' ||
		typeof payload.m !== 'string' ||
		typeof payload.t !== 'number'
	)
		return null;
	if (kind === 'c') {
		try {
			checkRedirectUrl(payload.u);
		} catch {
			return null;
		}
	}
	return {
		kind,
		contactId: payload.c,
		campaignId: payload.m,
		url: payload.u,
		messageId: payload.i,
		...(typeof payload.p === 'string' ? { topic: payload.p } : {}),
		issuedAt: payload.t,
	};
}

/** Where our tracking webhook answers, under the trigger's public base URL. */
export function trackingUrls(baseUrl: string) {
	const base = checkRedirectUrl(baseUrl, 'trackingBaseUrl').replace(/\/+$/, '');
	return {
		open: (token: string) => routeUrl(base, 'open', token),
		click: (token: string) => routeUrl(base, 'click', token),
		unsubscribe: (token: string) => routeUrl(base, 'unsubscribe', token),
		confirm: (token: string) => routeUrl(base, 'confirm', token),
	};
}
