import { closeAllStores } from '../../lib/redis/pool';
import { DateSchedule, InactivitySchedule, ScheduleRunner, type DueContact } from '../../lib/triggers';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (due: DueContact[]) => due.map((d) => d.contact.id).sort();

describe.each(topologies)('date and inactivity schedules on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	let seq = 0;
	const schedId = () => `wf:node:${topology}:${++seq}`;

	it('birthdays at 09:00 local: Kiritimati fires a day before Los Angeles, once each, Feb 29 on Feb 28', async () => {
		clock.ms = Date.UTC(2026, 2, 1, 0, 0);
		await store.contacts.upsert([
			{ id: 'kiri', timezone: 'Pacific/Kiritimati', fields: { birthday: { value: '1990-03-11', type: 'date' } } },
			{ id: 'la', timezone: 'America/Los_Angeles', fields: { birthday: { value: '1990-03-11', type: 'date' } } },
			{ id: 'nozone', fields: { birthday: { value: '1990-03-11', type: 'date' } } },
			{ id: 'leap', timezone: 'UTC', fields: { birthday: { value: '2000-02-29', type: 'date' } } },
			{ id: 'nobday', fields: { city: 'Oslo' } },
		]);
		const schedule = new DateSchedule(store, schedId(), {
			field: 'birthday',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
			fallbackZone: 'Europe/Berlin',
		});
		await schedule.prepare();
		expect(await schedule.scheduledCount()).toBe(4);
		expect(await schedule.takeDue()).toEqual([]);

		clock.ms = Date.UTC(2026, 2, 10, 19, 0); // 09:00 Mar 11 in Kiritimati, 12:00 Mar 10 in LA
		const first = await schedule.takeDue();
		expect(ids(first)).toEqual(['kiri']);
		expect(first[0]).toMatchObject({ occurrence: '2026', dueAt: Date.UTC(2026, 2, 10, 19, 0) });
		await schedule.complete(first);
		expect(await schedule.takeDue()).toEqual([]);

		clock.ms = Date.UTC(2026, 2, 11, 8, 0); // 09:00 in Berlin (fallback zone)
		const second = await schedule.takeDue();
		expect(ids(second)).toEqual(['nozone']);
		await schedule.complete(second);
		clock.ms = Date.UTC(2026, 2, 11, 16, 0); // 09:00 PDT
		const third = await schedule.takeDue();
		expect(ids(third)).toEqual(['la']);
		await schedule.complete(third);

		// Next year, Feb 29 -> Feb 28 in 2027.
		clock.ms = Date.UTC(2027, 1, 28, 9, 0);
		const leap = await schedule.takeDue();
		expect(leap.map((d) => [d.contact.id, d.occurrence])).toEqual([['leap', '2027']]);
		await schedule.complete(leap);
		const upcoming = await schedule.upcoming(1);
		expect(upcoming[0]).toEqual({ contactId: 'kiri', at: Date.UTC(2027, 2, 10, 19, 0) });
	});

	it('two runners (two n8n mains) fire each due contact once; a crash before completion fires it again after the lease', async () => {
		clock.ms = Date.UTC(2026, 5, 1, 0, 0);
		const n = 30;
		await store.contacts.upsert(
			Array.from({ length: n }, (_, i) => ({
				id: `race-${i}`,
				fields: { signup: { value: '2026-05-25', type: 'date' as const } },
			})),
		);
		const id = schedId();
		const spec = { field: 'signup', rule: { repeat: 'once' as const, offsetDays: 7, hour: 10, minute: 0 } };
		const a = new DateSchedule(store, id, spec);
		const b = new DateSchedule(store, id, spec);
		await a.prepare();
		await b.prepare();
		clock.ms = Date.UTC(2026, 5, 1, 10, 0);
		const [fromA, fromB] = await Promise.all([a.takeDue(100, 60_000), b.takeDue(100, 60_000)]);
		const all = [...ids(fromA), ...ids(fromB)];
		expect(all).toHaveLength(n);
		expect(new Set(all).size).toBe(n);
		// Runner A "crashes": it never completes its share. B completes its own.
		await b.complete(fromB);
		expect(await a.takeDue()).toEqual([]);
		clock.advance(61_000);
		const again = await b.takeDue();
		expect(ids(again)).toEqual(ids(fromA));
		await b.complete(again);
		clock.advance(DAY * 400);
		expect(await b.takeDue()).toEqual([]);
		expect(await b.scheduledCount()).toBe(0);
	});

	it('an execution never reported (Execution Timeout): the contact fires again after its lease, not never', async () => {
		clock.ms = Date.UTC(2026, 8, 1, 0, 0);
		await store.contacts.upsert([{ id: 'unreported', fields: { renew: { value: '2026-08-25', type: 'date' } } }]);
		const schedule = new DateSchedule(store, schedId(), {
			field: 'renew',
			rule: { repeat: 'once', offsetDays: 7, hour: 10, minute: 0 },
		});
		await schedule.prepare();
		clock.ms = Date.UTC(2026, 8, 1, 10, 0);
		const calls: string[] = [];
		const runner = new ScheduleRunner(store, schedule, {
			tickMs: 30,
			leaseMs: 1000,
			handlerTimeoutMs: 100,
			// The first call never settles, as an execution whose report n8n lost.
			handler: (due) => {
				calls.push(due[0].contact.id);
				return calls.length === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
			},
		});
		await runner.start();
		try {
			const deadline = Date.now() + 3000;
			while (calls.length === 0 && Date.now() < deadline) await sleep(20);
			await sleep(300);
			// Timed out and no longer held: the lease is not extended, so it runs out and the contact is due again.
			expect(runner.busy).toBe(0);
			clock.advance(1500);
			while (calls.length < 2 && Date.now() < deadline + 3000) await sleep(20);
			expect(calls).toEqual(['unreported', 'unreported']);
			expect(await runner.drain(3000)).toBe(true);
			expect(await schedule.scheduledCount()).toBe(0);
		} finally {
			await runner.stop();
		}
	});

	it('missed during downtime: fires when it comes back, not never', async () => {
		clock.ms = Date.UTC(2026, 6, 1);
		await store.contacts.upsert([
			{ id: 'down-1', timezone: 'Asia/Tokyo', fields: { anniversary: { value: '2020-07-03', type: 'date' } } },
		]);
		const schedule = new DateSchedule(store, schedId(), {
			field: 'anniversary',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
		});
		await schedule.prepare();
		clock.ms = Date.UTC(2026, 6, 9); // six days late
		const due = await schedule.takeDue();
		expect(due.map((d) => [d.contact.id, d.occurrence, new Date(d.dueAt).toISOString()])).toEqual([
			['down-1', '2026', '2026-07-03T00:00:00.000Z'],
		]);
	});

	it('follows field and time-zone changes through the event log (runner), and erase clears it', async () => {
		clock.ms = Date.UTC(2026, 0, 10, 0, 0);
		const schedule = new DateSchedule(store, schedId(), {
			field: 'bday2',
			rule: { repeat: 'yearly', offsetDays: -1, hour: 8, minute: 30 },
		});
		const fired: string[] = [];
		const runner = new ScheduleRunner(store, schedule, {
			tickMs: 30,
			handler: async (due) => void fired.push(...due.map((d) => `${d.contact.id}@${d.occurrence}`)),
		});
		await runner.start();
		try {
			await store.contacts.upsert([
				{ id: 'mover', timezone: 'Europe/Paris', fields: { bday2: { value: '1980-06-20', type: 'date' } } },
			]);
			const deadline = Date.now() + 3000;
			while ((await schedule.upcoming(1)).length === 0 && Date.now() < deadline) await sleep(20);
			expect(await schedule.upcoming(1)).toEqual([{ contactId: 'mover', at: Date.UTC(2026, 5, 19, 6, 30) }]);
			await store.contacts.upsert([{ id: 'mover', timezone: 'America/New_York' }]);
			while ((await schedule.upcoming(1))[0]?.at !== Date.UTC(2026, 5, 19, 12, 30) && Date.now() < deadline)
				await sleep(20);
			expect(await schedule.upcoming(1)).toEqual([{ contactId: 'mover', at: Date.UTC(2026, 5, 19, 12, 30) }]);
			await store.contacts.upsert([{ id: 'mover', fields: { bday2: { value: '1980-01-12', type: 'date' } } }]);
			while ((await schedule.upcoming(1))[0]?.at !== Date.UTC(2026, 0, 11, 13, 30) && Date.now() < deadline)
				await sleep(20);
			clock.ms = Date.UTC(2026, 0, 11, 13, 30);
			while (fired.length === 0 && Date.now() < deadline) await sleep(20);
			expect(fired).toEqual(['mover@2026']);
			await sleep(100);
			expect(fired).toHaveLength(1);
			await store.contacts.erase(['mover']);
			expect(await schedule.scheduledCount()).toBe(0);
			expect(await store.call((r) => r.exists(`${store.keys.contact('mover')}:tf`))).toBe(0);
		} finally {
			await runner.stop();
		}
	});

	it('inactive for N days: once per spell, new activity starts a new spell, per-tick work = contacts that crossed', async () => {
		clock.ms = Date.UTC(2026, 1, 1);
		const schedule = new InactivitySchedule(store, schedId(), { inactiveMs: 30 * DAY });
		await schedule.maintain(); // first activation: watermark at now - 30 days
		await store.events.record([
			{ contactId: 'idle-1', name: 'login' },
			{ contactId: 'idle-2', name: 'login' },
		]);
		clock.advance(10 * DAY);
		await store.events.record([{ contactId: 'idle-3', name: 'login' }]);
		clock.advance(19 * DAY);
		expect(await schedule.takeDue()).toEqual([]);
		expect(await schedule.scheduledCount()).toBe(0);
		expect(await schedule.preview()).toBeUndefined();
		clock.advance(DAY);
		// The editor's test step previews the longest-inactive contact before any tick scheduled it.
		expect(await schedule.preview()).toEqual({
			contactId: expect.stringMatching(/^idle-[12]$/),
			at: Date.UTC(2026, 1, 1) + 30 * DAY,
		});
		const first = await schedule.takeDue();
		expect(ids(first)).toEqual(['idle-1', 'idle-2']);
		expect(first[0].occurrence).toBe(String(Date.UTC(2026, 1, 1)));
		await schedule.complete(first);
		clock.advance(5 * DAY);
		expect(await schedule.takeDue()).toEqual([]);
		// idle-3 became active again before crossing: no fire.
		await store.events.record([{ contactId: 'idle-3', name: 'click' }]);
		clock.advance(10 * DAY);
		expect(await schedule.takeDue()).toEqual([]);
		// idle-1 comes back, then goes quiet again: a new spell fires again.
		await store.events.record([{ contactId: 'idle-1', name: 'login' }]);
		clock.advance(30 * DAY);
		const again = await schedule.takeDue();
		expect(ids(again)).toEqual(['idle-1', 'idle-3']);
		await schedule.complete(again);
		clock.advance(100 * DAY);
		expect(await schedule.takeDue()).toEqual([]);
	});

	it('catch-up start fires for contacts already inactive; ties at one activity time are not lost across pages', async () => {
		clock.ms = Date.UTC(2026, 3, 1);
		await store.events.record(Array.from({ length: 25 }, (_, i) => ({ contactId: `tie-${i}`, name: 'seen' })));
		clock.advance(40 * DAY);
		const schedule = new InactivitySchedule(store, schedId(), { inactiveMs: 30 * DAY, startFrom: 'catchUp' });
		await schedule.maintain(10);
		const due = await schedule.takeDue(1000);
		expect(ids(due).filter((id) => id.startsWith('tie-'))).toHaveLength(25);
	});

	it('takes the room from the shards that hold what is due: contacts due in one shard are not taken a sixteenth at a time', async () => {
		clock.ms = Date.UTC(2026, 2, 1);
		const oneShard: string[] = [];
		const target = store.keys.shardOfContact(`skew-${topology}-0`);
		for (let i = 0; oneShard.length < 40; i++)
			if (store.keys.shardOfContact(`skew-${topology}-${i}`) === target) oneShard.push(`skew-${topology}-${i}`);
		const elsewhere = `skew-${topology}-elsewhere`;
		const other = Array.from({ length: 100 }, (_, i) => `${elsewhere}-${i}`).find(
			(id) => store.keys.shardOfContact(id) !== target,
		) as string;
		// A date field of their own: no other contact of the store is due.
		const fields = { skewDay: { value: '2020-04-01', type: 'date' as const } };
		expect(
			(await store.contacts.upsert([...oneShard, other].map((id) => ({ id, timezone: 'UTC', fields })))).every(
				(r) => r.ok,
			),
		).toBe(true);
		const schedule = new DateSchedule(store, schedId(), {
			field: 'skewDay',
			rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
		});
		await schedule.prepare();
		clock.ms = Date.UTC(2026, 3, 1, 10, 0);
		// A room of 32 spread over 16 shards is 2 each: the shard holding 40 gives the rest too.
		const first = await schedule.takeDue(100, 60_000, 32);
		expect(first).toHaveLength(32);
		expect(ids(first).filter((id) => oneShard.includes(id))).toHaveLength(31);
		// At most `limit` per shard, whatever the room: 5 of the 9 left.
		const second = await schedule.takeDue(5, 60_000, 32);
		expect(ids(second).filter((id) => oneShard.includes(id))).toHaveLength(5);
		expect(ids([...first, ...second]).length).toBe(new Set(ids([...first, ...second])).size);
	});

	it('a changed definition replaces the old schedule, which is deleted with its consumer group', async () => {
		clock.ms = Date.UTC(2026, 0, 10);
		await store.contacts.upsert([{ id: 'adopt-1', fields: { renewal: { value: '2020-03-01', type: 'date' } } }]);
		const owner = `wf-adopt-${topology}:node`;
		const rule = { repeat: 'yearly' as const, offsetDays: 0, hour: 9, minute: 0 };
		const oldOne = new DateSchedule(store, `${owner}:v1`, { field: 'renewal', rule });
		expect(await oldOne.adoptFor(owner)).toBe(0);
		const runner = new ScheduleRunner(store, oldOne, { tickMs: 50, handler: async () => undefined });
		await runner.start();
		await runner.stop();
		expect(await oldOne.scheduledCount()).toBe(1);
		const newOne = new DateSchedule(store, `${owner}:v2`, { field: 'renewal', rule: { ...rule, hour: 10 } });
		expect(await newOne.adoptFor(owner)).toBe(1);
		expect(await oldOne.scheduledCount()).toBe(0);
		if (topology === 'standalone') {
			const shard = store.keys.shardOfContact('adopt-1');
			const groups = (await store.call((r) => r.xinfo('GROUPS', store.keys.log(shard)))) as Array<string[]>;
			expect(groups.map((g) => g[1])).not.toContain(`sched:${owner}:v1`);
		}
		expect(await newOne.adoptFor(owner)).toBe(0);
	});

	it.each([
		[
			() => new DateSchedule(store, 'x', { field: '', rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 } }),
			'dateField',
		],
		[
			() =>
				new DateSchedule(store, 'x', {
					field: 'b',
					rule: { repeat: 'yearly', offsetDays: 0, hour: 9, minute: 0 },
					fallbackZone: 'Nowhere/City',
				}),
			'fallbackZone',
		],
		[
			() =>
				new DateSchedule(store, 'x', { field: 'b', rule: { repeat: 'yearly', offsetDays: 0, hour: 25, minute: 0 } }),
			'hour',
		],
		[() => new InactivitySchedule(store, 'x', { inactiveMs: 0 }), 'inactiveDays'],
	])('rejects a bad definition naming the field (%#)', (build, field) => {
		expect(build).toThrow(expect.objectContaining({ field }));
	});
});
