import { closeAllStores } from '../../lib/redis/pool';
import {
	Analytics,
	ANALYTICS_RETENTION_DAYS,
	Campaigns,
	compileFilter,
	DateSchedule,
	dayOf,
	entryFields,
	EventLogConsumer,
	InactivitySchedule,
	ScheduleRunner,
	SHARD_COUNT,
	SYSTEM_EVENTS,
	ValidationError,
	type CampaignSpec,
	type DueContact,
	type ExecutionEnd,
	type Result,
} from '../../lib';
import { openStore, scriptCalls, topologies } from '../harness/store';
import * as scripts from '../../lib/redis/scripts';

const DAY = 86_400_000;
const SECRET = 'analytics-signing-secret-0123456789';

function value<T>(result: Result<T>): T {
	if (!result.ok) throw result.error;
	return result.value;
}

const spec = (over: Partial<CampaignSpec> = {}): CampaignSpec => ({
	id: 'welcome-1',
	fromEmail: 'news@shop.example',
	subject: 'Welcome',
	html: '<p>Hello</p><a href="{{ unsubscribeUrl }}">Unsubscribe</a>',
	trackingBaseUrl: 'https://n8n.example.com/webhook/abc/marketing',
	signingSecret: SECRET,
	journeyId: 'wf-onboarding',
	...over,
});

afterAll(closeAllStores);

