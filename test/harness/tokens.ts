import { createHmac } from 'crypto';

/** A tracking token as the pack signed them before tokens were encrypted: base64url JSON + HMAC. */
export function legacyToken(secret: string, payload: Record<string, unknown>): string {
	const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
	return `${body}.${createHmac('sha256', secret).update(`ma-track.v1.${body}`).digest('base64url')}`;
}
