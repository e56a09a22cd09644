import { createHmac, timingSafeEqual } from 'crypto';
import { ValidationError } from '../errors';
import { routeUrl } from './routes';

/** What a tracking link does: open pixel, click redirect, unsubscribe. */
export type TokenKind = 'o' | 'c' | 'u';

export interface TrackingClaims {
	kind: TokenKind;
	contactId: string;
	campaignId: string;
	/** The only URL a click token may redirect to (http/https). */
	url?: string;
	/** Message-ID of the mail that carried the link. */
	messageId?: string;
	/** Issued at, epoch ms (machine-click detection compares it with the hit time). */
	issuedAt: number;
}

interface Payload {
	k: TokenKind;
	c: string;
	m: string;
	u?: string;
	i?: string;
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

function mac(secret: string, body: string): Buffer {
	return createHmac('sha256', secret).update(`ma-track.v1.${body}`).digest();
}

/** `<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`: self-contained, so a click needs no lookup. */
export function signToken(secret: string, claims: TrackingClaims): string {
	checkSigningSecret(secret);
	const payload: Payload = { k: claims.kind, c: claims.contactId, m: claims.campaignId, t: claims.issuedAt };
	if (claims.kind === 'c') payload.u = checkRedirectUrl(claims.url);
	if (claims.messageId) payload.i = claims.messageId;
	const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
	return `${body}.${mac(secret, body).toString('base64url')}`;
}

/** The claims of a valid token of the expected kind, or null (bad format, bad signature, wrong kind). */
export function verifyToken(secret: string, token: unknown, kind: TokenKind): TrackingClaims | null {
	// An empty or short secret would let anyone forge tokens: nothing verifies under it.
	if (typeof secret !== 'string' || secret.length < MIN_SECRET) return null;
	if (typeof token !== 'string' || token.length > 4096) return null;
	const dot = token.indexOf('.');
	if (dot <= 0 || dot !== token.lastIndexOf('.')) return null;
	const body = token.slice(0, dot);
	const given = Buffer.from(token.slice(dot + 1), 'base64url');
	const expected = mac(secret, body);
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
	let payload: Payload;
	try {
		payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
	} catch {
		return null;
	}
	if (payload.k !== kind || typeof payload.c !== 'string' || typeof payload.m !== 'string' || typeof payload.t !== 'number') return null;
	if (kind === 'c') {
		try {
			checkRedirectUrl(payload.u);
		} catch {
			return null;
		}
	}
	return { kind, contactId: payload.c, campaignId: payload.m, url: payload.u, messageId: payload.i, issuedAt: payload.t };
}

/** Where our tracking webhook answers, under the trigger's public base URL. */
export function trackingUrls(baseUrl: string) {
	const base = checkRedirectUrl(baseUrl, 'trackingBaseUrl').replace(/\/+$/, '');
	return {
		open: (token: string) => routeUrl(base, 'open', token),
		click: (token: string) => routeUrl(base, 'click', token),
		unsubscribe: (token: string) => routeUrl(base, 'unsubscribe', token),
	};
}
