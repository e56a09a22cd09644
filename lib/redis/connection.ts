import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { hasFlag, list as redisCommands } from '@ioredis/commands';
import type { ConnectionOptions } from 'tls';
import { StoreAccessError, StoreUnavailableError, ValidationError } from '../errors';
import { refusedCommand } from '../access';
import { autoPipeliningIgnoredCommands, defineScripts } from './scripts';
import { settleWithin } from '../deadline';
import { REPLAY_ANSWER_MS } from '../keys';

/** Everything needed to reach a workspace's contact store; it comes from the n8n credential. */
export interface StoreConfig {
	host: string;
	port: number;
	username?: string;
	password?: string;
	database?: number;
	tls?: boolean;
	/** Accept self-signed certificates (TLS only). */
	tlsSkipVerify?: boolean;
	/** PEM of the CA that signed the server's certificate; without it, the CAs Node.js trusts. */
	tlsCa?: string;
	/** PEM client certificate and its private key, for servers that require mutual TLS. */
	tlsCert?: string;
	tlsKey?: string;
	/** The name the server's certificate must be for (SNI), when it is not the host connected to. */
	tlsServername?: string;
	/** "host:port" of cluster nodes; when set the store talks Redis Cluster. */
	clusterNodes?: string[];
	/** One workspace per prefix. */
	keyPrefix: string;
	connectTimeoutMs?: number;
	/** The longest a command waits for Redis, reconnections included (default STORE_WAIT_MS). */
	commandTimeoutMs?: number;
	/**
	 * Redis Cluster: the longest a command waits while its hash slot moves to another node, from its
	 * first redirect (default SLOT_MOVE_WAIT_MS, 30 s, which is also the most, MAX_STORE_WAIT_MS).
	 */
	slotMoveWaitMs?: number;
}

/**
 * How long a command waits for Redis by default, reconnections included. Longer than a restart or a
 * network blip (seconds), so those go unnoticed; short enough that an outage fails the item with a
 * StoreUnavailableError instead of hanging the execution. A Redis Cluster failover takes about its
 * cluster-node-timeout: with the default 15 s, raise this or let the Contact Trigger retry.
 */
export const STORE_WAIT_MS = 10_000;

/**
 * The longest wait a client may be configured with (commandTimeoutMs): half of REPLAY_ANSWER_MS,
 * how long a guarded write's answer is kept for a resend (lib/redis/lua/replay_guard.lua), so that
 * a caller still waiting always finds it, with room for a slow reconnection and Redis's clock.
 */
export const MAX_STORE_WAIT_MS = REPLAY_ANSWER_MS / 2;

export type RedisClient = Redis | Cluster;

export function parseClusterNodes(text: string | undefined): string[] {
	return (text ?? '')
		.split(/[\s,]+/)
		.map((node) => node.trim())
		.filter(Boolean)
		.map((node) => {
			if (!/^[^\s:]+:\d{1,5}$/.test(node)) {
				throw new ValidationError('clusterNodes', `Cluster node "${node}" is not host:port`);
			}
			return node;
		});
}

/**
 * How long a command on a Redis Cluster waits by default, after its first redirect, while its hash
 * slot moves to another node: a contact shard moving (`redis-cli --cluster reshard`) answers its
 * scripts TRYAGAIN until its last key is over, about 30 s for a store of 1,000,000 contacts
 * (docs/architecture.md, resharding). The most a client may be configured with, as for commandTimeoutMs.
 */
export const SLOT_MOVE_WAIT_MS = 30_000;

/**
 * At most this many commands of one client wait for a moving slot at once: a further one fails at
 * its first redirect, so that what the waiting ones hold (a batch chunk's arguments, up to some
 * 100 KB) stays bounded however fast new items come in while a shard moves.
 */
export const MAX_SLOT_MOVE_WAITERS = 1000;

/** A client for the store, with every script of the pack defined as a command (lib/redis/scripts). */
export function createClient(config: StoreConfig): RedisClient {
	checkWait('commandTimeoutMs', config.commandTimeoutMs);
	checkWait('slotMoveWaitMs', config.slotMoveWaitMs);
	const client = newClient(config);
	defineScripts(client);
	(client as unknown as Record<symbol, ClientWaits>)[WAITS] = {
		commandMs: config.commandTimeoutMs ?? STORE_WAIT_MS,
		slotMoveMs: config.slotMoveWaitMs ?? SLOT_MOVE_WAIT_MS,
		slotMoveWaiters: 0,
	};
	return client;
}

