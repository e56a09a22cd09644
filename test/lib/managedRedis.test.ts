/**
 * Managed Redis as production runs it: TLS only (no plain-text port), certificates from the
 * provider's CA or self-signed, and an ACL user limited to what the pack needs (lib/access).
 * Real redis-server processes, standalone and 3-master clusters (cluster bus over TLS as well).
 */
import Redis, { Cluster } from 'ioredis';
import { TLSSocket } from 'tls';
import type { ICredentialDataDecryptedObject, ICredentialTestFunctions } from 'n8n-workflow';
import {
	acquireMailer,
	acquireStore,
	Campaigns,
	closeAllMailers,
	closeAllStores,
	compileFilter,
	EventLogConsumer,
	Scoring,
	Segments,
	StoreAccessError,
	type LogEvent,
	type RedisClient,
	type StoreConfig,
} from '../../lib';
import { testContactStoreCredential } from '../../nodes/shared/store';
import { Contact } from '../../nodes/Contact/Contact.node';
import { adminTlsOptions } from '../harness/redis';
import { ManagedRedis, type TlsServer } from '../harness/managedRedis';
import { startSmtp, type SmtpSink } from '../harness/smtp';
import { runNode } from '../harness/n8n';

jest.setTimeout(60_000);

let managed: ManagedRedis;
let smtp: SmtpSink;
const servers: Record<'signed' | 'namedCluster' | 'selfSigned' | 'selfSignedCluster' | 'mutual', TlsServer> =
	{} as never;

beforeAll(async () => {
	managed = new ManagedRedis();
	smtp = await startSmtp();
	servers.signed = await managed.standalone('signed');
	servers.selfSigned = await managed.standalone('selfSigned');
	servers.mutual = await managed.standalone('signed', { authClients: true });
	servers.namedCluster = await managed.cluster('named');
	servers.selfSignedCluster = await managed.cluster('selfSigned');
});

