/**
 * A write script call that Redis ran but whose answer never reached the client: ioredis sends it
 * again on its new connection (standalone: the commands left unanswered; cluster: the commands a
 * closed node connection failed, after the slots are refreshed). A TCP proxy between the client and
 * the real Redis lets the call through and resets the connection when the answer comes. The call's
 * replay guard (lib/redis/lua/replay_guard.lua) makes the resend answer what the first run did and
 * write nothing: effects once, the caller's answer right. Then the guard's two tiers, on direct
 * script calls: the answer kept REPLAY_ANSWER_MS, the mark that the call ran REPLAY_GUARD_MS (a test
 * deletes an answer key to stand for its expiry), and what erase withholds.
 */
import { createHash } from 'crypto';
import type { Cluster } from 'ioredis';
import {
	CONTACT_KEY_SUFFIXES,
	encodeKeyPart,
	REPLAY_ANSWER_MS,
	REPLAY_GUARD_MS,
	SHARD_KEY_PARTS,
} from '../../lib/keys';
import { ValidationError } from '../../lib/errors';
import { createClient, type RedisClient } from '../../lib/redis/connection';
import { closeAllStores } from '../../lib/redis/pool';
import { replayToken } from '../../lib/redis/replayGuard';
import { scripts, type Script } from '../../lib/redis/scripts';
import { ContactStore } from '../../lib/store';
import { Campaigns } from '../../lib/campaigns';
import { DeadLetters } from '../../lib/triggers/deadLetters';
import { LoopGuard, type LoopRules } from '../../lib/loops';
import { startTcpProxy, type TcpProxy } from '../harness/tcpProxy';
import { openStore, storeConfig, TestClock, topologies, type Topology } from '../harness/store';

afterAll(() => closeAllStores());

/** A request naming a replay guard: a guarded write script call. */
const GUARDED_CALL = Buffer.from(`:${SHARD_KEY_PARTS.replayGuards}:`);
const isGuardedCall = (request: Buffer) => request.includes(GUARDED_CALL);
/** A request calling the script: EVALSHA names it by the SHA-1 of its text, as ioredis computes it. */
const callOf = (script: Script) => {
	const sha = Buffer.from(createHash('sha1').update(script.lua).digest('hex'));
	return (request: Buffer) => request.includes(sha);
};

/** A store whose client reaches Redis (every cluster node) through proxies the test controls. */
async function storeThroughProxies(topology: Topology) {
	const config = storeConfig(topology);
	const ports = config.clusterNodes ? config.clusterNodes.map((node) => Number(node.split(':')[1])) : [config.port];
	const proxies = new Map<number, TcpProxy>();
	for (const port of ports) proxies.set(port, await startTcpProxy({ port }));
	const first = proxies.get(ports[0])!;
	const client: RedisClient = createClient(
		config.clusterNodes ? { ...config, clusterNodes: [`127.0.0.1:${first.port}`] } : { ...config, port: first.port },
	);
	if (config.clusterNodes) {
		// The nodes announce their own ports: the client is sent to the proxy of each instead.
		(client as Cluster).options.natMap = Object.fromEntries(
			[...proxies].map(([port, proxy]) => [`127.0.0.1:${port}`, { host: '127.0.0.1', port: proxy.port }]),
		);
	}
	client.on('error', () => undefined);
	const clock = new TestClock();
	const store = new ContactStore(client, config.keyPrefix, { now: clock.now });
	/** Loses the answer of the next matching call (a guarded one by default), whichever node it goes to. */
	const loseNextReply = (matches: (request: Buffer) => boolean = isGuardedCall) => {
		let lost!: () => void;
		const done = new Promise<void>((resolve) => (lost = resolve));
		for (const proxy of proxies.values()) void proxy.loseNextReply(matches).then(lost);
		return done.then(() => {
			// The other proxies stay armed otherwise: disarm them with a request that never comes.
			for (const proxy of proxies.values()) void proxy.loseNextReply(() => false);
		});
	};
	const accepted = () => [...proxies.values()].reduce((sum, proxy) => sum + proxy.accepted, 0);
	const close = async () => {
		await client.quit().catch(() => undefined);
		client.disconnect();
		await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
	};
	/** Contact ids of one shard: a batch of their items is one script call. */
	const sameShard = (tag: string, count: number) => {
		const ids: string[] = [];
		for (let n = 0; ids.length < count; n++)
			if (store.keys.shardOfContact(`${tag}-${n}`) === store.keys.shardOfContact(`${tag}-0`)) ids.push(`${tag}-${n}`);
		return ids;
	};
	return { store, loseNextReply, sameShard, accepted, close };
}

