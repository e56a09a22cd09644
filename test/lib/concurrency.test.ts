import { createClient } from '../../lib/redis/connection';
import { ContactStore } from '../../lib/store';
import { ConflictError } from '../../lib/errors';
import { storeConfig, topologies } from '../harness/store';

const CLIENTS = 8;
const CONTACTS = ['hot-1', 'hot-2', 'hot-3', 'hot:{4}'];
const ROUNDS = 25;

/**
 * Eight independent connections (as eight n8n workers would have) on one workspace, all changing
 * the same contacts at once. Every per-contact change is one script, so totals must be exact.
 */
describe.each(topologies)('8 concurrent clients on %s Redis', (topology) => {
	const config = storeConfig(topology);
	const stores = Array.from({ length: CLIENTS }, () => {
		const client = createClient(config);
		client.on('error', () => undefined);
		return new ContactStore(client, config.keyPrefix);
	});
	const [reader] = stores;

	afterAll(async () => {
		await Promise.all(stores.map((s) => s.redis.quit()));
	});

	it('keeps exact event counts, idempotency, tags and fields under contention', async () => {
		await Promise.all(
			stores.map(async (store, worker) => {
				for (let round = 0; round < ROUNDS; round++) {
					const batch = CONTACTS.flatMap((contactId) => [
						{ contactId, name: 'hit', properties: { worker, round } },
						// Every worker delivers the same keyed event: it must count once per contact.
						{ contactId, name: 'keyed', idempotencyKey: `round-${round}` },
					]);
					const results = await store.events.record(batch);
					for (const r of results) if (!r.ok) throw r.error;
					const changes = await store.contacts.upsert(
						CONTACTS.map((id) => ({
							id,
							addTags: [`w${worker}`, `r${round}`],
							removeTags: round > 0 ? [`r${round - 1}`] : [],
							fields: { [`w${worker}`]: round },
						})),
					);
					for (const r of changes) if (!r.ok) throw r.error;
				}
			}),
		);

		for (const id of CONTACTS) {
			const contact = await reader.contacts.getOne(id);
			expect(contact?.events.hit.count).toBe(CLIENTS * ROUNDS);
			expect(contact?.events.keyed.count).toBe(ROUNDS);
			expect(contact?.events.$contact_created.count).toBe(1);
			expect(await reader.events.countSince(id, 'hit', 0)).toBe(CLIENTS * ROUNDS);
			// Workers remove the previous round's tag whoever added it, so only the last round's may remain.
			const workerTags = Array.from({ length: CLIENTS }, (_, w) => `w${w}`);
			expect(contact?.tags.filter((t) => t.startsWith('w')).sort()).toEqual(workerTags.sort());
			expect(contact?.tags.filter((t) => t.startsWith('r'))).toEqual([`r${ROUNDS - 1}`]);
			for (let w = 0; w < CLIENTS; w++) expect(contact?.fields[`w${w}`]).toBe(ROUNDS - 1);
			// One index entry per tag, agreeing with the contact's own tag set.
			const shard = reader.keys.shardOfContact(id);
			for (const tag of contact?.tags ?? [])
				expect(await reader.redis.sismember(reader.keys.index(shard, `tag:${tag}`), id)).toBe(1);
			for (let r = 0; r < ROUNDS - 1; r++)
				expect(await reader.redis.sismember(reader.keys.index(shard, `tag:r${r}`), id)).toBe(0);
			// Counters and the per-name time index saw the same tag and field changes.
			for (const name of ['$tag_added', '$tag_removed', '$field_changed']) {
				expect(await reader.events.countSince(id, name, 0)).toBe(contact?.events[name].count);
			}
		}
	}, 60_000);

	it('gives a contested e-mail address to exactly one contact', async () => {
		const results = await Promise.all(
			stores.map((store, worker) =>
				store.contacts.upsert([{ id: `claimer-${worker}`, email: 'Contested@Example.com' }]),
			),
		);
		const winners = results.filter(([r]) => r.ok);
		const losers = results.filter(([r]) => !r.ok);
		expect(winners).toHaveLength(1);
		expect(losers.every(([r]) => !r.ok && r.error instanceof ConflictError)).toBe(true);
		const owner = await reader.contacts.idForEmail('contested@example.com');
		expect(owner).toBe((winners[0][0] as { value: { contactId: string } }).value.contactId);
		// The losers were not left half-created.
		const others = await reader.contacts.get(
			Array.from({ length: CLIENTS }, (_, w) => `claimer-${w}`).filter((id) => id !== owner),
		);
		expect(others.every((r) => r.ok && r.value === null)).toBe(true);
	}, 30_000);

	it('subscribes and unsubscribes concurrently without losing the index invariant', async () => {
		await reader.contacts.upsert([{ id: 'flip' }]);
		await Promise.all(
			stores.map(async (store, worker) => {
				for (let n = 0; n < 20; n++) {
					const status = (worker + n) % 2 === 0 ? 'subscribed' : 'unsubscribed';
					const [r] = await store.contacts.upsert([{ id: 'flip', subscription: { status, source: `w${worker}` } }]);
					if (!r.ok) throw r.error;
				}
			}),
		);
		const contact = await reader.contacts.getOne('flip');
		const shard = reader.keys.shardOfContact('flip');
		const inSubscribed = await reader.redis.sismember(reader.keys.index(shard, 'status:subscribed'), 'flip');
		const inUnsubscribed = await reader.redis.sismember(reader.keys.index(shard, 'status:unsubscribed'), 'flip');
		expect(inSubscribed + inUnsubscribed).toBe(1);
		expect(contact?.subscription?.status).toBe(inSubscribed ? 'subscribed' : 'unsubscribed');
		const changes = (await reader.events.history('flip', 500)).filter((e) => e.name === '$subscription_changed');
		expect(changes.length).toBe(contact?.events.$subscription_changed.count);
	}, 30_000);
});
