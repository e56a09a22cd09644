import { writeFileSync } from 'fs';
import { join } from 'path';
import { packAclRules } from '../../lib/access';
import type { StoreConfig } from '../../lib/redis/connection';
import { startCluster, startRedis, type RedisServer, type ServerTls } from './redis';
import { createTestPki, type KeyPair, type TestPki } from './tls';

/** Keys of the pack's ACL user: every test workspace is a prefix under this one. */
export const ACL_PREFIX = 'tlsacl:';

/**
 * Users of the ACL file every managed-Redis test server loads. `default` stays the harness's
 * admin; `pack` is limited to exactly what the pack needs (lib/access, as docs/redis.md
 * says); the others lack one thing each.
 */
export const ACL_USERS = {
	pack: { username: 'ma-pack', password: 'pack-secret', rules: packAclRules(ACL_PREFIX) },
	/** Refused in a script (record_events's XADD). */
	noXadd: { username: 'ma-no-xadd', password: 'pack-secret', rules: [...packAclRules(ACL_PREFIX), '-xadd'] },
	/** Refused as a command of its own (segment counts). */
	noZcard: { username: 'ma-no-zcard', password: 'pack-secret', rules: [...packAclRules(ACL_PREFIX), '-zcard'] },
	/** Without the command ioredis needs to find a cluster's nodes. */
	noClusterSlots: {
		username: 'ma-no-cluster-slots',
		password: 'pack-secret',
		rules: [...packAclRules(ACL_PREFIX), '-cluster|slots'],
	},
	/** Only keys of another prefix. */
	otherKeys: { username: 'ma-other-keys', password: 'pack-secret', rules: packAclRules('other:') },
} as const;

export type AclUser = keyof typeof ACL_USERS;

/** One line of a Redis ACL file: the same rules an ACL SETUSER of the user would give. */
export function aclFileLine(user: { username: string; password: string; rules: readonly string[] }): string {
	return ['user', user.username, 'reset', 'on', `>${user.password}`, ...user.rules].join(' ');
}

function writeAclFile(dir: string): string {
	const file = join(dir, 'users.acl');
	const lines = ['user default on nopass ~* &* +@all', ...Object.values(ACL_USERS).map(aclFileLine)];
	writeFileSync(file, lines.join('\n') + '\n');
	return file;
}

export interface TlsServer {
	/** A single server, or a cluster's first node. */
	port: number;
	/** The host name to connect with, when not 127.0.0.1. */
	host?: string;
	/** Set for a cluster: its nodes as the credential lists them. */
	clusterNodes?: string[];
	tls: ServerTls;
	stop(): Promise<void>;
}

/**
 * TLS-only Redis servers (no plain-text port) with the ACL users above, on certificates made for
 * this run: CA-signed (`server`), or self-signed. Everything is stopped and removed by `stop`.
 */
export class ManagedRedis {
	readonly pki: TestPki = createTestPki();
	private readonly aclFile = writeAclFile(this.pki.dir);
	private readonly started: Array<{ stop(): Promise<void> }> = [];

	serverTls(certificate: 'signed' | 'named' | 'selfSigned', authClients = false): ServerTls {
		const pair: KeyPair = { signed: this.pki.server, named: this.pki.namedServer, selfSigned: this.pki.selfSigned }[
			certificate
		];
		// A self-signed certificate is its own CA (the cluster bus checks its peers with it).
		return {
			certFile: pair.certFile,
			keyFile: pair.keyFile,
			caFile: certificate === 'selfSigned' ? pair.certFile : this.pki.ca.certFile,
			authClients,
		};
	}

	async standalone(
		certificate: 'signed' | 'selfSigned' = 'signed',
		options: { authClients?: boolean } = {},
	): Promise<TlsServer> {
		const tls = this.serverTls(certificate, options.authClients);
		const server: RedisServer = await startRedis(['--aclfile', this.aclFile], false, tls);
		this.started.push(server);
		return { port: server.port, tls, stop: () => server.stop() };
	}

	/**
	 * A 3-master cluster over TLS. 'named': as managed clusters are, its certificates name the host
	 * (localhost) and no IP address, and its nodes announce that host name (CLUSTER SLOTS).
	 */
	async cluster(certificate: 'named' | 'selfSigned'): Promise<TlsServer> {
		const tls = this.serverTls(certificate);
		const named = certificate === 'named';
		const extraArgs = [
			'--aclfile',
			this.aclFile,
			...(named ? ['--cluster-announce-hostname', 'localhost', '--cluster-preferred-endpoint-type', 'hostname'] : []),
		];
		const cluster = await startCluster({ tls, extraArgs });
		this.started.push(cluster);
		const host = named ? 'localhost' : '127.0.0.1';
		return {
			port: cluster.nodes[0].port,
			host,
			clusterNodes: cluster.nodes.map((n) => `${host}:${n.port}`),
			tls,
			stop: () => cluster.stop(),
		};
	}

	/** A store config for `server` as the given ACL user, over TLS with the CA of its certificate. */
	config(server: TlsServer, user: AclUser = 'pack', overrides: Partial<StoreConfig> = {}): StoreConfig {
		const { username, password } = ACL_USERS[user];
		const ca = server.tls.caFile === this.pki.ca.certFile ? this.pki.ca.cert : this.pki.selfSigned.cert;
		return {
			host: server.host ?? '127.0.0.1',
			port: server.port,
			...(server.clusterNodes ? { clusterNodes: server.clusterNodes } : {}),
			username,
			password,
			tls: true,
			tlsCa: ca,
			keyPrefix: `${ACL_PREFIX}${Math.random().toString(36).slice(2, 10)}:`,
			...overrides,
		};
	}

	async stop(): Promise<void> {
		await Promise.all(this.started.splice(0).map((server) => server.stop()));
		this.pki.remove();
	}
}