describe.each(topologies)('a write call resent after its answer was lost, on %s Redis', (topology) => {
	let env: Awaited<ReturnType<typeof storeThroughProxies>>;
	beforeAll(async () => {
		env = await storeThroughProxies(topology);
	});
	afterAll(() => env.close());

	const sameShard = (tag: string, count: number) => env.sameShard(tag, count);

	it('records a batch of events once and answers each event its id', async () => {
		const { store } = env;
		const contacts = sameShard(`ev-${topology}`, 5);
		// The script is in Redis's cache first, so the lost call is the one that runs it.
		expect((await store.events.record([{ contactId: contacts[0], name: 'warm-up' }]))[0].ok).toBe(true);
		const batch = Array.from({ length: 60 }, (_, n) => ({
			contactId: contacts[n % contacts.length],
			name: 'resent',
			properties: { n },
		}));
		const connections = env.accepted();
		const lost = env.loseNextReply();
		const results = await store.events.record(batch);
		await lost;
		expect(env.accepted()).toBeGreaterThan(connections);

		const ids = results.map((r) => {
			if (!r.ok) throw r.error;
			expect(r.value.duplicate).toBe(false);
			return r.value.eventId!;
		});
		expect(new Set(ids).size).toBe(batch.length);
		// Each event once: in its contact's counter and events index, and in the shard's log.
		for (const id of contacts) expect(await store.events.countSince(id, 'resent', 0)).toBe(12);
		const shard = store.keys.shardOfContact(contacts[0]);
		const logged = (await store.call((r) => r.xrange(store.keys.log(shard), '-', '+')))
			.filter(([, fields]) => fields.includes('resent'))
			.map(([id]) => id);
		expect(logged.sort()).toEqual([...ids].sort());
	});

	it('applies a contact change once and answers the events it logged', async () => {
		const { store } = env;
		const [id] = sameShard(`up-${topology}`, 1);
		expect((await store.contacts.upsert([{ id, fields: { plan: 'free' } }]))[0].ok).toBe(true);
		const lost = env.loseNextReply();
		const [result] = await store.contacts.upsert([{ id, fields: { plan: 'pro' }, addTags: ['paying'] }]);
		await lost;
		if (!result.ok) throw result.error;
		// The resend found the change made: without the guard it would answer that nothing changed.
		expect(result.value.created).toBe(false);
		expect(result.value.events.map((e) => e.name).sort()).toEqual(['$field_changed', '$tag_added']);
		const contact = await store.contacts.getOne(id);
		expect(contact?.fields).toEqual({ plan: 'pro' });
		expect(contact?.tags).toEqual(['paying']);
	});

	/** A new subscribed contact with an address, and the campaigns of the proxied store. */
	const mailable = async (tag: string) => {
		const [id] = sameShard(`${tag}-${topology}`, 1);
		const [created] = await env.store.contacts.upsert([
			{ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } },
		]);
		if (!created.ok) throw created.error;
		return { id, campaigns: new Campaigns(env.store) };
	};
	const count = async (id: string, name: string) => env.store.events.countSince(id, name, 0);
	/** A campaign sent in render mode (no SMTP server). */
	const campaignSpec = (id: string) => ({
		id,
		name: 'Resent',
		fromEmail: 'news@shop.example',
		subject: 'Hi',
		html: '<p>Hi</p>',
		trackingBaseUrl: 'https://t.shop.example',
		signingSecret: 'a-secret-of-thirty-two-characters!',
	});

	it("records a mail's outcome once: its event, and a machine open in the campaign's totals", async () => {
		const { id, campaigns } = await mailable('outcome');
		const opened = { contactId: id, campaignId: `resent-${topology}`, kind: 'opened' as const, machine: true };
		expect((await campaigns.recordOutcomes([opened]))[0].ok).toBe(true);
		const lost = env.loseNextReply();
		const [result] = await campaigns.recordOutcomes([opened]);
		await lost;
		if (!result.ok) throw result.error;
		expect(result.value).toMatchObject({ recorded: true, machine: true, eventId: expect.any(String) });
		expect(await count(id, '$email_opened')).toBe(2);
		const [report] = await campaigns.report([opened.campaignId]);
		if (!report.ok) throw report.error;
		expect(report.value.machineOpens).toBe(2);
	});

	it('confirms a send once: one $email_sent, one send on its record', async () => {
		const { id, campaigns } = await mailable('confirm');
		const spec = campaignSpec(`confirm-${topology}`);
		// A send of another campaign first: the script is in Redis's cache before the lost call.
		expect(
			(await campaigns.send({ ...spec, id: `warm-${topology}` }, [{ contactId: id }], { mode: 'render' }))[0].ok,
		).toBe(true);
		const lost = env.loseNextReply();
		const [result] = await campaigns.send(spec, [{ contactId: id }], { mode: 'render' });
		await lost;
		if (!result.ok) throw result.error;
		expect(result.value).toMatchObject({ status: 'sent' });
		expect(await count(id, '$email_sent')).toBe(2);
		expect(await campaigns.sendRecord(id, spec.id)).toMatchObject({ sends: 1 });
		const [report] = await campaigns.report([spec.id]);
		if (!report.ok) throw report.error;
		expect(report.value.sent).toBe(1);
	});

	it("dead-letters a trigger's entries once", async () => {
		const { store } = env;
		const [id] = sameShard(`dead-${topology}`, 1);
		const entries = (await store.events.record([1, 2].map(() => ({ contactId: id, name: 'failing' })))).map((r) => {
			if (!r.ok) throw r.error;
			return { id: r.value.eventId!, attempts: 3 };
		});
		const shard = store.keys.shardOfContact(id);
		const dead = new DeadLetters(store, `resent-${topology}`);
		// The first entry goes first: the script is in Redis's cache before the lost call.
		expect(await dead.add(shard, [entries[0]], 'it kept failing', 'Resent')).toBe(1);
		const lost = env.loseNextReply();
		expect(await dead.add(shard, [entries[1]], 'it kept failing', 'Resent')).toBe(1);
		await lost;
		expect(await dead.count()).toBe(2);
	});

	// Scripts without a guard (docs/architecture.md#replay-guards): a resend writes nothing twice,
	// and its caller still does what the first run's answer called for.

	it('erases a contact and releases its address, though the resend answers that it did not exist', async () => {
		const { store } = env;
		const contacts = sameShard(`erase-${topology}`, 2);
		for (const id of contacts)
			expect((await store.contacts.upsert([{ id, email: `${id}@example.com` }]))[0].ok).toBe(true);
		const [warm, id] = contacts;
		const email = `${id}@example.com`;
		// The other contact first: the script is in Redis's cache before the lost call.
		expect((await store.contacts.erase([warm]))[0]).toMatchObject({ ok: true, value: { erased: true } });
		const lost = env.loseNextReply(callOf(scripts.eraseContact));
		const [result] = await store.contacts.erase([id]);
		await lost;
		expect(result).toMatchObject({ ok: true, value: { contactId: id, erased: true } });
		expect(await store.contacts.getOne(id)).toBeNull();
		// Nothing names the contact: not its address in the e-mail index either.
		expect(await store.call((r) => r.hget(store.keys.emailIndex(email), email))).toBeNull();
	});

	it('releases the address a change gave the contact after erase read it, though the reply was lost', async () => {
		const { store } = env;
		const contacts = sameShard(`erase-moved-${topology}`, 2);
		for (const id of contacts)
			expect((await store.contacts.upsert([{ id, email: `${id}@example.com` }]))[0].ok).toBe(true);
		const [warm, id] = contacts;
		const moved = `${id}.moved@example.com`;
		expect((await store.contacts.erase([warm]))[0]).toMatchObject({ ok: true, value: { erased: true } });
		// The change lands between erase's read of the address and its script call.
		const run = store.run.bind(store);
		store.run = async <T>(script: Script, keys: string[], args: Array<string | number>): Promise<T> => {
			if (script === scripts.eraseContact) {
				store.run = run;
				const [changed] = await store.contacts.upsert([{ id, email: moved }]);
				if (!changed.ok) throw changed.error;
			}
			return run<T>(script, keys, args);
		};
		const lost = env.loseNextReply(callOf(scripts.eraseContact));
		const [result] = await store.contacts.erase([id]);
		await lost;
		expect(result).toMatchObject({ ok: true, value: { contactId: id, erased: true } });
		for (const email of [`${id}@example.com`, moved])
			expect(await store.call((r) => r.hget(store.keys.emailIndex(email), email))).toBeNull();
		// The address the erase kept for its resend went with the release.
		expect(await store.call((r) => r.exists(store.keys.contactKey(id, 'erasedEmail')))).toBe(0);
		// A later erase of the same contact did nothing, and says so.
		expect((await store.contacts.erase([id]))[0]).toMatchObject({ ok: true, value: { erased: false } });
	});

	it('sends a mail whose reservation was resent once, and holds no reservation after', async () => {
		const { id, campaigns } = await mailable('reserve');
		const spec = campaignSpec(`reserve-${topology}`);
		expect(
			(await campaigns.send({ ...spec, id: `warm-${topology}` }, [{ contactId: id }], { mode: 'render' }))[0].ok,
		).toBe(true);
		const lost = env.loseNextReply(callOf(scripts.reserveSend));
		const [result] = await campaigns.send(spec, [{ contactId: id }], { mode: 'render' });
		await lost;
		if (!result.ok) throw result.error;
		expect(result.value).toMatchObject({ status: 'sent' });
		expect(await campaigns.sendRecord(id, spec.id)).toMatchObject({ sends: 1 });
		const reservations = `${env.store.keys.contact(id)}:${CONTACT_KEY_SUFFIXES.reservations}`;
		expect(await env.store.call((r) => r.hexists(reservations, spec.id))).toBe(0);
	});

	const HOUR = 3_600_000;
	it.each([
		['a cool-down', { maxEntries: 0, windowMs: HOUR, cooldownMs: HOUR }, 'cooldown'],
		['a limit reached', { maxEntries: 1, windowMs: HOUR, cooldownMs: 0 }, 'rateLimit'],
		['a limit not reached', { maxEntries: 3, windowMs: HOUR, cooldownMs: 0 }, undefined],
	] as Array<[string, Partial<LoopRules>, string | undefined]>)(
		'passes a Loop Guard check with %s whose answer was lost, and counts its entry once',
		async (_, rules, nextReason) => {
			const guard = new LoopGuard(env.store);
			const check = async (key: string) => {
				const [decision] = await guard.check([{ key, scope: { kind: 'workflow' }, workflowId: 'wf', rules }]);
				if (!decision.ok) throw decision.error;
				return decision.value;
			};
			const [warm, id] = sameShard(`loop-${nextReason}-${topology}`, 2);
			expect(await check(warm)).toMatchObject({ allowed: true });
			const lost = env.loseNextReply(callOf(scripts.checkLoopGuard));
			const decision = await check(id);
			await lost;
			expect(decision).toMatchObject({ allowed: true, entries: 1 });
			// One entry: the next check is refused by the rule, or counts two.
			expect(await check(id)).toMatchObject(
				nextReason ? { allowed: false, reason: nextReason, entries: 1 } : { allowed: true, entries: 2 },
			);
		},
	);
});

