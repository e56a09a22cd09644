import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { createConnection } from 'net';
import { join } from 'path';
import type { ConnectionOptions } from 'tls';
import Redis from 'ioredis';
import { freePort } from '../../tools/ports';

/** TLS on a test server: its certificate, and the CA it trusts (cluster bus peers, client certificates). */
export interface ServerTls {
	certFile: string;
	keyFile: string;
	caFile: string;
	/** Require a client certificate (mutual TLS). */
	authClients?: boolean;
}

export interface RedisServer {
	port: number;
	/** The running redis-server (a new one after `restart`). */
	readonly process: ChildProcess;
	dir: string;
	/** Set when the server speaks TLS only (its port is the TLS port). */
	tls?: ServerTls;
	/** kill -9, as a crash would; resolves once the process is gone. */
	kill(): Promise<void>;
	/** Starts redis-server again on the same port, directory and arguments (its AOF, if on, is reloaded). */
	restart(): Promise<void>;
	stop(): Promise<void>;
}

/** redis-server arguments: TLS only on `port` (no plain-text port), the cluster bus over TLS too. */
function tlsArgs(port: number, tls: ServerTls): string[] {
	return [
		'--port',
		'0',
		'--tls-port',
		String(port),
		'--tls-cert-file',
		tls.certFile,
		'--tls-key-file',
		tls.keyFile,
		'--tls-ca-cert-file',
		tls.caFile,
		'--tls-auth-clients',
		tls.authClients ? 'yes' : 'no',
		'--tls-cluster',
		'yes',
	];
}

/** redis-cli arguments that reach a TLS server as the default user. */
export function redisCliTlsArgs(tls: ServerTls | undefined): string[] {
	return tls
		? ['--tls', '--cacert', tls.caFile, ...(tls.authClients ? ['--cert', tls.certFile, '--key', tls.keyFile] : [])]
		: [];
}

/**
 * ioredis options for the harness's own (default user) connections to a server: the chain is
 * checked, not the name (the harness connects to 127.0.0.1 whatever names the certificate lists).
 */
export function adminTlsOptions(tls: ServerTls | undefined): { tls?: ConnectionOptions } {
	if (!tls) return {};
	const pem = (file: string) => readFileSync(file, 'utf8');
	return {
		tls: {
			ca: pem(tls.caFile),
			checkServerIdentity: () => undefined,
			...(tls.authClients ? { cert: pem(tls.certFile), key: pem(tls.keyFile) } : {}),
		},
	};
}

async function waitForPing(port: number, tls?: ServerTls, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const client = new Redis({
			port,
			host: '127.0.0.1',
			lazyConnect: true,
			maxRetriesPerRequest: 0,
			retryStrategy: () => null,
			...adminTlsOptions(tls),
		});
		client.on('error', () => undefined);
		try {
			await client.connect();
			await client.ping();
			client.disconnect();
			return;
		} catch {
			client.disconnect();
			if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
			await new Promise((r) => setTimeout(r, 50));
		}
	}
}

const exited = (child: ChildProcess) =>
	new Promise<void>((resolve) =>
		child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
	);

