import { createClient } from '../../lib/redis/connection';
import { closeAllStores } from '../../lib/redis/pool';
import { ContactStore } from '../../lib/store';
import { LoopGuard, type LoopCheckInput } from '../../lib/loops';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const HOUR = 3_600_000;

describe.each(topologies)('Loop Guard on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const guard = new LoopGuard(store);
	const one = async (input: LoopCheckInput) => {
		const [r] = await guard.check([input]);
		if (!r.ok) throw r.error;
		return r.value;
	};

	it('lets one entry per contact per rolling window through, then again once the window has rolled', async () => {
		const check = () =>
			one({
				key: 'c-window',
				scope: { kind: 'workflow' },
				workflowId: 'wf1',
				rules: { maxEntries: 1, windowMs: 24 * HOUR },
			});
		expect(await check()).toMatchObject({ allowed: true, entries: 1 });
		clock.advance(23 * HOUR);
		const blocked = await check();
		expect(blocked).toMatchObject({ allowed: false, reason: 'rateLimit', entries: 1 });
		expect(blocked.retryAt).toBe(new Date(clock.ms + HOUR).toISOString());
		expect(blocked.message).toMatch(/1 of 1 entries/);
		clock.advance(HOUR);
		expect(await check()).toMatchObject({ allowed: true });
	});

	it('keeps scopes apart: this workflow, all workflows, a named group', async () => {
		const rules = { maxEntries: 1, windowMs: HOUR };
		expect((await one({ key: 'c-scope', scope: { kind: 'workflow' }, workflowId: 'A', rules })).allowed).toBe(true);
		expect((await one({ key: 'c-scope', scope: { kind: 'workflow' }, workflowId: 'B', rules })).allowed).toBe(true);
		expect((await one({ key: 'c-scope', scope: { kind: 'workflow' }, workflowId: 'A', rules })).allowed).toBe(false);
		expect((await one({ key: 'c-scope', scope: { kind: 'all' }, workflowId: 'A', rules })).allowed).toBe(true);
		expect((await one({ key: 'c-scope', scope: { kind: 'all' }, workflowId: 'C', rules })).allowed).toBe(false);
		expect(
			(await one({ key: 'c-scope', scope: { kind: 'group', name: 'promo' }, workflowId: 'A', rules })).allowed,
		).toBe(true);
		expect(
			(await one({ key: 'c-scope', scope: { kind: 'group', name: 'promo' }, workflowId: 'D', rules })).allowed,
		).toBe(false);
		expect((await one({ key: 'other', scope: { kind: 'group', name: 'promo' }, workflowId: 'D', rules })).allowed).toBe(
			true,
		);
	});

	it('enforces a cool-down between entries even under a generous limit', async () => {
		const check = () =>
			one({
				key: 'c-cool',
				scope: { kind: 'all' },
				workflowId: 'w',
				rules: { maxEntries: 10, windowMs: 24 * HOUR, cooldownMs: HOUR },
			});
		expect((await check()).allowed).toBe(true);
		clock.advance(30 * 60_000);
		expect(await check()).toMatchObject({
			allowed: false,
			reason: 'cooldown',
			retryAt: new Date(clock.ms + 30 * 60_000).toISOString(),
		});
		clock.advance(30 * 60_000);
		expect(await check()).toMatchObject({ allowed: true, entries: 2 });
	});

	it('keeps the cool-down when there is no entry limit, or the window is shorter than the cool-down', async () => {
		const check = (key: string, rules: LoopCheckInput['rules']) =>
			one({ key, scope: { kind: 'all' }, workflowId: 'w', rules });
		const cooldownOnly = { maxEntries: 0, windowMs: 0, cooldownMs: HOUR };
		const shortWindow = { maxEntries: 5, windowMs: 60_000, cooldownMs: HOUR };
		for (const [key, rules] of [
			['c-cool-only', cooldownOnly],
			['c-cool-window', shortWindow],
		] as const) {
			expect(await check(key, rules)).toMatchObject({ allowed: true, entries: 1 });
			clock.advance(10 * 60_000);
			expect(await check(key, rules)).toMatchObject({
				allowed: false,
				reason: 'cooldown',
				retryAt: new Date(clock.ms + 50 * 60_000).toISOString(),
			});
			clock.advance(50 * 60_000);
			// The entry an hour ago is out of the window: the count is of entries in the window.
			expect(await check(key, rules)).toMatchObject({ allowed: true, entries: 1 });
		}
	});

	it('blocks cycles and deep chains without recording an entry', async () => {
		const chain = [
			{ workflowId: 'A', executionId: '1' },
			{ workflowId: 'B', executionId: '2' },
		];
		const cycle = await one({ key: 'c-cycle', scope: { kind: 'all' }, workflowId: 'A', chain });
		expect(cycle).toMatchObject({ allowed: false, reason: 'cycle', depth: 2 });
		expect(cycle.message).toContain('A -> B -> A');
		const deep = await one({ key: 'c-cycle', scope: { kind: 'all' }, workflowId: 'Z', chain, rules: { maxDepth: 2 } });
		expect(deep).toMatchObject({ allowed: false, reason: 'maxDepth' });
		// Nothing was recorded, so the first real entry passes.
		expect(
			await one({ key: 'c-cycle', scope: { kind: 'all' }, workflowId: 'Z', chain, rules: { maxDepth: 3 } }),
		).toMatchObject({ allowed: true, entries: 1 });
		// Cycle detection can be switched off; a chain given as JSON text is accepted.
		expect(
			(
				await one({
					key: 'c-cycle2',
					scope: { kind: 'all' },
					workflowId: 'A',
					chain: JSON.stringify(chain),
					rules: { detectCycles: false },
				})
			).allowed,
		).toBe(true);
	});

	it('guards custom keys (not contacts) the same way', async () => {
		const check = () =>
			one({
				key: 'order-77|sms',
				customKey: true,
				scope: { kind: 'all' },
				workflowId: 'w',
				rules: { maxEntries: 2, windowMs: HOUR },
			});
		expect((await check()).allowed).toBe(true);
		expect((await check()).allowed).toBe(true);
		expect((await check()).reason).toBe('rateLimit');
	});

	it('8 concurrent executions on 8 connections, limit 1: exactly one passes', async () => {
		const stores = Array.from({ length: 8 }, () => {
			const client = createClient(ctx.config);
			client.on('error', () => undefined);
			return new ContactStore(client, ctx.config.keyPrefix, { now: clock.now });
		});
		try {
			for (let round = 0; round < 5; round++) {
				const key = `race-${round}`;
				const results = await Promise.all(
					stores.map((s) =>
						new LoopGuard(s).check([
							{ key, scope: { kind: 'workflow' }, workflowId: 'wf', rules: { maxEntries: 1, windowMs: HOUR } },
						]),
					),
				);
				const allowed = results.map(([r]) => r.ok && r.value.allowed);
				expect(allowed.filter(Boolean)).toHaveLength(1);
			}
			// The same in one batch (one pipelined round trip).
			const batch = await guard.check(
				Array.from({ length: 8 }, () => ({
					key: 'race-batch',
					scope: { kind: 'all' as const },
					workflowId: 'wf',
					rules: { maxEntries: 1, windowMs: HOUR },
				})),
			);
			expect(batch.filter((r) => r.ok && r.value.allowed)).toHaveLength(1);
		} finally {
			await Promise.all(stores.map((s) => s.redis.quit()));
		}
	});

	it('erasing the contact removes its loop records', async () => {
		await one({ key: 'c-erase', scope: { kind: 'all' }, workflowId: 'w' });
		await store.contacts.upsert([{ id: 'c-erase' }]);
		await store.contacts.erase(['c-erase']);
		const leftovers = await store.call((r) => r.exists(`${store.keys.contact('c-erase')}:lg:all`));
		expect(leftovers).toBe(0);
	});

	it.each([
		[{ key: '' }, 'key'],
		[{ key: 'x'.repeat(300) }, 'key'],
		[{ workflowId: '' }, 'workflowId'],
		[{ chain: '[{"oops"' }, 'chain'],
		[{ chain: [{ executionId: '1' }] }, 'chain'],
		[{ chain: { workflowId: 'a' } }, 'chain'],
		[{ rules: { maxEntries: -1 } }, 'maxEntries'],
		[{ rules: { windowMs: Number.NaN } }, 'windowMs'],
		[{ rules: { maxEntries: 1, windowMs: 0 } }, 'windowMs'],
		[{ rules: { cooldownMs: -5 } }, 'cooldownMs'],
		[{ scope: { kind: 'group', name: '' } }, 'scope.name'],
		[{ scope: { kind: 'planet' } }, 'scope'],
		[{ customKey: true, key: undefined }, 'key'],
	])('rejects %p naming the field', async (patch, field) => {
		const [r] = await guard.check([
			{ key: 'c-bad', scope: { kind: 'all' }, workflowId: 'w', ...(patch as object) } as LoopCheckInput,
		]);
		expect(r.ok).toBe(false);
		expect(!r.ok && (r.error as { field?: string }).field).toBe(field);
	});
});
