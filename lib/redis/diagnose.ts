import { Cluster } from 'ioredis';
import { connect as connectTcp } from 'net';
import { connect as connectTls } from 'tls';
import type { ValidationError } from '../errors';
import { validatePrefix } from '../keys';
import { checkPermissions } from '../access';
import { accessError, createClient, tlsOptions, type RedisClient, type StoreConfig } from './connection';

export interface StoreCheck {
	ok: boolean;
	message: string;
}

/**
 * The credential test: reaches the server (on a cluster, its first node alone, so TLS and password
 * problems are told apart from cluster ones), then the cluster, then asks Redis whether the user may
 * run every command the pack needs on keys under the prefix. A failure says what to change.
 */
export async function checkStoreConnection(config: StoreConfig, timeoutMs = 5000): Promise<StoreCheck> {
	try {
		validatePrefix(config.keyPrefix);
		tlsOptions(config);
	} catch (error) {
		const e = error as ValidationError;
		return { ok: false, message: e.hint ? `${e.message}. ${e.hint}` : e.message };
	}
	const cluster = (config.clusterNodes ?? []).length > 0;
	const [host, portText] = cluster ? config.clusterNodes![0].split(':') : [config.host, String(config.port)];
	const port = Number(portText);

	const node = await connected(
		createClient({
			...config,
			clusterNodes: undefined,
			host,
			port,
			database: cluster ? 0 : config.database,
			connectTimeoutMs: timeoutMs,
		}),
	);
	if (!node.ok)
		return { ok: false, message: await describeConnectionFailure(node.error, config, host, port, timeoutMs) };
	if (!cluster) {
		// A cluster node answers as a single server until a key lives on another node. INFO is among the
		// pack's commands; were it refused, the permission check below says so.
		if (/cluster_enabled:1/.test(await node.client.info('cluster').catch(() => ''))) {
			node.client.disconnect();
			return {
				ok: false,
				message:
					"The server is a Redis Cluster node. List the cluster's nodes in Cluster Nodes (host:port, comma-separated).",
			};
		}
		return checkCommands(node.client, config);
	}
	node.client.disconnect();
	const store = await connected(createClient({ ...config, connectTimeoutMs: timeoutMs }));
	if (!store.ok) return { ok: false, message: describeClusterFailure(store.error) };
	return checkCommands(store.client, config);
}

/** Runs the permission check on a connected client, then disconnects it. */
async function checkCommands(client: RedisClient, config: StoreConfig): Promise<StoreCheck> {
	try {
		const permissions = await checkPermissions(client, config.keyPrefix);
		if (!permissions.checked)
			return {
				ok: true,
				message:
					"Connection successful. This Redis is older than 7.0: the user's permissions are checked when the nodes first use them.",
			};
		if (permissions.refused.length > 0) {
			const list = permissions.refused.map((command) => `'${command}'`).join(', ');
			return {
				ok: false,
				message:
					`The Redis user may not run ${list}, which the pack needs (ACL). ` +
					`Allow ${permissions.refused.length > 1 ? 'them' : 'it'}: ACL SETUSER ${config.username || 'default'} ${permissions.refused.map((command) => `+${command}`).join(' ')} (docs/redis.md has the whole ACL the pack needs).`,
			};
		}
		return { ok: true, message: 'Connection successful' };
	} catch (error) {
		return { ok: false, message: describeCommandFailure(error, config) };
	} finally {
		client.disconnect();
	}
}

/** Connects without retrying; the error is the real cause (ioredis rejects with "Connection is closed" after emitting it). */
async function connected(
	client: RedisClient,
): Promise<{ ok: true; client: RedisClient } | { ok: false; error: unknown }> {
	let cause: unknown;
	client.on('error', (error) => (cause = error));
	// A cluster's node connections never retry by themselves: the cluster's strategy decides.
	if (client instanceof Cluster) client.options.clusterRetryStrategy = () => null;
	else {
		client.options.maxRetriesPerRequest = 0;
		client.options.retryStrategy = () => null;
	}
	try {
		await client.connect();
		await client.ping();
		return { ok: true, client };
	} catch (error) {
		client.disconnect();
		return { ok: false, error: cause ?? error };
	}
}

const UNTRUSTED_CERTIFICATE =
	/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_SIGNATURE_FAILURE)$/;

