import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { StoreUnavailableError, ValidationError } from '../errors';
import { autoPipeliningIgnoredCommands, defineScripts } from './scripts';

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
	/** "host:port" of cluster nodes; when set the store talks Redis Cluster. */
	clusterNodes?: string[];
	/** One workspace per prefix. */
	keyPrefix: string;
	connectTimeoutMs?: number;
}

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

/** A client for the store, with every script of the pack defined as a command (lib/redis/scripts). */
export function createClient(config: StoreConfig): RedisClient {
	const client = newClient(config);
	defineScripts(client);
	return client;
}

function newClient(config: StoreConfig): RedisClient {
	const options: RedisOptions = {
		username: config.username || undefined,
		password: config.password || undefined,
		connectTimeout: config.connectTimeoutMs ?? 5000,
		// Fail a command after a couple of reconnect attempts instead of queueing it forever,
		// so an unreachable Redis surfaces as an error on the item, not a hung execution.
		maxRetriesPerRequest: 2,
		retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
		enableAutoPipelining: true,
		autoPipeliningIgnoredCommands: [...autoPipeliningIgnoredCommands],
		lazyConnect: true,
		tls: config.tls ? { rejectUnauthorized: !config.tlsSkipVerify } : undefined,
	};
	if (config.clusterNodes && config.clusterNodes.length > 0) {
		const nodes = config.clusterNodes.map((node) => {
			const [host, port] = node.split(':');
			return { host, port: Number(port) };
		});
		return new Cluster(nodes, {
			redisOptions: options,
			enableAutoPipelining: true,
			autoPipeliningIgnoredCommands: [...autoPipeliningIgnoredCommands],
			lazyConnect: true,
			clusterRetryStrategy: (attempt) => (attempt > 3 ? null : attempt * 200),
		});
	}
	return new Redis({ ...options, host: config.host, port: config.port, db: config.database ?? 0 });
}

/** Maps connection-level failures to StoreUnavailableError; leaves script and input errors alone. */
export function isConnectionError(error: unknown): boolean {
	const e = error as { name?: string; code?: string; message?: string };
	// AbortError: commands already sent when the connection dropped (their outcome is unknown).
	if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError' || e?.name === 'AbortError') return true;
	if (typeof e?.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/.test(e.code)) return true;
	return /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|Failed to refresh slots cache|None of startup nodes is available/i.test(
		e?.message ?? '',
	);
}

export function toStoreError(error: unknown): unknown {
	if ((error as Error)?.name === 'AbortError') {
		return new StoreUnavailableError(
			'The contact store (Redis) could not be reached: the connection dropped while this item was being written, so it may or may not have been applied (retrying is safe with an idempotency key)',
			error,
		);
	}
	if (isConnectionError(error)) {
		return new StoreUnavailableError(
			`The contact store (Redis) could not be reached: ${(error as Error).message}`,
			error,
		);
	}
	return error;
}

/** Readable reason for a failed credential test. */
export function describeConnectionFailure(error: unknown): string {
	const e = error as { code?: string; message?: string };
	const message = e?.message ?? String(error);
	if (e?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'Connection refused: is Redis running on this host and port?';
	if (/WRONGPASS|invalid username-password|NOAUTH|AUTH/.test(message)) return 'Authentication failed: check the user name and password.';
	if (/ETIMEDOUT|timed? ?out/i.test(message)) return 'Timed out: the host did not answer (firewall, wrong host or port?).';
	if (/certificate|SSL|TLS|EPROTO|self[- ]signed/i.test(message)) return `TLS failed: ${message}. Check the TLS settings, or allow self-signed certificates.`;
	if (/ENOTFOUND|EAI_AGAIN/.test(message)) return 'Host not found: check the host name.';
	return message;
}
