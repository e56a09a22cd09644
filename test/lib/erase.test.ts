/**
 * GDPR art. 17 end to end: a contact with everything the pack can hold on it (fields, tags,
 * events, scores, tiers, sends with their Message-ID lookups, tracking hits, Loop Guard entries,
 * bounces, schedule and trigger-stream entries) is erased; then every key of the workspace is
 * scanned and every value read, on standalone Redis and on the cluster. Nothing may name the
 * contact. A second contact, not erased, must still be found: the scan can see what it looks for.
 */
import type { Cluster, Redis } from 'ioredis';
import { closeAllStores } from '../../lib/redis/pool';
import { Campaigns } from '../../lib/campaigns';
import { EngagementTagger } from '../../lib/engagement';
import { LoopGuard } from '../../lib/loops';
import { Scoring } from '../../lib/scoring';
import { WebhookHandler } from '../../lib/tracking';
import { DateSchedule } from '../../lib/triggers';
import { SHARD_COUNT } from '../../lib/keys';
import { openStore, topologies } from '../harness/store';

const SECRET = 'erase-test-signing-secret-0123456789';
const HUMAN = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

afterAll(() => closeAllStores());

/** Every key under the prefix, on every master, with its value as text. */
async function dump(redis: Redis | Cluster, prefix: string): Promise<Map<string, string>> {
	const nodes =
		'nodes' in redis && typeof redis.nodes === 'function' && (redis as Cluster).isCluster
			? (redis as Cluster).nodes('master')
			: [redis as Redis];
	const out = new Map<string, string>();
	for (const node of nodes) {
		let cursor = '0';
		do {
			const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
			cursor = next;
			for (const key of keys) {
				const type = await node.type(key);
				const value =
					type === 'string'
						? await node.get(key)
						: type === 'hash'
							? await node.hgetall(key)
							: type === 'set'
								? await node.smembers(key)
								: type === 'zset'
									? await node.zrange(key, 0, -1, 'WITHSCORES')
									: type === 'list'
										? await node.lrange(key, 0, -1)
										: type === 'stream'
											? await node.xrange(key, '-', '+')
											: `unread type ${type}`;
				out.set(key, JSON.stringify(value));
			}
		} while (cursor !== '0');
	}
	return out;
}

/** Keys whose name or value contains any of the needles (case-insensitive), with what was found. */
function occurrences(keys: Map<string, string>, needles: string[]): string[] {
	const found: string[] = [];
	for (const [key, value] of keys) {
		const text = `${key}\n${value}`.toLowerCase();
		for (const needle of needles)
			if (text.includes(needle.toLowerCase())) found.push(`${key}: ${needle} in ${value.slice(0, 200)}`);
	}
	return found;
}

