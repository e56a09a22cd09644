import type { RedisServer } from './redis';

export default async function globalTeardown(): Promise<void> {
	const servers = (globalThis as Record<string, unknown>).__MA_REDIS__ as
		{ standalone: RedisServer; cluster?: { stop(): Promise<void> } } | undefined;
	await servers?.standalone.stop();
	await servers?.cluster?.stop();
}