/** A client's wait bounds (createClient), and how many of its commands wait for a moving slot. */
interface ClientWaits {
	commandMs: number;
	slotMoveMs: number;
	slotMoveWaiters: number;
}

const WAITS = Symbol('waits');

function waitsOf(client: RedisClient): ClientWaits {
	return ((client as unknown as Record<symbol, ClientWaits | undefined>)[WAITS] ??= {
		commandMs: STORE_WAIT_MS,
		slotMoveMs: SLOT_MOVE_WAIT_MS,
		slotMoveWaiters: 0,
	});
}

function checkWait(field: 'commandTimeoutMs' | 'slotMoveWaitMs', waitMs: number | undefined): void {
	if (waitMs === undefined || waitMs <= MAX_STORE_WAIT_MS) return;
	throw new ValidationError(
		field,
		`${field} ${waitMs} is longer than ${MAX_STORE_WAIT_MS} ms, the longest a command may wait: a batch write's answer is kept ${REPLAY_ANSWER_MS} ms for a resend after a lost reply (REPLAY_ANSWER_MS)`,
		`Use at most ${MAX_STORE_WAIT_MS} ms; a Redis Cluster failover or shard move longer than that fails the items, which may be retried.`,
	);
}

/**
 * A reply within the client's wait bound. A Redis Cluster client keeps the commands issued while it
 * reconnects in a queue of its own, which `commandTimeout` (a per-node option) never reaches: with
 * every node gone they would wait for ever. On a Cluster client the reply is raced against the same
 * bound; a late command may still run, as after any timeout (retrying is safe with idempotency keys).
 */
export function withinWait<T>(client: RedisClient, reply: Promise<T>): Promise<T> {
	if (!(client instanceof Cluster)) return reply;
	return settleWithin(reply, waitsOf(client).commandMs, () => new Error('Command timed out'));
}

/**
 * How many times a command redirected by a Redis Cluster is sent again at once, each time after the
 * client has re-read the slot map; later resends wait first (slotMoveDelay). One is enough after a
 * failover (test/lib/cluster.failover.test.ts); the others are for a map read from a node that was
 * not told yet, or a slot being moved (ASK: sent again without the commands of its auto-pipeline
 * that ran, ioredis follows it, test/lib/cluster.reshard.test.ts).
 */
export const REDIRECT_RETRIES = 3;

/** The wait before the resend after `retries` resends: none for the first REDIRECT_RETRIES, then 0.1, 0.2, 0.4, 0.8, 1 s... */
function slotMoveDelay(retries: number): number {
	return retries < REDIRECT_RETRIES ? 0 : Math.min(100 * 2 ** (retries - REDIRECT_RETRIES), 1000);
}

