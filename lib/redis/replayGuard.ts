import { randomBytes } from 'crypto';

/**
 * A write script call's replay guard token (Keys.replayGuard): 96 random bits, so that no two calls
 * of any client share a guard. ioredis resends a call with its arguments, token included.
 */
export function replayToken(): string {
	return randomBytes(12).toString('base64url');
}