describe.each(topologies)('journey analytics on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const campaigns = new Campaigns(store);
	const analytics = new Analytics(store);
	const today = () => new Date(clock.now()).toISOString().slice(0, 10);
	const ids = Array.from({ length: 4 }, (_, i) => `an-${topology}-${i}`);

	beforeAll(async () => {
		for (const id of ids)
			value(
				(
					await store.contacts.upsert([
						{ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } },
					])
				)[0],
			);
	});

	const journeyOf = async (journeyId = 'wf-onboarding') =>
		(await analytics.report({ from: today(), to: today(), journeys: [journeyId] })).journeys[0];
	const campaignOf = async (campaignId: string, from = today(), to = today()) =>
		(await analytics.report({ from, to, campaigns: [campaignId] })).campaigns[0];

	it('counts each send once per campaign and journey, a retried send not again', async () => {
		const sent = await campaigns.send(
			spec(),
			ids.map((contactId) => ({ contactId })),
			{ mode: 'render' },
		);
		expect(sent.map((r) => value(r).status)).toEqual(['sent', 'sent', 'sent', 'sent']);
		// The same node run again (a retried execution): already sent, nothing counted.
		const again = await campaigns.send(spec(), [{ contactId: ids[0] }], { mode: 'render' });
		expect(value(again[0])).toMatchObject({ status: 'skipped', reason: 'already_sent' });

		expect((await campaignOf('welcome-1')).totals.sent).toBe(4);
		expect((await journeyOf()).totals.sent).toBe(4);
		// The per-contact send record names the journey, for its outcomes.
		expect(await campaigns.sendRecord(ids[0], 'welcome-1')).toMatchObject({ journey: 'wf-onboarding' });
	});

	it('counts first outcomes of a send for its campaign and journey; repeats, machine hits and unknown sends not', async () => {
		clock.advance(10 * 60_000);
		const outcome = (
			contactId: string,
			kind: 'delivered' | 'opened' | 'clicked' | 'bounced' | 'complained' | 'unsubscribed',
			extra = {},
		) => ({
			contactId,
			campaignId: 'welcome-1',
			kind,
			...extra,
		});
		const results = await campaigns.recordOutcomes([
			outcome(ids[0], 'delivered'),
			outcome(ids[1], 'delivered'),
			outcome(ids[2], 'delivered'),
			outcome(ids[0], 'opened', { machine: true }),
			outcome(ids[0], 'opened'),
			outcome(ids[1], 'opened'),
			outcome(ids[0], 'clicked'),
			outcome(ids[3], 'bounced', { bounceType: 'soft' }),
			outcome(ids[3], 'bounced', { bounceType: 'hard' }),
			outcome(ids[2], 'complained'),
			outcome(ids[1], 'unsubscribed'),
		]);
		results.forEach((r) => value(r));
		// Provider retries and second opens: recorded as events or ignored, never counted again.
		results.push(
			...(await campaigns.recordOutcomes([
				outcome(ids[0], 'delivered'),
				outcome(ids[0], 'opened'),
				outcome(ids[1], 'unsubscribed'),
				// No send of this campaign to the contact: nothing to count.
				{ contactId: ids[0], campaignId: 'never-sent', kind: 'opened' as const },
			])),
		);
		const expected = { sent: 4, delivered: 3, opened: 2, clicked: 1, bounced: 1, complained: 1, unsubscribed: 1 };
		const campaign = await campaignOf('welcome-1');
		expect(campaign.totals).toEqual(expected);
		expect(campaign.rates).toMatchObject({ delivery: 0.75, open: 0.5, complaint: 0.25, unsubscribe: 0.25 });
		expect((await journeyOf()).totals).toMatchObject(expected);
		expect((await analytics.report({ from: today(), to: today() })).campaigns.map((c) => c.campaignId)).toEqual([
			'welcome-1',
		]);
	});

	it('counts a goal once per idempotency key, for the journey that reached it', async () => {
		const goal = (key: string) =>
			store.events.recordSystem([
				{
					contactId: ids[0],
					name: SYSTEM_EVENTS.goalReached,
					properties: { workflow: 'wf-onboarding', goal: 'purchased' },
					idempotencyKey: key,
					createContact: false,
					journeyGoal: 'wf-onboarding',
				},
			]);
		expect(value((await goal('goal:exec-1'))[0]).duplicate).toBe(false);
		expect(value((await goal('goal:exec-1'))[0]).duplicate).toBe(true);
		expect((await journeyOf()).totals.goalReached).toBe(1);
	});

	it('counts a trigger entry as entered once its execution ends: exited, or waiting at its node', async () => {
		const ends: ExecutionEnd[] = [{}, { waitingAt: 'Wait 3 days' }, { waitingAt: 'Wait 3 days' }];
		let calls = 0;
		let failedOnce = false;
		const consumer = new EventLogConsumer(store, {
			group: `ct:wf-trial:${topology}`,
			journey: 'wf-trial',
			blockMs: 200,
			retryDelayMs: 50,
			filter: compileFilter({ kind: 'event', names: ['trial_started'] }),
			handler: async () => {
				// One failed execution: retried, and counted only when it succeeds.
				if (!failedOnce) {
					failedOnce = true;
					throw new Error('the execution failed');
				}
				return ends[calls++];
			},
		});
		await consumer.start();
		try {
			for (const id of ids.slice(0, 3))
				value((await store.events.record([{ contactId: id, name: 'trial_started' }]))[0]);
			for (let i = 0; i < 100 && calls < 3; i++) await new Promise((r) => setTimeout(r, 50));
			await consumer.drain(5000);
		} finally {
			await consumer.stop();
		}
		const journey = await journeyOf('wf-trial');
		expect(journey.totals).toMatchObject({ entered: 3, exited: 1, waiting: 2 });
		expect(journey.waitingAt).toEqual([{ step: 'Wait 3 days', count: 2 }]);
	});

	it('reports per UTC day, and conversion as goal reached per entered', async () => {
		const yesterday = today();
		clock.advance(DAY);
		value((await campaigns.send(spec({ id: 'welcome-2' }), [{ contactId: ids[0] }], { mode: 'render' }))[0]);
		const campaign = await campaignOf('welcome-2', yesterday, today());
		// No row for yesterday: welcome-2 counted nothing then.
		expect(campaign.daily?.map((d) => [d.date, d.sent])).toEqual([[today(), 1]]);
		const report = await analytics.report({ from: yesterday, to: today(), journeys: ['wf-onboarding'] });
		expect(report.journeys[0].totals.sent).toBe(5);
		expect(report.journeys[0].daily?.map((d) => d.sent)).toEqual([4, 1]);
		const trial = (await analytics.report({ from: yesterday, to: today(), journeys: ['wf-trial'] })).journeys[0];
		expect(trial.conversionRate).toBe(0);
	});

	it('reads only the fields of the journeys and campaigns named when both are, with the counts of a whole read', async () => {
		const range = { from: new Date(clock.now() - DAY).toISOString().slice(0, 10), to: today() };
		const whole = await analytics.report(range);
		const request = { ...range, journeys: ['wf-trial', 'wf-none'], campaigns: ['welcome-2'] };
		const reads = jest.spyOn(scripts, 'runScript');
		try {
			const named = await analytics.report(request);
			expect(named.journeys).toEqual([
				expect.objectContaining({ journeyId: 'wf-none', totals: expect.objectContaining({ entered: 0 }) }),
				whole.journeys.find((j) => j.journeyId === 'wf-trial'),
			]);
			expect(named.journeys[1].totals).toMatchObject({ entered: 3, waiting: 2 });
			expect(named.journeys[1].waitingAt).toEqual([{ step: 'Wait 3 days', count: 2 }]);
			expect(named.campaigns).toEqual(whole.campaigns.filter((c) => c.campaignId === 'welcome-2'));
			// One script call per shard, for both days, asking for the named fields only.
			expect(reads).toHaveBeenCalledTimes(SHARD_COUNT);
			for (const [, script, , args] of reads.mock.calls) {
				expect(script).toBe(scripts.scripts.readAnalyticsDays);
				expect(args).toEqual([
					dayOf(clock.now()) - 1,
					2,
					'j|wf-trial',
					's|wf-trial',
					'j|wf-none',
					's|wf-none',
					'c|welcome-2',
				]);
			}
		} finally {
			reads.mockRestore();
		}
		// All in one round trip.
		expect(await scriptCalls(async () => void (await analytics.report(request)))).toEqual(Array(SHARD_COUNT).fill(0));
	});

	it('refuses bad ranges naming the field and the limit, and reads nothing', async () => {
		const refused = async (request: Parameters<Analytics['report']>[0]) => {
			const error = await analytics.report(request).then(
				() => undefined,
				(e: unknown) => e,
			);
			expect(error).toBeInstanceOf(ValidationError);
			return error as ValidationError;
		};
		expect(await refused({ from: 'last week', to: today() })).toMatchObject({ field: 'from' });
		expect(await refused({ from: today(), to: '2020-01-01' })).toMatchObject({ field: 'to' });
		const long = await refused({ from: '2025-01-01', to: '2026-01-15' });
		expect(long).toMatchObject({ field: 'from', message: expect.stringContaining('at most 366') });
		const old = await refused({ from: '2024-01-01', to: '2024-01-02' });
		expect(old.message).toContain(`${ANALYTICS_RETENTION_DAYS} days`);
		expect(await refused({ from: today(), to: today(), campaigns: [''] })).toMatchObject({ field: 'campaigns[0]' });
	});

	it('keeps aggregate counters only: no key or field names a contact, and each day key expires', async () => {
		const { keys } = store;
		const day = Math.floor(clock.now() / DAY) - 1;
		let checked = 0;
		for (let shard = 0; shard < SHARD_COUNT; shard++) {
			const key = keys.analyticsDay(shard, day);
			const hash = await store.call((r) => r.hgetall(key));
			if (Object.keys(hash).length === 0) continue;
			checked++;
			const text = key + JSON.stringify(hash);
			for (const id of ids) expect(text).not.toContain(id);
			const ttl = await store.call((r) => r.pttl(key));
			expect(ttl).toBeGreaterThan((ANALYTICS_RETENTION_DAYS - 1) * DAY);
			expect(ttl).toBeLessThanOrEqual((ANALYTICS_RETENTION_DAYS + 1) * DAY);
		}
		expect(checked).toBeGreaterThan(0);
	});

	it('has a daily row only for days with counts, totals unchanged; none at all when asked for totals only', async () => {
		const first = today();
		const gapIds = [`gap-${topology}-0`, `gap-${topology}-1`];
		await store.contacts.upsert(
			gapIds.map((id) => ({ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } })),
		);
		const sendTo = async (contactId: string) => {
			const [sent] = await campaigns.send(spec({ id: 'welcome-gap', journeyId: 'wf-gap' }), [{ contactId }], {
				mode: 'render',
			});
			expect(value(sent).status).toBe('sent');
		};
		await sendTo(gapIds[0]);
		clock.advance(2 * DAY);
		await sendTo(gapIds[1]);
		const gapDay = new Date(clock.now() - DAY).toISOString().slice(0, 10);
		const range = { from: first, to: today() };

		const report = await analytics.report({ ...range, journeys: ['wf-gap'], campaigns: ['welcome-gap'] });
		expect(report.days).toBe(3);
		const [journey] = report.journeys;
		const [campaign] = report.campaigns;
		expect(campaign.daily?.map((d) => [d.date, d.sent, d.rates.delivery])).toEqual([
			[first, 1, 0],
			[today(), 1, 0],
		]);
		expect(journey.daily?.map((d) => [d.date, d.sent, d.conversionRate])).toEqual([
			[first, 1, 0],
			[today(), 1, 0],
		]);
		expect(campaign.daily?.map((d) => d.date)).not.toContain(gapDay);

		// Over everything counted in the range, the rows add up to the totals.
		const whole = await analytics.report(range);
		for (const subject of [...whole.journeys, ...whole.campaigns])
			for (const [metric, total] of Object.entries(subject.totals)) {
				const rows = (subject.daily ?? []) as unknown as Array<Record<string, number>>;
				expect(rows.length).toBeGreaterThan(0);
				expect(rows.reduce((n, row) => n + row[metric], 0)).toBe(total);
			}

		// Totals only: the same report without a daily list.
		const totalsOnly = await analytics.report({ ...range, daily: false });
		expect(totalsOnly).toEqual({
			...whole,
			journeys: whole.journeys.map(({ daily, ...journey }) => journey),
			campaigns: whole.campaigns.map(({ daily, ...campaign }) => campaign),
		});
		for (const subject of [...totalsOnly.journeys, ...totalsOnly.campaigns])
			expect(subject).not.toHaveProperty('daily');
	});
});

