/**
 * Contact node, resource Dead Letter, in n8n's real execution engine: List, Replay and Purge the
 * events a Contact Trigger gave up on, and the Trigger list (loadOptions) that names them.
 */
import type { IDataObject } from 'n8n-workflow';
import { Contact } from '../../nodes/Contact/Contact.node';
import { DeadLetters } from '../../lib/triggers';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { storeConfig, topologies } from '../harness/store';
import { contactStoreCredentials, runNode, type InputItem } from '../harness/n8n';

afterAll(() => closeAllStores());

describe.each(topologies)('Contact node, Dead Letter, on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const prefix = credentials.contactStoreApi.keyPrefix as string;
	const { store } = acquireStore(storeConfig(topology, prefix));
	const trigger = 'ct:wf-dl:node-1';
	const run = async (parameters: IDataObject, items: InputItem[] = [{}], continueOnFail = false) => {
		const [out] = await runNode({
			nodeType: new Contact(),
			parameters: { resource: 'deadLetter', trigger, ...parameters } as never,
			items,
			credentials,
			continueOnFail,
		});
		return out.map((i) => i.json);
	};

	/** Dead letters as the trigger leaves them: events recorded, delivered, given up. */
	async function deadLetter(contactIds: string[]): Promise<string[]> {
		const recorded = await store.events.record(
			contactIds.map((contactId) => ({ contactId, name: 'order_paid', properties: { total: 42 } })),
		);
		const ids: string[] = [];
		for (const [i, r] of recorded.entries()) {
			if (!r.ok) throw r.error;
			const shard = store.keys.shardOfContact(contactIds[i]);
			const log = store.keys.log(shard);
			await store.run((await import('../../lib/redis/scripts')).scripts.ensureGroup, [log], [trigger, '0', '0']);
			await store.call((c) => c.xreadgroup('GROUP', trigger, 'gone-main', 'COUNT', 1000, 'STREAMS', log, '>'));
			await new DeadLetters(store, trigger).add(
				shard,
				[{ id: r.value.eventId!, attempts: 5 }],
				'Send Campaign: SMTP refused the login',
				'Orders / Contact Trigger',
			);
			ids.push(r.value.eventId!);
		}
		return ids;
	}

	it('lists the dead letters of the trigger chosen in the list, replays some by ID, purges the rest', async () => {
		const eventIds = await deadLetter(['dl-a', 'dl-b', 'dl-c']);
		const contact = new Contact();
		const options = await contact.methods.loadOptions.deadLetterTriggers.call({
			getCredentials: async () => credentials.contactStoreApi,
		} as never);
		expect(options).toContainEqual({ name: 'Orders / Contact Trigger (3)', value: trigger, description: trigger });

		const listed = await run({ operation: 'list', limit: 10 });
		expect(listed).toHaveLength(3);
		expect(listed.map((l) => l.contactId).sort()).toEqual(['dl-a', 'dl-b', 'dl-c']);
		expect(listed[0]).toMatchObject({
			trigger,
			attempts: 5,
			reason: 'Send Campaign: SMTP refused the login',
			event: { name: 'order_paid', properties: { total: 42 } },
		});
		expect(eventIds).toContain((listed[0].event as IDataObject).id);

		const one = listed.find((l) => l.contactId === 'dl-b')!;
		expect(await run({ operation: 'replay', ids: String(one.id) })).toEqual([{ trigger, replayed: 1, remaining: 2 }]);
		// Back in the event log, for this trigger only, with its original event id.
		const log = (await store.call((c) =>
			c.xrevrange(store.keys.log(store.keys.shardOfContact('dl-b')), '+', '-', 'COUNT', 1),
		)) as Array<[string, string[]]>;
		const fields = Object.fromEntries(
			log[0][1].reduce<string[][]>((pairs, v, i, all) => (i % 2 ? pairs : [...pairs, [v, all[i + 1]]]), []),
		);
		expect(fields).toMatchObject({ c: 'dl-b', n: 'order_paid', rg: trigger, ro: (one.event as IDataObject).id });

		expect(await run({ operation: 'purge', limit: 1000 })).toEqual([{ trigger, purged: 2, remaining: 0 }]);
		expect(await run({ operation: 'list' })).toEqual([]);
	});

	it('refuses a bad limit or dead-letter ID, naming the parameter; with Continue On Fail, as the item', async () => {
		await expect(run({ operation: 'list', limit: 0 })).rejects.toThrow(
			/Limit must be a whole number from 1 to 1000 \(got 0\) \(item 0, field "Limit"\)/,
		);
		const [failed] = await run({ operation: 'purge', ids: 'not-an-id' }, [{}], true);
		expect(failed.error).toMatch(/"not-an-id" is not a dead-letter id .* \(item 0, field "Dead Letter IDs"\)/);
	});
});