export async function startRedis(extraArgs: string[] = [], withBus = false, tls?: ServerTls): Promise<RedisServer> {
	const port = await freePort(withBus);
	const dir = mkdtempSync(join(tmpdir(), `ma-redis-${port}-`));
	const args = [
		...(tls ? tlsArgs(port, tls) : ['--port', String(port)]),
		'--bind',
		'127.0.0.1',
		'--save',
		'',
		'--appendonly',
		'no',
		'--dir',
		dir,
		...extraArgs,
	];
	const launch = async () => {
		const child = spawn('redis-server', args, { stdio: 'ignore' });
		await waitForPing(port, tls).catch((error: Error) => {
			child.kill('SIGKILL');
			throw tls
				? new Error(
						`${error.message}: is redis-server built with TLS (redis-server --tls-port)? Debian's and Homebrew's are.`,
					)
				: error;
		});
		return child;
	};
	let child = await launch();
	const kill = async () => {
		child.kill('SIGKILL');
		await exited(child);
	};
	return {
		port,
		get process() {
			return child;
		},
		dir,
		tls,
		kill,
		restart: async () => {
			await kill();
			child = await launch();
		},
		stop: async () => {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGTERM');
				await exited(child);
			}
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

export interface ClusterNodeRole {
	port: number;
	role: 'master' | 'replica';
	/** The port of its master (replicas). */
	masterPort?: number;
	/** Hash slots it serves (masters). */
	slots: number;
}

export interface RedisCluster {
	nodes: RedisServer[];
	stop(): Promise<void>;
}

const cli = (tls: ServerTls | undefined, port: number, ...args: string[]) =>
	spawnSync('redis-cli', [...redisCliTlsArgs(tls), '-p', String(port), ...args], { encoding: 'utf8' }).stdout ?? '';

/** Who is master and who replicates whom, as the node at `port` sees the cluster (CLUSTER NODES). */
export function clusterRoles(port: number, tls?: ServerTls): ClusterNodeRole[] {
	const lines = cli(tls, port, 'cluster', 'nodes').trim().split('\n').filter(Boolean);
	const parsed = lines.map((line) => {
		const [id, address, flags, masterId, , , , , ...slotRanges] = line.split(' ');
		const slots = slotRanges
			.filter((r) => !r.startsWith('['))
			.reduce((n, r) => {
				const [from, to = from] = r.split('-').map(Number);
				return n + to - from + 1;
			}, 0);
		return { id, port: Number(address.split('@')[0].split(':').pop()), flags: flags.split(','), masterId, slots };
	});
	return parsed
		.filter((n) => !n.flags.includes('fail') && !n.flags.includes('noaddr'))
		.map((n) => ({
			port: n.port,
			role: n.flags.includes('master') ? 'master' : 'replica',
			...(n.flags.includes('master') ? {} : { masterPort: parsed.find((m) => m.id === n.masterId)?.port }),
			slots: n.slots,
		}));
}

/**
 * A real Redis Cluster on loopback, created with redis-cli --cluster create: 3 masters, and
 * `replicas` replicas of each (default 0: the unit tests do not need failover, and 3 nodes start
 * quicker); over TLS (clients and cluster bus) when `tls` is given; `extraArgs` go to every node.
 * Resolves once every node says cluster_state:ok and every replica's link to its master is up.
 */
export async function startCluster(
	options: { tls?: ServerTls; extraArgs?: string[]; replicas?: number } = {},
): Promise<RedisCluster> {
	const { tls, extraArgs = [], replicas = 0 } = options;
	const nodes: RedisServer[] = [];
	const stop = async () => void (await Promise.all(nodes.map((n) => n.stop())));
	// A cluster that fails to form must not leave its servers running after the tests.
	try {
		for (let i = 0; i < 3 * (1 + replicas); i++) {
			nodes.push(
				await startRedis(
					[
						'--cluster-enabled',
						'yes',
						'--cluster-config-file',
						'nodes.conf',
						'--cluster-node-timeout',
						'2000',
						...extraArgs,
					],
					true,
					tls,
				),
			);
		}
		const create = spawnSync(
			'redis-cli',
			[
				...redisCliTlsArgs(tls),
				'--cluster',
				'create',
				...nodes.map((n) => `127.0.0.1:${n.port}`),
				'--cluster-replicas',
				String(replicas),
				'--cluster-yes',
			],
			{ encoding: 'utf8' },
		);
		if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
		const deadline = Date.now() + 30_000;
		for (;;) {
			const ok = nodes.every((n) => cli(tls, n.port, 'cluster', 'info').includes('cluster_state:ok'));
			const roles = ok ? clusterRoles(nodes[0].port, tls) : [];
			const linked = roles
				.filter((r) => r.role === 'replica')
				.every((r) => cli(tls, r.port, 'info', 'replication').includes('master_link_status:up'));
			if (ok && roles.filter((r) => r.role === 'replica').length === 3 * replicas && linked) break;
			if (Date.now() > deadline)
				throw new Error(`Redis Cluster did not reach cluster_state:ok${replicas ? ' with every replica linked' : ''}`);
			await new Promise((r) => setTimeout(r, 100));
		}
	} catch (error) {
		await stop();
		throw error;
	}
	return { nodes, stop };
}

/** Waits until the replica at `port` serves as a master and the cluster says cluster_state:ok; returns how long it took. */
export async function waitForPromotion(
	port: number,
	{ tls, timeoutMs = 60_000 }: { tls?: ServerTls; timeoutMs?: number } = {},
): Promise<number> {
	const started = Date.now();
	for (;;) {
		const promoted = clusterRoles(port, tls).find((r) => r.port === port)?.role === 'master';
		if (promoted && cli(tls, port, 'cluster', 'info').includes('cluster_state:ok')) return Date.now() - started;
		if (Date.now() - started > timeoutMs)
			throw new Error(`replica :${port} was not promoted to master within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

/**
 * Waits until the replica at `replicaPort` has every write its master at `masterPort` took
 * (replication is asynchronous: a master killed before that loses them).
 */
export async function waitForReplication(
	masterPort: number,
	replicaPort: number,
	{ tls, timeoutMs = 10_000 }: { tls?: ServerTls; timeoutMs?: number } = {},
): Promise<void> {
	const offset = (port: number, field: string) =>
		Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(cli(tls, port, 'info', 'replication'))?.[1] ?? -1);
	const target = offset(masterPort, 'master_repl_offset');
	const started = Date.now();
	while (offset(replicaPort, 'slave_repl_offset') < target) {
		if (Date.now() - started > timeoutMs)
			throw new Error(`replica :${replicaPort} did not catch up with :${masterPort} within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

/** A MONITOR line's command and arguments, unquoted (Redis writes them as sdscatrepr does). */
function monitorLineArgs(line: string): string[] {
	const unescape = (text: string) =>
		text.replace(/\\(x[0-9a-f]{2}|.)/g, (_, e: string) =>
			e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', r: '\r', t: '\t' }[e] ?? e),
		);
	// Bytes outside printable ASCII come as \xHH: one character per byte, then read as UTF-8.
	return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => Buffer.from(unescape(m[1]), 'latin1').toString('utf8'));
}

/**
 * The commands one Redis server runs while `action` runs (scripts' own included), seen with
 * MONITOR, those `keep` accepts: the test files share a server, so its counters would count their
 * commands too. A marker ECHO sent after `action` ends the watch. A plain socket, not ioredis's
 * monitor(): under other clients' traffic, ioredis takes MONITOR lines that arrive with the reply
 * to MONITOR, or after its disconnect, for replies to commands it never sent, and fails.
 */
export async function monitorCommands(
	server: { host: string; port: number },
	keep: (args: string[]) => boolean,
	action: () => Promise<unknown>,
): Promise<string[][]> {
	const socket = createConnection(server.port, server.host);
	const marker = `end-of-watch-${process.pid}-${Math.random()}`;
	const kept: string[][] = [];
	// Set at once: a promise's executor runs before the constructor returns.
	let start!: { resolve(): void; reject(error: Error): void };
	const started = new Promise<void>((resolve, reject) => (start = { resolve, reject }));
	let seenMarker = false;
	let pending = '';
	socket.setEncoding('utf8');
	socket.on('data', (chunk: string) => {
		const lines = (pending + chunk).split('\r\n');
		pending = lines.pop() ?? '';
		for (const line of lines) {
			if (line === '+OK') start.resolve();
			else if (line.startsWith('-')) start.reject(new Error(`MONITOR refused: ${line.slice(1)}`));
			else if (!seenMarker && line.startsWith('+')) {
				const args = monitorLineArgs(line);
				if (args[0] === 'echo' && args[1] === marker) seenMarker = true;
				else if (keep(args)) kept.push(args);
			}
		}
	});
	// Before MONITOR answers, a socket error fails the watch; after, the marker's wait does.
	socket.on('error', (error) => start.reject(error));
	const client = new Redis({ ...server, lazyConnect: true });
	try {
		socket.write('MONITOR\r\n');
		await started;
		await action();
		await client.echo(marker);
		for (let i = 0; i < 500 && !seenMarker; i++) await new Promise((r) => setTimeout(r, 10));
		if (!seenMarker) throw new Error('MONITOR did not show the end-of-watch marker within 5 s');
		return kept;
	} finally {
		socket.destroy();
		client.disconnect();
	}
}
