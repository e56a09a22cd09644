/**
 * The event log's retention (lib/redis/lua/events.lua trim_log): an entry stays while a trigger
 * (consumer group) still needs it, and the last logKeep entries per shard stay in any case; older
 * ones go, so the log of a base whose triggers keep up costs a fixed tail, not one entry per event.
 */
import { SHARD_KEY_PARTS } from '../../lib/keys';
import { closeAllStores } from '../../lib/redis/pool';
import { EventLogConsumer, type LogEvent } from '../../lib/triggers';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const LOG_KEEP = 100;
/** Approximate trimming drops whole stream nodes: at most 100 entries (stream-node-max-entries) more stay. */
const NODE = 100;

describe.each(topologies)('event log retention on %s Redis', (topology) => {
	const ctx = openStore(topology, { limits: { logKeep: LOG_KEEP } });
	const { store } = ctx;
	let seq = 0;

	/** A contact of its own per test, and its shard's log (the other tests' contacts are elsewhere or counted out). */
	const fresh = () => {
		const contactId = `log-${topology}-${++seq}`;
		const shard = store.keys.shardOfContact(contactId);
		return { contactId, shard, log: store.keys.log(shard) };
	};
	/** `count` events of one name (a name keeps at most perNameMax, 1,000: the cap would drop older ones). */
	const record = async (contactId: string, count: number, name = 'tick') => {
		const ids: string[] = [];
		for (let from = 0; from < count; from += 250) {
			const results = await store.events.record(
				Array.from({ length: Math.min(250, count - from) }, (_, k) => ({
					contactId,
					name,
					properties: { n: from + k },
				})),
			);
			for (const r of results) {
				if (!r.ok) throw r.error;
				ids.push(r.value.eventId!);
			}
		}
		return ids;
	};
	const logIds = async (log: string) => (await store.call((r) => r.xrange(log, '-', '+'))).map(([id]) => id);
	/** About the last logKeep entries of `logged` are kept in the log, and the oldest is gone. */
	const expectNewestKept = async (log: string, logged: string[]) => {
		const kept = await logIds(log);
		expect(kept.length).toBeGreaterThanOrEqual(LOG_KEEP);
		expect(kept.length).toBeLessThanOrEqual(LOG_KEEP + LOG_KEEP / 10 + NODE);
		const sorted = [...logged].sort((a, b) => {
			const [am, as] = a.split('-').map(Number);
			const [bm, bs] = b.split('-').map(Number);
			return am - bm || as - bs;
		});
		expect(kept.slice(-LOG_KEEP)).toEqual(sorted.slice(-LOG_KEEP));
		expect(kept).not.toContain(sorted[0]);
	};
	/** The ids of `wanted` that are not in `ids`. */
	const missing = (ids: string[], wanted: string[]) => {
		const present = new Set(ids);
		return wanted.filter((id) => !present.has(id));
	};

	it('keeps about the last logKeep entries per shard once no trigger needs older ones', async () => {
		const { contactId, log } = fresh();
		const ids = await record(contactId, 1000);
		const kept = await logIds(log);
		expect(kept.length).toBeGreaterThanOrEqual(LOG_KEEP);
		expect(kept.length).toBeLessThanOrEqual(LOG_KEEP + LOG_KEEP / 10 + NODE);
		// The newest logKeep are all there; the contact's first events are gone from the log only.
		expect(kept.slice(-LOG_KEEP)).toEqual(ids.slice(-LOG_KEEP));
		expect(kept).not.toContain(ids[0]);
		const history = await store.events.history(contactId, 2000);
		expect(history).toHaveLength(1001);
		expect(history.at(-2)).toMatchObject({ id: ids[0], properties: { n: 0 } });
		expect(await store.events.countSince(contactId, 'tick', 0)).toBe(1000);
	});

	it('keeps about the last logKeep entries when contacts are created and changed in bulk (counted once per call)', async () => {
		const { contactId, shard, log } = fresh();
		const ids: string[] = [];
		for (let n = 0; ids.length < 500; n++)
			if (store.keys.shardOfContact(`${contactId}-${n}`) === shard) ids.push(`${contactId}-${n}`);
		const logged: string[] = [];
		// Each batch creates 125 contacts and changes the 125 created before it: $contact_created
		// and $field_changed entries of one script call.
		for (let from = 0; from < ids.length; from += 125) {
			const results = await store.contacts.upsert([
				...ids.slice(from, from + 125).map((id) => ({ id, fields: { step: 1 } })),
				...ids.slice(Math.max(0, from - 125), from).map((id) => ({ id, fields: { step: 2 } })),
			]);
			for (const r of results) {
				if (!r.ok) throw r.error;
				logged.push(...r.value.events.map((e) => e.id));
			}
		}
		await expectNewestKept(log, logged);
	});

	it('keeps about the last logKeep entries when events of many contacts are recorded in bulk (every append counted)', async () => {
		const { contactId, shard, log } = fresh();
		const ids: string[] = [];
		for (let n = 0; ids.length < 200; n++)
			if (store.keys.shardOfContact(`${contactId}-${n}`) === shard) ids.push(`${contactId}-${n}`);
		const appends = async () =>
			Number(await store.call((r) => r.hget(`${store.keys.shard(shard)}:${SHARD_KEY_PARTS.logMarks}`, 'n')));
		const before = await appends();
		const logged: string[] = [];
		// Batches of 500 events over 200 contacts: each script call appends the events of a chunk of
		// them (and, in the first batch, their $contact_created) and counts them once.
		for (let from = 0; from < 2000; from += 500) {
			const results = await store.events.record(
				Array.from({ length: 500 }, (_, k) => ({ contactId: ids[(from + k) % ids.length], name: 'tick' })),
			);
			for (const r of results) {
				if (!r.ok) throw r.error;
				logged.push(r.value.eventId!);
			}
		}
		// Every append counted, once: 2,000 events and 200 $contact_created.
		expect((await appends()) - before).toBe(2200);
		await expectNewestKept(log, logged);
	});

	it('keeps every entry a trigger has not delivered, and every delivered one not yet acknowledged', async () => {
		const { contactId, log } = fresh();
		const group = `ct:log-${topology}-${seq}`;
		await store.call((r) => r.xgroup('CREATE', log, group, '$', 'MKSTREAM'));
		const ids = await record(contactId, 1000);
		// Nothing read yet: every entry stays.
		expect(missing(await logIds(log), ids)).toEqual([]);

		// 600 delivered (the contact's $contact_created first); the 250th event not acknowledged (its
		// execution still runs).
		const read = (await store.call((r) =>
			r.xreadgroup('GROUP', group, 'reader', 'COUNT', 600, 'STREAMS', log, '>'),
		)) as Array<[string, Array<[string, string[]]>]>;
		const readIds = read[0][1].map(([id]) => id);
		const delivered = readIds.filter((id) => ids.includes(id)).length;
		expect(readIds.slice(-delivered)).toEqual(ids.slice(0, delivered));
		const running = ids[249];
		await store.call((r) => r.xack(log, group, ...readIds.filter((id) => id !== running)));
		const more = await record(contactId, 1000, 'tock');
		const kept = await logIds(log);
		// The entry still pending stays, with all after it; those before its stream node went.
		expect(missing(kept, [...ids.slice(249), ...more])).toEqual([]);
		expect(kept).not.toContain(ids[0]);
		expect(kept.length).toBeLessThanOrEqual(751 + 1000 + NODE);

		// Acknowledged: only the undelivered and the tail stay.
		await store.call((r) => r.xack(log, group, running));
		await record(contactId, 100, 'tack');
		const after = await logIds(log);
		expect(missing(after, [...ids.slice(delivered), ...more])).toEqual([]);
		expect(after).not.toContain(running);
	});

	it('a trigger activated later with Catch Up gets the entries still in the log, oldest first', async () => {
		const { contactId, log } = fresh();
		const ids = await record(contactId, 1000);
		const left = await logIds(log);
		const got: LogEvent[] = [];
		const trigger = new EventLogConsumer(store, {
			group: `ct:catchup-${topology}-${seq}`,
			startFrom: 'catchUp',
			blockMs: 200,
			concurrency: 1,
			filter: (e) => e.contactId === contactId,
			handler: async (events) => void got.push(...events),
		});
		await trigger.start();
		try {
			const deadline = Date.now() + 20_000;
			while (got.length < left.filter((id) => ids.includes(id)).length && Date.now() < deadline)
				await new Promise((r) => setTimeout(r, 20));
		} finally {
			await trigger.stop();
		}
		expect(got.map((e) => e.id)).toEqual(left.filter((id) => ids.includes(id)));
		expect(got.length).toBeGreaterThanOrEqual(LOG_KEEP);
		expect(got.at(-1)).toMatchObject({ name: 'tick', properties: { n: 999 } });
	});
});
