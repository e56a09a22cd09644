import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
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
	process: ChildProcess;
	dir: string;
	/** Set when the server speaks TLS only (its port is the TLS port). */
	tls?: ServerTls;
	stop(): Promise<void>;
}

/** redis-server arguments: TLS only on `port` (no plain-text port), the cluster bus over TLS too. */
function tlsArgs(port: number, tls: ServerTls): string[] {
	return [
		'--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
		'--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', tls.authClients ? 'yes' : 'no', '--tls-cluster', 'yes',
	];
}

/** redis-cli arguments that reach a TLS server as the default user. */
export function redisCliTlsArgs(tls: ServerTls | undefined): string[] {
	return tls ? ['--tls', '--cacert', tls.caFile, ...(tls.authClients ? ['--cert', tls.certFile, '--key', tls.keyFile] : [])] : [];
}

/**
 * ioredis options for the harness's own (default user) connections to a server: the chain is
 * checked, not the name (the harness connects to 127.0.0.1 whatever names the certificate lists).
 */
export function adminTlsOptions(tls: ServerTls | undefined): { tls?: ConnectionOptions } {
	if (!tls) return {};
	const pem = (file: string) => readFileSync(file, 'utf8');
	return { tls: { ca: pem(tls.caFile), checkServerIdentity: () => undefined, ...(tls.authClients ? { cert: pem(tls.certFile), key: pem(tls.keyFile) } : {}) } };
}

async function waitForPing(port: number, tls?: ServerTls, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...adminTlsOptions(tls) });
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

export async function startRedis(extraArgs: string[] = [], withBus = false, tls?: ServerTls): Promise<RedisServer> {
	const port = await freePort(withBus);
	const dir = mkdtempSync(join(tmpdir(), `ma-redis-${port}-`));
	const child = spawn(
		'redis-server',
		[...(tls ? tlsArgs(port, tls) : ['--port', String(port)]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
		{ stdio: 'ignore' },
	);
	await waitForPing(port, tls).catch((error: Error) => {
		child.kill('SIGKILL');
		throw tls ? new Error(`${error.message}: is redis-server built with TLS (redis-server --tls-port)? Debian's and Homebrew's are.`) : error;
	});
	return {
		port,
		process: child,
		dir,
		tls,
		stop: () =>
			new Promise((resolve) => {
				if (child.exitCode !== null) return resolve();
				child.once('exit', () => {
					rmSync(dir, { recursive: true, force: true });
					resolve();
				});
				child.kill('SIGTERM');
			}),
	};
}

/**
 * A real 3-master Redis Cluster on loopback, created with redis-cli --cluster create; over TLS
 * (clients and cluster bus) when `tls` is given; `extraArgs` go to every node.
 */
export async function startCluster(options: { tls?: ServerTls; extraArgs?: string[] } = {}): Promise<{ nodes: RedisServer[]; stop(): Promise<void> }> {
	const { tls, extraArgs = [] } = options;
	const nodes: RedisServer[] = [];
	for (let i = 0; i < 3; i++) {
		nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', ...extraArgs], true, tls));
	}
	const stop = async () => void (await Promise.all(nodes.map((n) => n.stop())));
	// A cluster that fails to form must not leave its servers running after the tests.
	try {
		const create = spawnSync(
			'redis-cli',
			[...redisCliTlsArgs(tls), '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
			{ encoding: 'utf8' },
		);
		if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
		const deadline = Date.now() + 20_000;
		for (;;) {
			const states = nodes.map((n) => spawnSync('redis-cli', [...redisCliTlsArgs(tls), '-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout);
			if (states.every((s) => s.includes('cluster_state:ok'))) break;
			if (Date.now() > deadline) throw new Error('Redis Cluster did not reach cluster_state:ok');
			await new Promise((r) => setTimeout(r, 100));
		}
	} catch (error) {
		await stop();
		throw error;
	}
	return { nodes, stop };
}