/** What ioredis retries on a cluster, as Redis answered it or after its maxRedirections (16 tries). */
const CLUSTER_RETRY = /^(?:Too many Cluster redirections\. Last error: \w*Error: )?(MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /;

function clusterRetryOf(error: unknown): string | undefined {
	return CLUSTER_RETRY.exec((error as Error)?.message ?? '')?.[1];
}

/**
 * A Redis Cluster's answer that a command did not run because its hash slot is elsewhere (MOVED,
 * ASK) or moving (TRYAGAIN: its keys are on both nodes), as Redis gave it or after ioredis's own
 * retries gave up; or ioredis refusing, before sending it, an auto-pipeline whose slots its map now
 * splits over nodes (the map changed while the pipeline filled, as after a failover). ioredis sends
 * a command answered TRYAGAIN again to a random master, which redirects it back: it gives up on
 * MOVED or ASK as often as on TRYAGAIN. A redirect is never an answer to a command that ran.
 */
function isRedirect(error: unknown): boolean {
	const retry = clusterRetryOf(error);
	return (retry !== undefined && retry !== 'CLUSTERDOWN') || (error as Error)?.message === SPLIT_PIPELINE;
}

const SPLIT_PIPELINE = 'All keys in the pipeline should belong to the same slots allocation group';

/**
 * The reply of `send`, which issues one command, sent again while the cluster redirects it: each
 * attempt within the wait bound (withinWait), and all of them within `slotMoveMs` of the first
 * redirect (SLOT_MOVE_WAIT_MS), at most MAX_SLOT_MOVE_WAITERS commands of the client at once.
 *
 * - ioredis follows a redirect for a command sent alone, but not inside an automatic pipeline
 *   (enableAutoPipelining) of several slots: an auto-pipeline holds the commands of every slot of
 *   one node, ioredis resends a cluster pipeline only when all its errors are the same and its other
 *   commands are reads, and each MOVED names its slot. Nor does it then re-read the slot map. After
 *   a failover the map still names the dead master, so each auto-pipeline of its slots goes to
 *   another node, is moved whole, and every command fails with the raw MOVED until something else
 *   refreshes the map (seen for as long as measured, 12 s and more). Auto-pipelining off on a
 *   cluster would avoid this too, at 1.3-2x the time of concurrent single commands.
 * - While a contact shard moves to another node, its scripts answer TRYAGAIN until its last key is
 *   over (docs/architecture.md, resharding); ioredis gives up after about 2 s (16 redirections).
 *
 * A redirected command did not run: sending it again is safe, writes and scripts included. `send`
 * resends the same command (a guarded script with the same replay guard), so a try that ran before
 * a lost reply, which ioredis itself sends again, answers as it did on the next.
 */
function followRedirects<T>(client: Cluster, send: () => Promise<T>): Promise<T> {
	// A .catch, not an async function with try/await: that cost about a fifth more CPU per call.
	return withinWait(client, send()).catch((error: unknown) => {
		if (!isRedirect(error)) throw error;
		return waitOutRedirects(client, send, error);
	});
}

async function waitOutRedirects<T>(client: Cluster, send: () => Promise<T>, redirect: unknown): Promise<T> {
	const waits = waitsOf(client);
	if (waits.slotMoveWaiters >= MAX_SLOT_MOVE_WAITERS) throw redirectedTooLong(redirect, 0, waits);
	waits.slotMoveWaiters++;
	const startedAt = Date.now();
	try {
		for (let retries = 0; ; retries++) {
			const delay = slotMoveDelay(retries);
			const waited = Date.now() - startedAt;
			if (waited + delay > waits.slotMoveMs) throw redirectedTooLong(redirect, waited, waits);
			if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
			// A refresh already under way (another command's) is waited for, not started again.
			await new Promise<void>((resolve) => client.refreshSlotsCache(() => resolve()));
			try {
				return await withinWait(client, send());
			} catch (error) {
				if (!isRedirect(error)) throw error;
				redirect = error;
			}
		}
	} finally {
		waits.slotMoveWaiters--;
	}
}

/** The store error for a command the cluster still redirected after `waited` ms (0: too many waiting already). */
function redirectedTooLong(redirect: unknown, waited: number, waits: ClientWaits): StoreUnavailableError {
	return redirectedError(
		waited > 0
			? `for ${(waited / 1000).toFixed(1)} s, longer than the pack waits (${waits.slotMoveMs / 1000} s)`
			: `while ${waits.slotMoveWaiters} other commands waited for moving slots, the most the pack lets wait`,
		redirect,
	);
}

/**
 * The store error for a command redirected for longer than the client waits (`howLong`). One text
 * for all redirects: ioredis's retries of a TRYAGAIN end on MOVED or ASK as often as on TRYAGAIN.
 */
function redirectedError(howLong: string, cause: unknown): StoreUnavailableError {
	return new StoreUnavailableError(
		`The contact store (Redis Cluster) kept redirecting this command to another node ${howLong}: its hash slot was moving (resharding: TRYAGAIN, ASK) or had moved (after a failover: MOVED); nothing of it was written, retry it`,
		cause,
	);
}

/**
 * Read-only commands, not auto-pipelined on a cluster. While a slot moves to another node, an
 * auto-pipeline whose errors are all the same ASK and whose other commands are reads is sent again
 * whole to the ASK's node by ioredis (5.11, Pipeline fillResult): the reads of the slot's keys not
 * moved yet then answer as if their keys did not exist there (a contact read as missing). Sent
 * alone, each read is followed to where its key is. Concurrent reads cost 1.4-1.7x the time of
 * auto-pipelined ones (docs/architecture.md, resharding); a standalone Redis keeps them.
 */
const READ_ONLY_COMMANDS = redisCommands.filter((name) => hasFlag(name, 'readonly'));

/**
 * The reply of one command (ContactStore call, run, and each call of runBatch), redirects followed
 * while a slot moves, each attempt within the wait bound.
 */
export function singleCommand<T>(client: RedisClient, send: () => Promise<T>): Promise<T> {
	return client instanceof Cluster ? followRedirects(client, send) : send();
}

function newClient(config: StoreConfig): RedisClient {
	const waitMs = config.commandTimeoutMs ?? STORE_WAIT_MS;
	const options: RedisOptions = {
		username: config.username || undefined,
		password: config.password || undefined,
		connectTimeout: config.connectTimeoutMs ?? 5000,
		// During an outage commands wait in the offline queue for the reconnection (commands sent but
		// unanswered when the connection dropped are sent again), each at most `commandTimeout` from
		// when it was issued: a blip goes unnoticed, an outage fails clearly (toStoreError).
		maxRetriesPerRequest: null,
		enableOfflineQueue: true,
		commandTimeout: waitMs,
		// A connection that stops answering without closing (a cut network) is dropped and reopened.
		// Longer than any blocking read (the Contact Trigger blocks 2 s) or script.
		socketTimeout: Math.max(waitMs / 2, 3000),
		// Reconnect quickly at first, then every second, for as long as the client is in use.
		retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
		enableAutoPipelining: true,
		autoPipeliningIgnoredCommands: [...autoPipeliningIgnoredCommands],
		lazyConnect: true,
		// CLIENT SETINFO is not in the pack's minimal ACL (lib/access); ioredis would send it on every connect.
		disableClientInfo: true,
		tls: tlsOptions(config),
	};
	if (config.clusterNodes && config.clusterNodes.length > 0) {
		const nodes = config.clusterNodes.map((node) => {
			const [host, port] = node.split(':');
			return { host, port: Number(port) };
		});
		return new Cluster(nodes, {
			// The cluster auto-pipelines, not its node connections: on one, the ASKING that ioredis sends
			// before a command redirected with ASK would be queued for the next tick, and go out after it.
			redisOptions: { ...options, enableAutoPipelining: false },
			enableAutoPipelining: true,
			autoPipeliningIgnoredCommands: [...autoPipeliningIgnoredCommands, ...READ_ONLY_COMMANDS],
			lazyConnect: true,
			// Never give up reconnecting (a client that gave up stays closed for good).
			clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 1000),
			// A master that went away: retry on the refreshed slot map while its replica takes over.
			retryDelayOnFailover: 300,
			retryDelayOnClusterDown: 300,
			retryDelayOnTryAgain: 300,
			// ioredis would connect to the IP a node's host name resolves to, and check the certificate
			// against that IP: managed clusters' certificates name hosts, so keep the names.
			...(options.tls
				? {
						dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address),
					}
				: {}),
		});
	}
	return new Redis({ ...options, host: config.host, port: config.port, db: config.database ?? 0 });
}