describe.each(topologies)('GDPR erase on %s Redis', (topology) => {
	const { store, clock, config } = openStore(topology);
	const campaigns = new Campaigns(store);
	const tracking = new WebhookHandler(store, { signingSecret: SECRET, secrets: { sharedSecret: 'crm-secret' } });

	/** Gives the contact (id = its e-mail) everything the pack can store about it. */
	async function everything(email: string, marker: string): Promise<string> {
		// Created from its e-mail alone: the address becomes its id.
		const [created] = await store.contacts.upsert([
			{
				email,
				timezone: 'Europe/Berlin',
				lifecycleStage: 'customer',
				fields: {
					name: `Name ${marker}`,
					phone: `+49 30 ${marker}`,
					birthday: { value: '1990-03-11', type: 'date' },
					plan: 'pro',
				},
				addTags: ['vip', `tag-${marker}`],
				subscription: { status: 'subscribed', source: `form ${marker}` },
			},
		]);
		if (!created.ok) throw created.error;
		const id = created.value.contactId;
		expect(id).toBe(email);
		const ingest = await tracking.handle('events', {
			method: 'POST',
			headers: { 'x-webhook-secret': 'crm-secret' },
			rawBody: JSON.stringify({
				email,
				event: 'order_placed',
				properties: { order: `order ${marker}` },
				idempotencyKey: `idem-${marker}`,
				fields: { city: `City ${marker}` },
			}),
			params: {},
		});
		expect(ingest.status).toBe(200);
		const scored = await new Scoring(store).score(
			{
				name: 'fit',
				grades: [{ name: 'cold' }, { name: 'hot', min: 5 }],
				rules: [{ name: 'order', event: 'order_placed', points: 10 }],
			},
			[{ contactId: id, event: { name: 'order_placed', id: `score-${marker}` } }],
		);
		expect(scored[0].ok).toBe(true);
		expect((await new EngagementTagger(store).tag([id]))[0].ok).toBe(true);
		expect(
			(
				await new LoopGuard(store).check([
					{ key: id, scope: { kind: 'workflow' }, workflowId: 'wf-1', rules: { maxEntries: 3, windowMs: 3_600_000 } },
				])
			)[0].ok,
		).toBe(true);
		const schedule = new DateSchedule(store, `birthday-${email.slice(0, 4)}`, {
			field: 'birthday',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
			fallbackZone: 'UTC',
		});
		await schedule.prepare();

		// Two sends: each leaves a Message-ID lookup key naming the contact.
		const sends = [];
		for (const campaignId of ['welcome', 'spring']) {
			const [sent] = await campaigns.send(
				{
					id: campaignId,
					fromEmail: 'news@shop.example',
					subject: 'Hi {{ contact.fields.name }}',
					html: '<a href="https://shop.example/sale">Sale</a>',
					trackingBaseUrl: 'http://127.0.0.1/t',
					signingSecret: SECRET,
					trackOpens: true,
					trackClicks: true,
				},
				[{ contactId: id }],
				{ mode: 'render' },
			);
			if (!sent.ok || sent.value.status !== 'sent') throw new Error(`send failed: ${JSON.stringify(sent)}`);
			sends.push(sent.value);
		}
		expect(
			(await campaigns.lookupMessages(sends.map((s) => s.messageId))).map((r) => r.ok && r.value?.contactId),
		).toEqual([id, id]);
		clock.advance(60_000);
		const html = sends[0].message?.html ?? '';
		const token = (kind: string) => (new RegExp(`/t/${kind}/([\\w-]+)`).exec(html) as RegExpExecArray)[1];
		expect(
			(
				await tracking.handle('open', {
					method: 'GET',
					headers: { 'user-agent': HUMAN },
					rawBody: '',
					params: { token: token('o') },
				})
			).status,
		).toBe(200);
		expect(
			(
				await tracking.handle('click', {
					method: 'GET',
					headers: { 'user-agent': HUMAN },
					rawBody: '',
					params: { token: token('c') },
				})
			).status,
		).toBe(302);
		const bounce = await campaigns.recordOutcomes([
			{
				contactId: id,
				campaignId: 'spring',
				kind: 'bounced',
				bounceType: 'soft',
				status: '4.2.2',
				diagnostic: `mailbox of ${email} full`,
				messageId: sends[1].messageId,
			},
		]);
		expect(bounce[0].ok).toBe(true);
		return id;
	}

	it('leaves no key and no value naming the contact, its e-mail or its data', async () => {
		const email = `erase.me+${topology}@example.com`;
		const keeper = `keep.me+${topology}@example.com`;
		const id = await everything(email, 'ZQ7731');
		await everything(keeper, 'KP4410');

		// A trigger reading the event log: its pending entries stay in the group after erase.
		for (let shard = 0; shard < SHARD_COUNT; shard++) {
			const log = store.keys.log(shard);
			if (!(await store.call((r) => r.exists(log)))) continue;
			await store.call((r) => r.xgroup('CREATE', log, 'erase-test', '0'));
			await store.call((r) => r.xreadgroup('GROUP', 'erase-test', 'reader', 'COUNT', 1000, 'STREAMS', log, '>'));
		}

		const needles = [email, 'erase.me', 'ZQ7731'];
		const before = occurrences(await dump(store.redis, config.keyPrefix as string), needles);
		expect(before.some((o) => o.includes(':msgid:'))).toBe(true);
		expect(before.length).toBeGreaterThan(20);

		const [erased] = await store.contacts.erase([id]);
		expect(erased).toEqual({ ok: true, value: { contactId: id, erased: true } });

		const after = await dump(store.redis, config.keyPrefix as string);
		expect(occurrences(after, needles)).toEqual([]);
		// The other contact is all there: the scan sees what it looks for.
		expect(occurrences(after, [keeper, 'KP4410']).length).toBeGreaterThan(20);
		expect(await store.contacts.getOne(keeper)).toMatchObject({ email: keeper });
	});
});
