import { createClient, type RedisClient, type StoreConfig } from './connection';
import { ContactStore, type StoreOptions } from '../store';

interface Entry {
	client: RedisClient;
	store: ContactStore;
	users: number;
	idleTimer?: NodeJS.Timeout;
}

const entries = new Map<string, Entry>();

/** How long a connection stays open with no user before it is closed. */
let idleCloseMs = 30_000;

export function setIdleCloseMs(ms: number): void {
	idleCloseMs = ms;
}

function configKey(config: StoreConfig, options: StoreOptions): string {
	return JSON.stringify([config, options.limits ?? null]);
}

export interface StoreLease {
	store: ContactStore;
	release(): void;
}

/**
 * One Redis connection (or cluster client) per credential per process, shared by every item and
 * execution that uses it, closed after `idleCloseMs` without a user.
 */
export function acquireStore(config: StoreConfig, options: StoreOptions = {}): StoreLease {
	const key = configKey(config, options);
	let entry = entries.get(key);
	if (!entry) {
		const client = createClient(config);
		// Errors also reach the command that failed; this only keeps them from being unhandled.
		client.on('error', () => undefined);
		entry = { client, store: new ContactStore(client, config.keyPrefix, options), users: 0 };
		entries.set(key, entry);
	}
	const current = entry;
	clearTimeout(current.idleTimer);
	current.users++;
	let released = false;
	return {
		store: current.store,
		release() {
			if (released) return;
			released = true;
			current.users--;
			if (current.users > 0) return;
			current.idleTimer = setTimeout(() => {
				if (current.users > 0 || entries.get(key) !== current) return;
				entries.delete(key);
				void closeClient(current.client);
			}, idleCloseMs);
			current.idleTimer.unref();
		},
	};
}

/** QUIT when connected; a client that is (re)connecting is dropped at once, or its retry timer lives on. */
async function closeClient(client: RedisClient): Promise<void> {
	if (client.status !== 'ready') {
		client.disconnect();
		return;
	}
	await client.quit().catch(() => client.disconnect());
}

/** Closes every pooled connection now (tests, shutdown). */
export async function closeAllStores(): Promise<void> {
	const all = [...entries.values()];
	entries.clear();
	await Promise.all(
		all.map(async (entry) => {
			clearTimeout(entry.idleTimer);
			await closeClient(entry.client);
		}),
	);
}

export function openStoreCount(): number {
	return entries.size;
}