/** Node TLS options from the credential's TLS fields; undefined when TLS is off. */
export function tlsOptions(config: StoreConfig): ConnectionOptions | undefined {
	if (!config.tls) return undefined;
	if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) {
		throw new ValidationError(
			config.tlsCert ? 'tlsKey' : 'tlsCert',
			'Mutual TLS needs both the client certificate and its private key',
			'Fill both Client Certificate and Client Private Key, or leave both empty.',
		);
	}
	return {
		rejectUnauthorized: !config.tlsSkipVerify,
		...(config.tlsCa ? { ca: pem(config.tlsCa, 'tlsCa', 'CA Certificate', 'CERTIFICATE') } : {}),
		...(config.tlsCert && config.tlsKey
			? {
					cert: pem(config.tlsCert, 'tlsCert', 'Client Certificate', 'CERTIFICATE'),
					key: pem(config.tlsKey, 'tlsKey', 'Client Private Key', 'PRIVATE KEY'),
				}
			: {}),
		...(config.tlsServername ? { servername: config.tlsServername } : {}),
	};
}

/** Node silently ignores a CA that is not PEM (and then trusts only its own list): refuse it instead. */
function pem(text: string, field: string, label: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string {
	const trimmed = text.trim();
	if (!new RegExp(`^-----BEGIN [A-Z ]*${kind}-----[\\s\\S]+-----END [A-Z ]*${kind}-----$`).test(trimmed)) {
		throw new ValidationError(
			field,
			`${label} is not a PEM ${kind.toLowerCase()}`,
			`Paste the whole PEM text, from "-----BEGIN ${kind}-----" to "-----END ${kind}-----".`,
		);
	}
	return trimmed;
}

/** Maps connection-level failures to StoreUnavailableError; leaves script and input errors alone. */
export function isConnectionError(error: unknown): boolean {
	const e = error as { name?: string; code?: string; message?: string };
	// AbortError: commands already sent when the connection dropped (their outcome is unknown).
	if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError' || e?.name === 'AbortError')
		return true;
	if (e?.message === 'Command timed out') return true;
	if (typeof e?.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/.test(e.code))
		return true;
	return /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|Failed to refresh slots cache|None of startup nodes is available/i.test(
		e?.message ?? '',
	);
}

/**
 * Redis's refusal of the credential's user as the pack's error, saying what to change; undefined for
 * other errors. `lua`: the script that ran, to name the command Redis refused inside it.
 */
export function accessError(error: unknown, lua?: string): StoreAccessError | undefined {
	if (error instanceof StoreAccessError) return error;
	const message = (error as Error)?.message ?? '';
	if (/WRONGPASS|invalid username-password/i.test(message)) {
		return new StoreAccessError(
			'Redis refused the user name or password of the Contact Store credential (WRONGPASS)',
			'Check User and Password in the credential: the user must exist on the Redis server, be enabled ("on") and have this password.',
			'login',
			undefined,
			error,
		);
	}
	if (/NOAUTH/.test(message)) {
		return new StoreAccessError(
			'Redis requires a password (NOAUTH)',
			'Fill Password in the Contact Store credential (and User, for an ACL user).',
			'login',
			undefined,
			error,
		);
	}
	if (/no permissions to access one of the keys|can't access at least one of the keys/i.test(message)) {
		return new StoreAccessError(
			"Redis refused access to the workspace's keys: the Contact Store credential's Redis user may not use keys under its Key Prefix (ACL)",
			'Allow them on the Redis user: ACL SETUSER <user> ~<Key Prefix>* (docs/redis.md has the whole ACL the pack needs).',
			'keys',
			undefined,
			error,
		);
	}
	if (/NOPERM|can't run this command/i.test(message)) return commandRefused(refusedCommand(message, lua), error);
	return undefined;
}

/** The pack's error for an ACL refusal of a command (undefined: Redis did not say which). */
export function commandRefused(command: string | undefined, cause: unknown): StoreAccessError {
	return new StoreAccessError(
		command
			? `Redis refused the '${command}' command: the Contact Store credential's Redis user is not allowed to run it (ACL)`
			: "Redis refused a command: the Contact Store credential's Redis user is not allowed to run it (ACL)",
		`Allow it on the Redis user: ACL SETUSER <user> +${command ?? '<command>'} (docs/redis.md has the whole ACL the pack needs).`,
		'command',
		command,
		cause,
	);
}

export function toStoreError(error: unknown): unknown {
	const refused = accessError(error);
	if (refused) return refused;
	if ((error as Error)?.name === 'AbortError') {
		return new StoreUnavailableError(
			'The contact store (Redis) could not be reached: the connection dropped while this item was being written, so it may or may not have been applied (retrying is safe with an idempotency key)',
			error,
		);
	}
	if ((error as Error)?.message === 'Command timed out') {
		return new StoreUnavailableError(
			'The contact store (Redis) could not be reached: it did not answer in time (down, restarting or unreachable); a write may or may not have been applied (retrying is safe with an idempotency key)',
			error,
		);
	}
	// A cluster's answer that ioredis retried, left after its retries and followRedirects's.
	const clusterRetry = clusterRetryOf(error);
	if (clusterRetry === 'CLUSTERDOWN') {
		return new StoreUnavailableError(
			'The contact store (Redis Cluster) is down: some of its hash slots have no node serving them (a master went away and no replica took over in time, CLUSTERDOWN); retry it',
			error,
		);
	}
	if (clusterRetry || (error as Error)?.message === SPLIT_PIPELINE)
		return redirectedError("for longer than the client's retries", error);
	if (isConnectionError(error)) {
		return new StoreUnavailableError(
			`The contact store (Redis) could not be reached: ${(error as Error).message}`,
			error,
		);
	}
	return error;
}
