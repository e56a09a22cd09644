// Redis memory per contact, for sizing (docs/production.md): N contacts created through the pack's
// store (what the Contact node and the Marketing Webhook Trigger call), each with an e-mail, three
// fields, two tags, a recorded consent and one recorded event, then INFO memory's used_memory
// before and after, on one redis-server and summed over the masters of a 3-master Redis Cluster.
// Redis's own per-key overhead is included; the event log stream counts too (it is trimmed by
// retention, so a long-running base holds more history per contact than this one event).
import Redis from 'ioredis';
import { createClient } from '../lib/redis/connection';
import { ContactStore } from '../lib/store';
import { startCluster, startRedis, type RedisServer } from '../test/harness/redis';

const CONTACTS = Number(process.env.MA_SIZING_CONTACTS || 20_000);
const BATCH = 500;

async function usedMemory(ports: number[]): Promise<number> {
	let total = 0;
	for (const port of ports) {
		const r = new Redis({ port, host: '127.0.0.1' });
		const info = await r.info('memory');
		r.disconnect();
		total += Number(/used_memory:(\d+)/.exec(info)![1]);
	}
	return total;
}

async function fill(store: ContactStore): Promise<void> {
	for (let start = 0; start < CONTACTS; start += BATCH) {
		const ids = Array.from({ length: Math.min(BATCH, CONTACTS - start) }, (_, k) => `contact-${start + k}`);
		const upserts = await store.contacts.upsert(
			ids.map((id, k) => ({
				id,
				email: `${id}@example.com`,
				fields: { firstName: `First${k}`, lastName: `Last${k}`, city: ['Berlin', 'Lyon', 'Porto'][k % 3] },
				addTags: ['newsletter', k % 2 ? 'customer' : 'lead'],
				subscription: { status: 'subscribed', source: 'footer-form' },
			})),
		);
		for (const r of upserts) if (!r.ok) throw r.error;
		const events = await store.events.record(
			ids.map((id) => ({
				contactId: id,
				name: 'newsletter_signup',
				properties: { form: 'footer-form' },
				idempotencyKey: `${id}-signup`,
			})),
		);
		for (const r of events) if (!r.ok) throw r.error;
	}
}

async function measure(label: string, ports: number[], config: Parameters<typeof createClient>[0]): Promise<void> {
	const client = createClient(config);
	const store = new ContactStore(client, config.keyPrefix!);
	try {
		const before = await usedMemory(ports);
		await fill(store);
		const after = await usedMemory(ports);
		const perContact = (after - before) / CONTACTS;
		console.log(
			`${label}: ${CONTACTS} contacts, used_memory +${((after - before) / 1048576).toFixed(1)} MiB, ${Math.round(perContact)} bytes per contact, ${Math.round(1073741824 / perContact).toLocaleString('en')} contacts per GiB`,
		);
	} finally {
		client.disconnect();
	}
}

export async function run(): Promise<void> {
	const servers: RedisServer[] = [];
	const single = await startRedis();
	servers.push(single);
	const cluster = await startCluster();
	try {
		await measure('one redis-server', [single.port], { host: '127.0.0.1', port: single.port, keyPrefix: 'size:' });
		const ports = cluster.nodes.map((n) => n.port);
		await measure('3-master cluster', ports, {
			host: '127.0.0.1',
			port: ports[0],
			keyPrefix: 'size:',
			clusterNodes: ports.map((p) => `127.0.0.1:${p}`),
		});
	} finally {
		await cluster.stop();
		for (const s of servers) await s.stop();
	}
}
