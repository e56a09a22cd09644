/**
 * Topics on a real Redis (and the cluster when the run has one): declarations, per-contact choices
 * written whole by one script (hash field, shard index, $topic_changed), Send Campaign skipping a
 * topic's unsubscribers, the segment condition and the trigger filter.
 */
import { closeAllStores } from '../../lib/redis/pool';
import { Campaigns, type CampaignSpec } from '../../lib/campaigns';
import { Segments } from '../../lib/segments';
import { compileFilter, type LogEvent } from '../../lib/triggers';
import { Topics, topicsOf, TOPIC_LIMITS } from '../../lib/topics';
import { openStore, topologies } from '../harness/store';

const SECRET = 'topics-signing-secret-0123456789';

afterAll(() => closeAllStores());

describe.each(topologies)('topics on %s Redis', (topology) => {
	const { store } = openStore(topology);
	const topics = new Topics(store);
	const campaigns = new Campaigns(store);
	const segments = new Segments(store);
	const { keys } = store;
	const index = (topic: string, id: string) => keys.index(keys.shardOfContact(id), `topic:${topic}`);
	const core = (id: string) => store.call((r) => r.hgetall(keys.contact(id)));
	const topicEvents = async (id: string) =>
		(await store.events.history(id, 100)).filter((e) => e.name === '$topic_changed').map((e) => e.properties);

	beforeAll(async () => {
		await topics.declare([
			{ name: 'newsletter', label: 'Newsletter', description: 'Once a month' },
			{ name: 'offers' },
			{ name: 'product-updates', label: 'Product updates' },
		]);
		const [...results] = await store.contacts.upsert(
			['ada', 'bob', 'cy', 'dee', 'gone'].map((id) => ({
				id,
				email: `${id}@example.com`,
				subscription: { status: 'subscribed' as const, source: 'form' },
			})),
		);
		expect(results.every((r) => r.ok)).toBe(true);
	});

	describe('declarations', () => {
		it('lists the declared topics by name, with label (default the name) and description', async () => {
			expect(await topics.list()).toEqual([
				{ name: 'newsletter', label: 'Newsletter', description: 'Once a month' },
				{ name: 'offers', label: 'offers' },
				{ name: 'product-updates', label: 'Product updates' },
			]);
		});

		it('refuses a bad name or too many topics, naming the field, and writes nothing', async () => {
			await expect(topics.declare([{ name: 'a:b' }])).rejects.toMatchObject({ field: 'topics[0].name' });
			await expect(topics.declare([{ name: 'ok' }, { name: '' }])).rejects.toMatchObject({ field: 'topics[1].name' });
			const many = Array.from({ length: TOPIC_LIMITS.topics }, (_, i) => ({ name: `t${i}` }));
			await expect(topics.declare(many)).rejects.toThrow(`the limit is ${TOPIC_LIMITS.topics}`);
			expect((await topics.list()).map((t) => t.name)).toEqual(['newsletter', 'offers', 'product-updates']);
		});

		it('deletes a declaration and says which names were unknown', async () => {
			await topics.declare([{ name: 'temporary' }]);
			expect(await topics.remove(['temporary', 'never'])).toEqual({ removed: ['temporary'], unknown: ['never'] });
			expect((await topics.list()).map((t) => t.name)).not.toContain('temporary');
		});
	});

	describe('a contact subscribes and unsubscribes per topic', () => {
		it('writes the hash field, the shard index and one $topic_changed per change, in one script', async () => {
			const [r] = await topics.set([{ contactId: 'ada', subscribe: ['newsletter', 'offers'] }], { source: 'test' });
			expect(r).toEqual({
				ok: true,
				value: {
					contactId: 'ada',
					changed: [
						{ topic: 'newsletter', from: null, to: 'subscribed' },
						{ topic: 'offers', from: null, to: 'subscribed' },
					],
				},
			});
			expect(await core('ada')).toMatchObject({ 'topic:newsletter': '1', 'topic:offers': '1' });
			expect(await store.call((c) => c.sismember(index('newsletter', 'ada'), 'ada'))).toBe(1);

			const [again] = await topics.set([{ contactId: 'ada', subscribe: ['newsletter'], unsubscribe: ['offers'] }]);
			expect(again.ok && again.value.changed).toEqual([{ topic: 'offers', from: 'subscribed', to: 'unsubscribed' }]);
			expect(await store.call((c) => c.sismember(index('offers', 'ada'), 'ada'))).toBe(0);
			expect((await core('ada'))['topic:offers']).toBe('0');
			// Counted: two changes, then one; setting a topic to its state again logs nothing.
			expect(await topicEvents('ada')).toEqual([
				{ topic: 'offers', from: 'subscribed', to: 'unsubscribed' },
				{ topic: 'offers', from: null, to: 'subscribed' },
				{ topic: 'newsletter', from: null, to: 'subscribed' },
			]);
			const contact = await store.contacts.getOne('ada');
			expect(topicsOf(contact as NonNullable<typeof contact>)).toEqual({
				newsletter: 'subscribed',
				offers: 'unsubscribed',
			});
		});

		it('refuses unknown topics by name and a topic on both lists, writing nothing', async () => {
			const before = await core('bob');
			const results = await topics.set([
				{ contactId: 'bob', subscribe: ['newsletter', 'sports', 'weather'] },
				{ contactId: 'bob', subscribe: ['offers'], unsubscribe: ['offers'] },
				{ contactId: 'bob', unsubscribe: ['bad name'] },
				{ contactId: 'nobody', subscribe: ['newsletter'] },
			]);
			expect(results.map((r) => !r.ok && { name: r.error.name, message: r.error.message })).toEqual([
				{ name: 'ValidationError', message: 'Unknown topics "sports", "weather"' },
				{ name: 'ValidationError', message: 'Topic "offers" is both subscribed and unsubscribed' },
				{ name: 'ValidationError', message: '"bad name" is not a valid topic name' },
				{ name: 'NotFoundError', message: 'The contact does not exist' },
			]);
			expect((results[0] as unknown as { error: { field: string; hint: string } }).error).toMatchObject({
				field: 'subscribe',
				hint: expect.stringContaining('Declared topics: newsletter, offers, product-updates'),
			});
			expect(await core('bob')).toEqual(before);
			expect(await topicEvents('bob')).toEqual([]);
			expect(await store.call((c) => c.exists(keys.contact('nobody')))).toBe(0);
		});

		it('erase removes the contact from the topic indexes', async () => {
			await topics.set([{ contactId: 'gone', subscribe: ['product-updates'] }]);
			expect(await store.call((c) => c.sismember(index('product-updates', 'gone'), 'gone'))).toBe(1);
			await store.contacts.erase(['gone']);
			expect(await store.call((c) => c.sismember(index('product-updates', 'gone'), 'gone'))).toBe(0);
		});
	});

	describe('Send Campaign on a topic', () => {
		const spec = (id: string, over: Partial<CampaignSpec> = {}): CampaignSpec => ({
			id,
			fromEmail: 'news@shop.example',
			subject: 'Hi',
			html: '<p>Hi</p>',
			trackingBaseUrl: 'https://hooks.shop.example/webhook/x',
			signingSecret: SECRET,
			topic: 'offers',
			...over,
		});

		it('skips the contacts unsubscribed from the topic with a clear reason; never-chose and subscribed get it', async () => {
			await topics.set([
				{ contactId: 'bob', subscribe: ['offers'] },
				{ contactId: 'cy', unsubscribe: ['offers'], subscribe: ['newsletter'] },
			]);
			// ada left offers, cy too; bob chose it; dee never chose.
			const results = await campaigns.send(
				spec(`offers-${topology}`),
				['ada', 'bob', 'cy', 'dee'].map((contactId) => ({ contactId })),
				{ mode: 'render' },
			);
			const outcome = results.map((r) =>
				r.ok ? [r.value.status, 'reason' in r.value ? r.value.reason : ''] : r.error,
			);
			expect(outcome).toEqual([
				['skipped', 'topic_unsubscribed'],
				['sent', ''],
				['skipped', 'topic_unsubscribed'],
				['sent', ''],
			]);
			expect(results[0]).toMatchObject({ value: { detail: 'Unsubscribed from topic "offers"' } });
			// Another topic of cy's is not affected.
			const [news] = await campaigns.send(spec(`news-${topology}`, { topic: 'newsletter' }), [{ contactId: 'cy' }], {
				mode: 'render',
			});
			expect(news.ok && news.value.status).toBe('sent');
		});

		it('the global status still wins over a topic subscription', async () => {
			await store.contacts.change([{ id: 'bob', subscription: { status: 'unsubscribed', source: 'test' } }], 'update');
			const [r] = await campaigns.send(spec(`global-${topology}`), [{ contactId: 'bob' }], { mode: 'render' });
			expect(r.ok && r.value).toMatchObject({ status: 'skipped', reason: 'unsubscribed' });
			await store.contacts.change([{ id: 'bob', subscription: { status: 'subscribed', source: 'test' } }], 'update');
		});

		it('refuses an unknown topic by name, and a topic on a transactional mail', async () => {
			await expect(
				campaigns.send(spec(`unknown-${topology}`, { topic: 'sports' }), [{ contactId: 'dee' }], { mode: 'render' }),
			).rejects.toMatchObject({ field: 'topic', message: 'Unknown topic "sports"' });
			await expect(
				campaigns.send(spec(`tx-${topology}`, { transactional: true }), [{ contactId: 'dee' }], { mode: 'render' }),
			).rejects.toMatchObject({ field: 'topic' });
			// Nothing was reserved or sent for dee.
			expect(await campaigns.sendRecord('dee', `unknown-${topology}`)).toBeNull();
		});
	});

	describe('Segment Filter and Contact Trigger', () => {
		it('"subscribed" reads the index, "unsubscribed" and "not unsubscribed" the hash fields', async () => {
			const ids = ['ada', 'bob', 'cy', 'dee'];
			const matched = async (operator: 'subscribed' | 'unsubscribed' | 'notUnsubscribed') => {
				const results = await segments.evaluate({ type: 'topic', operator, topic: 'offers' }, ids);
				return ids.filter((_, i) => {
					const r = results[i];
					return r.ok && r.value.matched;
				});
			};
			expect(await matched('subscribed')).toEqual(['bob']);
			expect(await matched('unsubscribed')).toEqual(['ada', 'cy']);
			expect(await matched('notUnsubscribed')).toEqual(['bob', 'dee']);
			const compiled = segments.compile({ type: 'topic', operator: 'subscribed', topic: 'offers' });
			expect(compiled.sources).toEqual([expect.objectContaining({ kind: 'sets', names: ['topic:offers'] })]);
			const page = await segments.page({ type: 'topic', operator: 'subscribed', topic: 'offers' });
			expect(page.contacts.map((c) => c.contactId)).toEqual(['bob']);
			// An undeclared topic is refused by name, in both modes.
			const sports = { type: 'topic', operator: 'notUnsubscribed', topic: 'sports' } as const;
			await expect(segments.evaluate(sports, ids)).rejects.toMatchObject({
				field: 'topic',
				message: 'Unknown topic "sports"',
			});
			await expect(segments.page(sports)).rejects.toMatchObject({ field: 'topic' });
			expect(() => segments.compile({ type: 'topic', operator: 'is' as 'subscribed', topic: 'offers' })).toThrow(
				'Unknown operator "is"',
			);
		});

		it('a topicChanged trigger matches $topic_changed by topic and new state', () => {
			const event = (properties: Record<string, unknown>): LogEvent => ({
				id: '1-0',
				shard: 0,
				contactId: 'ada',
				name: '$topic_changed',
				time: 0,
				properties,
				source: 'test',
				chain: [],
				attempt: 1,
			});
			const left = compileFilter({ kind: 'topicChanged', topics: ['offers'], to: ['unsubscribed'] });
			expect(left(event({ topic: 'offers', from: 'subscribed', to: 'unsubscribed' }))).toBe(true);
			expect(left(event({ topic: 'offers', from: null, to: 'subscribed' }))).toBe(false);
			expect(left(event({ topic: 'newsletter', from: null, to: 'unsubscribed' }))).toBe(false);
			expect(compileFilter({ kind: 'topicChanged' })(event({ topic: 'x', to: 'subscribed' }))).toBe(true);
			expect(() => compileFilter({ kind: 'topicChanged', to: ['maybe'] })).toThrow('"maybe" is not a topic state');
		});
	});
});