/** Why the server could not be reached, in plain words, with what to change in the credential. */
async function describeConnectionFailure(
	error: unknown,
	config: StoreConfig,
	host: string,
	port: number,
	timeoutMs: number,
): Promise<string> {
	const e = error as { code?: string; message?: string };
	const code = e?.code ?? '';
	const message = e?.message ?? String(error);
	const refused = accessError(error);
	if (refused) return `${refused.message}. ${refused.hint}`;
	if (UNTRUSTED_CERTIFICATE.test(code)) {
		return config.tlsCa
			? `TLS: the server's certificate is not signed by the CA given in CA Certificate (${code}). Paste the CA certificate your Redis provider gives for this server, or turn on Ignore SSL Issues (insecure).`
			: `TLS: the server's certificate is not signed by a CA that Node.js trusts (${code}). Paste your Redis provider's CA certificate into CA Certificate, or turn on Ignore SSL Issues (insecure).`;
	}
	if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
		return "TLS: the server's certificate is self-signed. Paste that certificate into CA Certificate to trust it, or turn on Ignore SSL Issues (insecure).";
	}
	if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
		return `TLS: the server's certificate is not for the name connected to (${message}). Connect with a host name the certificate names, or set Server Name (SNI) to one of them.`;
	}
	if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
		return `TLS: the server's certificate is not valid now (${code}). Renew it on the server, or turn on Ignore SSL Issues (insecure).`;
	}
	if (/certificate required/i.test(message)) {
		return 'TLS: the server requires a client certificate (mutual TLS). Fill Client Certificate and Client Private Key.';
	}
	// With TLS 1.3 the server's "certificate required" alert may be lost in a reset of the connection.
	if (
		config.tls &&
		!config.tlsCert &&
		(code === 'ECONNRESET' || code === 'EPIPE') &&
		(await speaksTls(host, port, timeoutMs))
	) {
		return 'TLS: the server closed the connection after the TLS handshake, as a server that requires a client certificate (mutual TLS) does. Fill Client Certificate and Client Private Key.';
	}
	if (/alert (unknown ca|bad certificate|certificate unknown)/i.test(message)) {
		return 'TLS: the server refused the client certificate. Use a client certificate signed by a CA the server trusts.';
	}
	if (code === 'ECONNREFUSED') return 'Connection refused: is Redis running on this host and port?';
	if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'Host not found: check the host name.';
	// A TLS client on a plain-text port waits for a handshake that never comes; a plain client on a
	// TLS port is cut off. Ask the port which protocol it speaks.
	if (config.tls && (await answersPlainText(host, port, timeoutMs))) {
		return `The server at ${host}:${port} answers in plain text, not TLS. Turn off SSL/TLS in the credential, or use the server's TLS port.`;
	}
	if (!config.tls && (await speaksTls(host, port, timeoutMs))) {
		return `The server at ${host}:${port} speaks TLS. Turn on SSL/TLS in the credential (with the CA Certificate of your Redis provider).`;
	}
	if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message))
		return 'Timed out: the host did not answer (firewall, wrong host or port?).';
	if (/certificate|SSL|TLS|EPROTO/i.test(message)) return `TLS failed: ${message}. Check the TLS settings.`;
	return message;
}

function describeClusterFailure(error: unknown): string {
	const cause = (error as { lastNodeError?: unknown }).lastNodeError ?? error;
	const message = (cause as Error)?.message ?? String(cause);
	if (/cluster support disabled/i.test(message)) {
		return 'The server is not a Redis Cluster. Leave Cluster Nodes empty to use it as a single server.';
	}
	const refused = accessError(cause);
	if (refused) return `${refused.message}. ${refused.hint}`;
	return `Redis Cluster: ${message}`;
}

function describeCommandFailure(error: unknown, config: StoreConfig): string {
	const refused = accessError(error);
	if (refused?.refused === 'keys') {
		return `The Redis user may not use keys starting with "${config.keyPrefix}" (the credential's Key Prefix). Allow them: ACL SETUSER ${config.username || 'default'} ~${config.keyPrefix}* (docs/redis.md has the whole ACL the pack needs).`;
	}
	if (refused) return `${refused.message}. ${refused.hint}`;
	return (error as Error)?.message ?? String(error);
}

/** Does host:port answer a plain-text PING as Redis does (+PONG, or an error such as -NOAUTH)? */
function answersPlainText(host: string, port: number, timeoutMs: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connectTcp({ host, port });
		const done = (answer: boolean) => {
			socket.destroy();
			resolve(answer);
		};
		socket.setTimeout(timeoutMs, () => done(false));
		socket.once('error', () => done(false));
		socket.once('connect', () => socket.write('PING\r\n'));
		socket.once('data', (data) => done(/^[+-]/.test(data.toString('latin1'))));
	});
}

/** Does host:port complete a TLS handshake (whatever its certificate)? */
function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connectTls({ host, port, rejectUnauthorized: false });
		const done = (answer: boolean) => {
			socket.destroy();
			resolve(answer);
		};
		socket.setTimeout(timeoutMs, () => done(false));
		socket.once('error', () => done(false));
		socket.once('secureConnect', () => done(true));
	});
}