describe.each(topologies)('a replay guard on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);
	const SHARD = 3;
	const list = store.keys.shard(SHARD) + `:${SHARD_KEY_PARTS.replayGuardList}`;
	const ids = (prefix: string, count: number) =>
		Array.from({ length: count }, (_, k) => {
			for (let n = 0; ; n++)
				if (store.keys.shardOfContact(`${prefix}-${k}-${n}`) === SHARD) return `${prefix}-${k}-${n}`;
		});
	/** A recordEvents call of one 'seen' event per contact, with a guard of its own: run it as often as needed. */
	const guardedCall = (...contactIds: string[]) => {
		const token = replayToken();
		const keys = [store.keys.shard(SHARD), store.keys.replayGuard(SHARD, token)];
		const event = (contactId: string) => [
			10,
			encodeKeyPart(contactId),
			contactId,
			'seen',
			clock.ms,
			'{}',
			'api',
			'',
			'',
			'1',
			'1',
			'',
		];
		const args = [
			JSON.stringify({ now: clock.ms, limits: store.limits }),
			contactIds.length,
			...contactIds.flatMap(event),
		];
		return { token, answer: keys[1], run: () => store.run<unknown[]>(scripts.recordEvents, keys, args) };
	};
	const seen = (contactId: string) => store.events.countSince(contactId, 'seen', 0);

	it('answers a call run again within the answer window as the first run did, and writes nothing', async () => {
		const [id, other] = ids('again', 2);
		const call = guardedCall(id, other);
		const first = await call.run();
		expect(first).toEqual([
			[0, expect.any(String), 1],
			[0, expect.any(String), 1],
		]);
		expect(await call.run()).toEqual(first);
		for (const contactId of [id, other]) expect(await seen(contactId)).toBe(1);
	});

	it('keeps the answer REPLAY_ANSWER_MS and the mark that the call ran REPLAY_GUARD_MS, in the shard list', async () => {
		const [id] = ids('windows', 1);
		const call = guardedCall(id);
		const before = Date.now();
		await call.run();
		const ttl = await store.call((r) => r.pttl(call.answer));
		expect(ttl).toBeGreaterThan(REPLAY_ANSWER_MS - 10_000);
		expect(ttl).toBeLessThanOrEqual(REPLAY_ANSWER_MS);
		const expires = Number(await store.call((r) => r.zscore(list, call.token)));
		expect(expires).toBeGreaterThanOrEqual(before + REPLAY_GUARD_MS - 1_000);
		expect(expires).toBeLessThanOrEqual(Date.now() + REPLAY_GUARD_MS + 1_000);
	});

	it('writes nothing for a call resent after its answer expired, and answers REPLAYED', async () => {
		const [id] = ids('expired', 1);
		const call = guardedCall(id);
		await call.run();
		// Its answer's time is up (REPLAY_ANSWER_MS); its mark in the shard list is not.
		await store.call((r) => r.del(call.answer));
		await expect(call.run()).rejects.toThrow(
			`REPLAYED the call ran already and wrote nothing again; its answer is kept only ${REPLAY_ANSWER_MS / 1000} s`,
		);
		expect(await seen(id)).toBe(1);
		expect(await store.call((r) => r.exists(call.answer))).toBe(0);
	});

	it('withholds on erase the answers still kept in the shard, and walks only the marks recent enough to have one', async () => {
		const [erased, other, older] = ids('erase', 3);
		const recent = guardedCall(erased, other);
		await recent.run();
		const expired = guardedCall(older);
		await expired.run();
		await store.call((r) => r.del(expired.answer));
		// An answer under a mark older than the answer window cannot exist: one is planted here, to
		// see that erase does not walk the marks of the last REPLAY_GUARD_MS.
		const planted = replayToken();
		const plantedKey = store.keys.replayGuard(SHARD, planted);
		await store.call((r) => r.zadd(list, Date.now() + REPLAY_GUARD_MS - REPLAY_ANSWER_MS - 5_000, planted));
		await store.call((r) => r.set(plantedKey, 'planted'));

		expect((await store.contacts.erase([erased]))[0]).toMatchObject({ ok: true, value: { erased: true } });
		// The answer names the erased contact's events: erase drops it, the mark stays.
		await expect(recent.run()).rejects.toThrow(/^WITHHELD /);
		expect(await seen(other)).toBe(1);
		await expect(expired.run()).rejects.toThrow(/^REPLAYED /);
		expect(await seen(older)).toBe(1);
		expect(await store.call((r) => r.exists(expired.answer))).toBe(0);
		expect(await store.call((r) => r.get(plantedKey))).toBe('planted');
	});

	it('is refused by store.run for a script that is not a batch one when its last key is not a guard', async () => {
		const [id] = ids('unguarded', 1);
		const keys = [store.keys.contact(id), store.keys.shard(SHARD), store.keys.campaignTotals(SHARD, 'c')];
		const refusal = 'ma_record_outcome checks a replay guard: pass store.replayGuard(shard) as its last key';
		await expect(store.run(scripts.recordOutcome, keys, ['{}'])).rejects.toThrow(refusal);
		await expect(store.run(scripts.recordOutcome, [...keys, keys[1]], ['{}'])).rejects.toThrow(refusal);
		const missing = await store.run<string>(scripts.recordOutcome, [...keys, store.replayGuard(SHARD)], ['{}']);
		expect(JSON.parse(missing)).toEqual({ missing: true });
	});

	it('costs a call its mark alone once its answer expired: no key, and about 120 bytes of the shard list', async () => {
		const contacts = ids('memory', 4);
		const CALLS = 300;
		const calls = Array.from({ length: CALLS }, (_, n) => guardedCall(contacts[n % contacts.length]));
		const marks = await store.call((r) => r.zcard(list));
		const listBytes = async () => Number(await store.call((r) => r.call('MEMORY', 'USAGE', list, 'SAMPLES', '0')));
		const bytesBefore = marks > 0 ? await listBytes() : 0;
		for (const call of calls) await call.run();
		for (const call of calls) await store.call((r) => r.del(call.answer));
		expect(await store.call((r) => r.zcard(list))).toBe(marks + CALLS);
		const perCall = ((await listBytes()) - bytesBefore) / CALLS;
		// A sorted set over 128 members: a skiplist node and a dict entry per member (a 16-character token).
		expect(perCall).toBeLessThan(160);
		await expect(calls[0].run()).rejects.toThrow(/^REPLAYED /);
	});
});

describe('the client wait bound', () => {
	it('is refused above half the answer window, naming the setting', () => {
		const config = { ...storeConfig('standalone'), commandTimeoutMs: REPLAY_ANSWER_MS / 2 + 1 };
		expect(() => createClient(config)).toThrow(ValidationError);
		expect(() => createClient(config)).toThrow(
			`commandTimeoutMs ${REPLAY_ANSWER_MS / 2 + 1} is longer than ${REPLAY_ANSWER_MS / 2} ms`,
		);
		const client = createClient({ ...config, commandTimeoutMs: REPLAY_ANSWER_MS / 2 });
		client.disconnect();
	});

	it('for a moving Redis Cluster slot is refused above half the answer window too', () => {
		const config = { ...storeConfig('standalone'), slotMoveWaitMs: REPLAY_ANSWER_MS / 2 + 1 };
		expect(() => createClient(config)).toThrow(ValidationError);
		expect(() => createClient(config)).toThrow(
			`slotMoveWaitMs ${REPLAY_ANSWER_MS / 2 + 1} is longer than ${REPLAY_ANSWER_MS / 2} ms`,
		);
		createClient({ ...config, slotMoveWaitMs: REPLAY_ANSWER_MS / 2 }).disconnect();
	});
});