afterAll(async () => {
	await closeAllStores();
	closeAllMailers();
	await smtp?.stop();
	await managed?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sockets a client talks to Redis through: one per cluster node. */
function sockets(client: RedisClient): unknown[] {
	const nodes: Redis[] = client instanceof Cluster ? client.nodes('all') : [client as Redis];
	return nodes.map((node) => (node as unknown as { stream: unknown }).stream);
}

/** The ACL users of the connections a server has, from CLIENT LIST as its default (admin) user. */
async function connectedUsers(server: TlsServer): Promise<string[]> {
	const admin = new Redis({ host: '127.0.0.1', port: server.port, ...adminTlsOptions(server.tls) });
	try {
		const list = (await admin.client('LIST')) as string;
		return [...list.matchAll(/ user=(\S+)/g)].map((m) => m[1]).filter((user) => user !== 'default');
	} finally {
		admin.disconnect();
	}
}

describe.each([
	['standalone, certificate checked against the CA', 'signed', false],
	['3-master cluster announcing host names, certificates checked against the CA and the names', 'namedCluster', false],
	['standalone, self-signed certificate with Ignore SSL Issues', 'selfSigned', true],
	['3-master cluster, self-signed certificates with Ignore SSL Issues', 'selfSignedCluster', true],
] as const)('the pack on managed Redis over TLS as the minimal ACL user: %s', (_, name, insecure) => {
	const configOf = (): StoreConfig => {
		const config = managed.config(servers[name]);
		return insecure ? { ...config, tlsCa: undefined, tlsSkipVerify: true } : config;
	};

	it('upserts, records an event, scores, reads a segment, sends once and delivers a trigger event', async () => {
		const config = configOf();
		const lease = acquireStore(config);
		const { store } = lease;
		const email = `ada-${name.toLowerCase()}@example.com`;
		try {
			const upserted = await store.contacts.upsert([
				{
					id: 'ada',
					email,
					addTags: ['vip'],
					fields: { plan: 'pro' },
					subscription: { status: 'subscribed', source: 'form' },
				},
			]);
			expect(upserted[0].ok).toBe(true);

			// A trigger's consumer group reads the event log (XGROUP, XREADGROUP, XACK, XAUTOCLAIM).
			const delivered: LogEvent[] = [];
			const consumer = new EventLogConsumer(store, {
				group: 'tls-acl',
				blockMs: 200,
				filter: compileFilter({ kind: 'event', names: ['demo_booked'] }),
				handler: async (events) => void delivered.push(...events),
			});
			await consumer.start();
			try {
				const recorded = await store.events.record([
					{ contactId: 'ada', name: 'demo_booked', properties: { seats: 5 } },
				]);
				expect(recorded[0].ok).toBe(true);
				for (let i = 0; i < 100 && delivered.length === 0; i++) await sleep(50);
				expect(delivered.map((e) => [e.contactId, e.name, e.properties])).toEqual([
					['ada', 'demo_booked', { seats: 5 }],
				]);
			} finally {
				await consumer.stop();
			}

			const [scored] = await new Scoring(store).score(
				{ name: 'fit', rules: [{ name: 'demo', event: 'demo_booked', points: 20 }] },
				[{ contactId: 'ada', event: { id: 'e1', name: 'demo_booked' } }],
			);
			expect(scored).toMatchObject({ ok: true, value: { score: 20 } });

			const page = await new Segments(store).page(
				{ type: 'tags', operator: 'hasAll', tags: ['vip'] },
				{ pageSize: 10 },
			);
			expect(page.contacts.map((c) => c.contactId)).toEqual(['ada']);

			const campaigns = new Campaigns(store);
			const { mailer, release } = acquireMailer({
				host: '127.0.0.1',
				port: smtp.port,
				secure: false,
				starttls: 'never',
				poolSize: 1,
			});
			try {
				const spec = {
					id: `tls-${name}`,
					name: 'TLS',
					fromEmail: 'news@shop.example',
					subject: 'Hi',
					html: '<p>Hi</p>',
					trackingBaseUrl: 'https://n8n.example.com/webhook/abc/marketing',
					signingSecret: 'test-signing-secret-0123456789',
				};
				const first = await campaigns.send(spec, [{ contactId: 'ada' }], { mode: 'smtp', mailer });
				const again = await campaigns.send(spec, [{ contactId: 'ada' }], { mode: 'smtp', mailer });
				expect([first[0], again[0]]).toMatchObject([
					{ ok: true, value: { status: 'sent' } },
					{ ok: true, value: { status: 'skipped' } },
				]);
				expect(smtp.mails.filter((m) => m.envelope.to.includes(email)).length).toBe(1);
			} finally {
				release();
			}

			// Really over TLS (verified or not, as configured) and really as the ACL user.
			const tlsSockets = sockets(store.redis);
			expect(tlsSockets.length).toBe(name.endsWith('Cluster') ? 3 : 1);
			expect(tlsSockets.every((s) => s instanceof TLSSocket && s.authorized === !insecure)).toBe(true);
			expect(new Set(await connectedUsers(servers[name]))).toEqual(new Set(['ma-pack']));
		} finally {
			lease.release();
			await closeAllStores();
		}
	});
});

/** The Contact Store credential as n8n stores it, for a store config. */
function credentialOf(config: StoreConfig): ICredentialDataDecryptedObject {
	return {
		host: config.host,
		port: config.port,
		user: config.username ?? '',
		password: config.password ?? '',
		database: 0,
		tls: Boolean(config.tls),
		tlsSkipVerify: Boolean(config.tlsSkipVerify),
		tlsCa: config.tlsCa ?? '',
		tlsPublicCert: config.tlsCert ?? '',
		tlsPrivateKey: config.tlsKey ?? '',
		tlsServername: config.tlsServername ?? '',
		clusterNodes: (config.clusterNodes ?? []).join(', '),
		keyPrefix: config.keyPrefix,
		signingSecret: 'test-signing-secret',
	};
}

/** What n8n's "Test" button shows for the credential. */
async function credentialTest(config: StoreConfig): Promise<{ status: string; message: string }> {
	return testContactStoreCredential.call({} as ICredentialTestFunctions, {
		id: 'c',
		name: 'Contact Store',
		type: 'contactStoreApi',
		data: credentialOf(config),
	});
}

describe('the Contact Store credential test on managed Redis', () => {
	it('passes on TLS with the CA, standalone and cluster, with the minimal ACL user', async () => {
		expect(await credentialTest(managed.config(servers.signed))).toEqual({
			status: 'OK',
			message: 'Connection successful',
		});
		expect(await credentialTest(managed.config(servers.namedCluster))).toEqual({
			status: 'OK',
			message: 'Connection successful',
		});
	});

	it('passes on a self-signed certificate given as the CA, or with Ignore SSL Issues; says what to do without either', async () => {
		const config = managed.config(servers.selfSigned);
		expect(await credentialTest(config)).toMatchObject({ status: 'OK' });
		expect(await credentialTest({ ...config, tlsCa: undefined, tlsSkipVerify: true })).toMatchObject({ status: 'OK' });
		const refused = await credentialTest({ ...config, tlsCa: undefined });
		expect(refused.status).toBe('Error');
		expect(refused.message).toMatch(
			/certificate is self-signed\. Paste that certificate into CA Certificate to trust it, or turn on Ignore SSL Issues/,
		);
	});

	it('names a certificate that is not signed by the CA given, or by any CA Node.js trusts', async () => {
		const wrongCa = await credentialTest(managed.config(servers.signed, 'pack', { tlsCa: managed.pki.otherCa.cert }));
		expect(wrongCa).toMatchObject({ status: 'Error' });
		expect(wrongCa.message).toMatch(
			/^TLS: the server's certificate is not signed by the CA given in CA Certificate \(\w+\)\. Paste the CA certificate your Redis provider gives/,
		);
		const noCa = await credentialTest(managed.config(servers.signed, 'pack', { tlsCa: undefined }));
		expect(noCa.message).toMatch(
			/^TLS: the server's certificate is not signed by a CA that Node\.js trusts .*Paste your Redis provider's CA certificate into CA Certificate/,
		);
		const onCluster = await credentialTest(
			managed.config(servers.namedCluster, 'pack', { tlsCa: managed.pki.otherCa.cert }),
		);
		expect(onCluster.message).toMatch(/not signed by the CA given in CA Certificate/);
	});

	it('refuses a CA that is not PEM (Node.js would ignore it silently)', async () => {
		const result = await credentialTest(managed.config(servers.signed, 'pack', { tlsCa: 'MIIBszCCAVmgAwIBAgIU' }));
		expect(result).toEqual({
			status: 'Error',
			message:
				'CA Certificate is not a PEM certificate. Paste the whole PEM text, from "-----BEGIN CERTIFICATE-----" to "-----END CERTIFICATE-----".',
		});
	});

	it('checks the host name against the certificate, and takes another name through Server Name (SNI)', async () => {
		const wrongName = await credentialTest(
			managed.config(servers.signed, 'pack', { tlsServername: 'redis.example.com' }),
		);
		expect(wrongName.message).toMatch(
			/^TLS: the server's certificate is not for the name connected to \(.*redis\.example\.com.*\)\. .*set Server Name \(SNI\)/,
		);
		// The certificate names localhost and 127.0.0.1: connecting to the IP as "localhost" passes.
		expect(await credentialTest(managed.config(servers.signed, 'pack', { tlsServername: 'localhost' }))).toMatchObject({
			status: 'OK',
		});
	});

	it('asks for a client certificate when the server requires mutual TLS, and passes with it', async () => {
		// The server's "certificate required" alert, or (TLS 1.3) a reset where the alert got lost.
		const without = await credentialTest(managed.config(servers.mutual));
		expect(without.message).toMatch(
			/^TLS: the server (requires a client certificate|closed the connection after the TLS handshake, as a server that requires a client certificate) \(mutual TLS\)( does)?\. Fill Client Certificate and Client Private Key\.$/,
		);
		const config = managed.config(servers.mutual, 'pack', {
			tlsCert: managed.pki.client.cert,
			tlsKey: managed.pki.client.key,
		});
		expect(await credentialTest(config)).toMatchObject({ status: 'OK' });
		expect((await credentialTest({ ...config, tlsKey: undefined })).message).toMatch(
			/^Mutual TLS needs both the client certificate and its private key/,
		);
	});

	it('says WRONGPASS for a wrong password and for an unknown user', async () => {
		const wrongPassword = await credentialTest(
			managed.config(servers.signed, 'pack', { password: 'not-the-password' }),
		);
		expect(wrongPassword).toEqual({
			status: 'Error',
			message:
				'Redis refused the user name or password of the Contact Store credential (WRONGPASS). Check User and Password in the credential: the user must exist on the Redis server, be enabled ("on") and have this password.',
		});
		const unknownUser = await credentialTest(managed.config(servers.namedCluster, 'pack', { username: 'nobody' }));
		expect(unknownUser.message).toMatch(/^Redis refused the user name or password .*\(WRONGPASS\)/);
	});

	it('names the command the ACL user may not run, before any workflow needs it, standalone and cluster', async () => {
		for (const server of [servers.signed, servers.namedCluster]) {
			const result = await credentialTest(managed.config(server, 'noXadd'));
			expect(result).toEqual({
				status: 'Error',
				message:
					"The Redis user may not run 'xadd', which the pack needs (ACL). Allow it: ACL SETUSER ma-no-xadd +xadd (docs/redis.md has the whole ACL the pack needs).",
			});
		}
		const noClusterSlots = await credentialTest(managed.config(servers.namedCluster, 'noClusterSlots'));
		expect(noClusterSlots.message).toMatch(
			/^Redis refused the 'cluster\|slots' command: .*ACL SETUSER <user> \+cluster\|slots/,
		);
	});

	it("says the ACL user may not use the credential's key prefix", async () => {
		const config = managed.config(servers.signed, 'otherKeys');
		const result = await credentialTest(config);
		expect(result).toEqual({
			status: 'Error',
			message: `The Redis user may not use keys starting with "${config.keyPrefix}" (the credential's Key Prefix). Allow them: ACL SETUSER ma-other-keys ~${config.keyPrefix}* (docs/redis.md has the whole ACL the pack needs).`,
		});
	});

	it('tells TLS spoken to a plain-text port and plain text spoken to a TLS port apart', async () => {
		const plainPort = Number(process.env.MA_TEST_REDIS_PORT);
		const tlsToPlain = await credentialTest({
			...managed.config(servers.signed),
			port: plainPort,
			username: undefined,
			password: undefined,
		});
		expect(tlsToPlain.message).toBe(
			`The server at 127.0.0.1:${plainPort} answers in plain text, not TLS. Turn off SSL/TLS in the credential, or use the server's TLS port.`,
		);
		const plainToTls = await credentialTest({ ...managed.config(servers.signed), tls: false });
		expect(plainToTls.message).toBe(
			`The server at 127.0.0.1:${servers.signed.port} speaks TLS. Turn on SSL/TLS in the credential (with the CA Certificate of your Redis provider).`,
		);
	});

	it('tells cluster mode against a single server, and a single-server credential against a cluster node', async () => {
		const asCluster = await credentialTest({
			...managed.config(servers.signed),
			clusterNodes: [`127.0.0.1:${servers.signed.port}`],
		});
		expect(asCluster.message).toBe(
			'The server is not a Redis Cluster. Leave Cluster Nodes empty to use it as a single server.',
		);
		const asSingle = await credentialTest({ ...managed.config(servers.namedCluster), clusterNodes: undefined });
		expect(asSingle.message).toBe(
			"The server is a Redis Cluster node. List the cluster's nodes in Cluster Nodes (host:port, comma-separated).",
		);
	});
});

describe('nodes at run time on managed Redis', () => {
	it('name the command the ACL refused, in a script or on its own, with what to allow', async () => {
		const recordEvent = {
			resource: 'event',
			operation: 'record',
			contactId: '={{ $json.id }}',
			eventName: 'demo_booked',
		};
		const [out] = await runNode({
			nodeType: new Contact(),
			parameters: recordEvent as never,
			items: [{ id: 'a' }, { id: 'b' }],
			credentials: { contactStoreApi: credentialOf(managed.config(servers.namedCluster, 'noXadd')) },
			continueOnFail: true,
		});
		expect(out.map((item) => item.json)).toEqual(
			[0, 1].map((item) => ({
				error: `Redis refused the 'xadd' command: the Contact Store credential's Redis user is not allowed to run it (ACL) (item ${item})`,
				details:
					'Allow it on the Redis user: ACL SETUSER <user> +xadd (docs/redis.md has the whole ACL the pack needs).',
			})),
		);

		const lease = acquireStore(managed.config(servers.signed, 'noZcard'));
		try {
			// A condition no index serves: the plan counts every contact (ZCARD per shard).
			await expect(
				new Segments(lease.store).page({ type: 'field', field: 'plan', operator: 'equals', value: 'pro' }),
			).rejects.toMatchObject({
				constructor: StoreAccessError,
				command: 'zcard',
				message:
					"Redis refused the 'zcard' command: the Contact Store credential's Redis user is not allowed to run it (ACL)",
			});
		} finally {
			lease.release();
		}
	});
});