describe.each(topologies)('journey analytics of date and inactivity triggers on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);
	const analytics = new Analytics(store);
	const today = () => new Date(clock.now()).toISOString().slice(0, 10);
	const journeyOf = async (journeyId: string) =>
		(await analytics.report({ from: today(), to: today(), journeys: [journeyId] })).journeys[0];
	const dated = (field: string) => (id: string) => ({
		id,
		fields: { [field]: { value: '1990-03-10', type: 'date' as const } },
	});
	const rule = { repeat: 'yearly' as const, offsetDays: 0, hour: 9, minute: 0 };
	const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

	/** Runs `runner` until `done()` (or 5 s), then drains and stops it. */
	async function runUntil(runner: ScheduleRunner, done: () => boolean): Promise<void> {
		await runner.start();
		try {
			for (let i = 0; i < 250 && !done(); i++) await sleep(20);
			expect(await runner.drain(5000)).toBe(true);
		} finally {
			await runner.stop();
		}
	}

	it('a date trigger counts each occurrence as entered when its execution ends (exited or waiting); a failed one when retried', async () => {
		clock.ms = Date.UTC(2026, 2, 1);
		const ids = ['bd-0', 'bd-1', 'bd-2'];
		await store.contacts.upsert(ids.map(dated('birthday')));
		const schedule = new DateSchedule(store, `wf-birthday:node:${topology}`, { field: 'birthday', rule });
		await schedule.prepare();
		const ends: Record<string, ExecutionEnd> = {
			'bd-0': {},
			'bd-1': { waitingAt: 'Wait 1 day' },
			'bd-2': { waitingAt: 'Wait 1 day' },
		};
		const finished = new Set<string>();
		let calls = 0;
		let leaseRunOut = false;
		const runner = new ScheduleRunner(store, schedule, {
			journey: 'wf-birthday',
			tickMs: 20,
			handler: async ([due]) => {
				// The first execution fails: not marked, due again once its lease ran out, counted when it succeeds.
				if (calls++ === 0) throw new Error('the execution failed');
				finished.add(due.contact.id);
				return ends[due.contact.id];
			},
		});
		clock.ms = Date.UTC(2026, 2, 10, 9, 0);
		await runUntil(runner, () => {
			// The failed one's lease (60 s on the test clock) runs out once the others are done.
			if (finished.size === 2 && !leaseRunOut) {
				leaseRunOut = true;
				clock.advance(61_000);
			}
			return finished.size === 3;
		});
		expect([finished.size, calls]).toEqual([3, 4]);
		const journey = await journeyOf('wf-birthday');
		expect(journey.totals).toMatchObject({ entered: 3, exited: 1, waiting: 2 });
		expect(journey.waitingAt).toEqual([{ step: 'Wait 1 day', count: 2 }]);
	});

	it('an occurrence completed twice (two n8n mains past one lease, a repeated completion) counts once; the next year again', async () => {
		clock.ms = Date.UTC(2026, 2, 1);
		const ids = ['twice-0', 'twice-1'];
		await store.contacts.upsert(ids.map(dated('renewal')));
		const id = `wf-twice:node:${topology}`;
		const mainA = new DateSchedule(store, id, { field: 'renewal', rule });
		const mainB = new DateSchedule(store, id, { field: 'renewal', rule });
		await mainA.prepare();
		const counters = entryFields('wf-twice', undefined);
		const bothFire = async (): Promise<DueContact[][]> => {
			const fromA = await mainA.takeDue(100, 60_000);
			// Main A's executions outlive their lease (a hung process): main B takes the same contacts.
			clock.advance(61_000);
			const fromB = await mainB.takeDue(100, 60_000);
			expect(fromB.map((d) => d.contact.id).sort()).toEqual(fromA.map((d) => d.contact.id).sort());
			return [fromA, fromB];
		};
		clock.ms = Date.UTC(2026, 2, 10, 9, 0);
		const [fromA, fromB] = await bothFire();
		expect(fromA).toHaveLength(2);
		await Promise.all([mainA.complete(fromA, counters), mainB.complete(fromB, counters)]);
		await mainA.complete(fromA, counters);
		expect((await journeyOf('wf-twice')).totals).toMatchObject({ entered: 2, exited: 2 });

		clock.ms = Date.UTC(2027, 2, 10, 9, 0);
		const [nextA, nextB] = await bothFire();
		await mainB.complete(nextB, counters);
		await mainA.complete(nextA, counters);
		expect((await journeyOf('wf-twice')).totals).toMatchObject({ entered: 2, exited: 2 });
		expect(nextA.map((d) => d.occurrence)).toEqual(['2027', '2027']);
	});

	it('an inactivity trigger counts each spell once: entered again only after new activity and a new spell', async () => {
		clock.ms = Date.UTC(2026, 5, 1);
		const schedule = new InactivitySchedule(store, `wf-winback:node:${topology}`, { inactiveMs: 30 * DAY });
		await schedule.maintain();
		// Two contacts of one shard: their counts add up in one day hash.
		const shard = store.keys.shardOfContact('idle-a');
		const idleB = Array.from({ length: 200 }, (_, k) => `idle-b${k}`).find(
			(id) => store.keys.shardOfContact(id) === shard,
		)!;
		await store.events.record([
			{ contactId: 'idle-a', name: 'login' },
			{ contactId: idleB, name: 'login' },
		]);
		const fired: string[] = [];
		const runner = () =>
			new ScheduleRunner(store, schedule, {
				journey: 'wf-winback',
				tickMs: 20,
				handler: async (due) => {
					fired.push(...due.map((d) => d.contact.id));
					// A node name holding the characters that delimit counters.
					return { waitingAt: 'Wait: 7 days, then | 50% off' };
				},
			});
		clock.advance(31 * DAY);
		await runUntil(runner(), () => fired.length === 2);
		const first = await journeyOf('wf-winback');
		expect(first.totals).toMatchObject({ entered: 2, waiting: 2, exited: 0 });
		expect(first.waitingAt).toEqual([{ step: 'Wait: 7 days, then | 50% off', count: 2 }]);
		// One counter per metric, the node name escaped where it holds a delimiter.
		expect(await store.call((r) => r.hget(store.keys.analyticsDay(shard, dayOf(clock.now())), 's|wf-winback'))).toBe(
			',Wait%3A 7 days%2C then %7C 50%25 off:2',
		);
		// idle-a comes back, then goes quiet again: a new spell, a new entry.
		await store.events.record([{ contactId: 'idle-a', name: 'login' }]);
		clock.advance(31 * DAY);
		await runUntil(runner(), () => fired.length === 3);
		expect(fired.sort()).toEqual(['idle-a', 'idle-a', idleB]);
		const journey = await journeyOf('wf-winback');
		expect(journey.totals).toMatchObject({ entered: 1, waiting: 1 });
		expect(journey.waitingAt).toEqual([{ step: 'Wait: 7 days, then | 50% off', count: 1 }]);
	});
});
