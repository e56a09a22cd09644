import { closeAllStores } from '../../lib/redis/pool';
import { NotFoundError } from '../../lib/errors';
import { EngagementTagger, type TierConfig } from '../../lib/engagement';
import { compileFilter, latestMatching } from '../../lib/triggers';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe.each(topologies)('Engagement Tagger on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);
	const tagger = new EngagementTagger(store);
	const one = async (id: string, config?: TierConfig) => {
		const [r] = await tagger.tag([id], config);
		if (!r.ok) throw r.error;
		return r.value;
	};
	const tierEvents = async (id: string) =>
		(await store.events.history(id, 100)).filter((e) => e.name === '$tier_changed').map((e) => e.properties);

	it('moves a contact Engaged -> Disengaged -> Inactive -> Engaged with one tier tag, the tag index and a $tier_changed event each time', async () => {
		await store.events.record([{ contactId: 'eve', name: 'login' }]);
		await store.contacts.upsert([{ id: 'eve', addTags: ['customer'] }]);
		expect(await one('eve')).toMatchObject({ tier: 'Engaged', previous: null, changed: true });
		clock.advance(29 * DAY);
		expect(await one('eve')).toMatchObject({ tier: 'Engaged', changed: false });
		clock.advance(DAY);
		expect(await one('eve')).toMatchObject({ tier: 'Disengaged', previous: 'Engaged', changed: true });
		clock.advance(30 * DAY);
		expect(await one('eve')).toMatchObject({ tier: 'Inactive', previous: 'Disengaged' });
		const contact = await store.contacts.getOne('eve');
		expect(contact?.tags).toEqual(['Inactive', 'customer']);
		expect(contact?.attributes.tier).toBe('Inactive');
		const shard = store.keys.shardOfContact('eve');
		expect(await store.call((r) => r.sismember(store.keys.index(shard, 'tag:Inactive'), 'eve'))).toBe(1);
		expect(await store.call((r) => r.sismember(store.keys.index(shard, 'tag:Engaged'), 'eve'))).toBe(0);
		await store.events.record([{ contactId: 'eve', name: 'click' }]);
		expect(await one('eve')).toMatchObject({ tier: 'Engaged', previous: 'Inactive' });
		expect((await tierEvents('eve')).reverse()).toEqual([
			{ from: null, to: 'Engaged' },
			{ from: 'Engaged', to: 'Disengaged' },
			{ from: 'Disengaged', to: 'Inactive' },
			{ from: 'Inactive', to: 'Engaged' },
		]);
		// A Contact Trigger on "tier changed to Inactive" finds it in the log.
		const [latest] = await latestMatching(store, compileFilter({ kind: 'tierChanged', to: ['Inactive'] }));
		expect(latest).toMatchObject({ contactId: 'eve', properties: { from: 'Disengaged', to: 'Inactive' } });
		// One event per change: the tier tag's switch is that event, which tag triggers match too.
		const history = (await store.events.history('eve', 100)).map((e) => e.name);
		expect(history.filter((n) => n === '$tag_added' || n === '$tag_removed')).toEqual(['$tag_added']); // 'customer' only
		const tagged = await latestMatching(store, compileFilter({ kind: 'tagAdded', tags: ['Engaged'] }));
		expect(tagged[0]).toMatchObject({
			contactId: 'eve',
			name: '$tier_changed',
			properties: { from: 'Inactive', to: 'Engaged' },
		});
		const untagged = await latestMatching(store, compileFilter({ kind: 'tagRemoved', tags: ['Disengaged'] }));
		expect(untagged[0]).toMatchObject({ contactId: 'eve', properties: { from: 'Disengaged', to: 'Inactive' } });
		expect(await latestMatching(store, compileFilter({ kind: 'tagRemoved', tags: ['customer'] }))).toEqual([]);
	});

	it('removes a stray second tier tag, and counts only chosen interaction events when asked', async () => {
		await store.events.record([{ contactId: 'stray', name: 'purchase' }]);
		await store.contacts.upsert([{ id: 'stray', addTags: ['Inactive'] }]);
		expect(await one('stray')).toMatchObject({ tier: 'Engaged' });
		expect((await store.contacts.getOne('stray'))?.tags).toEqual(['Engaged']);
		clock.advance(40 * DAY);
		await store.events.record([{ contactId: 'stray', name: 'pageview' }]);
		const custom = { names: ['Buyer', 'Lapsed'], boundaryDays: [35], interactionEvents: ['purchase'] };
		expect(await one('stray', custom)).toMatchObject({ tier: 'Lapsed', previous: 'Engaged' });
		expect((await store.contacts.getOne('stray'))?.tags.sort()).toEqual(['Engaged', 'Lapsed'].sort());
		expect(await one('stray')).toMatchObject({ tier: 'Engaged' });
	});

	it('8 concurrent tiering calls for one contact: one change, one event, one tier tag', async () => {
		await store.events.record([{ contactId: 'race', name: 'login' }]);
		clock.advance(61 * DAY);
		const results = await Promise.all(Array.from({ length: 8 }, () => tagger.tag(['race'])));
		expect(results.filter(([r]) => r.ok && r.value.changed)).toHaveLength(1);
		expect(await tierEvents('race')).toHaveLength(1);
		expect((await store.contacts.getOne('race'))?.tags).toEqual(['Inactive']);
	});

	it('whole-base run touches only contacts that crossed a boundary since the previous run', async () => {
		clock.ms = Date.UTC(2027, 0, 1);
		const base = clock.ms;
		const n = 300;
		// Last interactions spread over 100 days: contact i was last active i/3 days ago.
		for (let i = 0; i < n; i++) {
			await store.events.record([
				{ contactId: `wb-${i}`, name: 'seen', time: base - Math.floor((i / 3) * DAY) - 1000 },
			]);
		}
		const runName = `daily-${topology}`;
		const first = await tagger.runWholeBase(runName);
		expect(first.firstRun).toBe(true);
		const ours = <T extends { contactId: string }>(list: T[]) => list.filter((c) => c.contactId.startsWith('wb-'));
		expect(ours(first.changed)).toHaveLength(n);
		const tiers = await store.contacts.get(['wb-0', 'wb-100', 'wb-200']);
		expect(tiers.map((r) => r.ok && r.value?.attributes.tier)).toEqual(['Engaged', 'Disengaged', 'Inactive']);

		clock.advance(DAY);
		await store.events.record([{ contactId: 'wb-250', name: 'comeback' }]);
		const second = await tagger.runWholeBase(runName);
		// Crossing 30 days: last active 29-30 days ago (3 contacts); 60 days: 3 contacts; plus the comeback.
		expect(
			ours(second.changed)
				.map((c) => `${c.previous}->${c.tier}`)
				.sort(),
		).toEqual(
			[
				'Disengaged->Inactive',
				'Disengaged->Inactive',
				'Disengaged->Inactive',
				'Engaged->Disengaged',
				'Engaged->Disengaged',
				'Engaged->Disengaged',
				'Inactive->Engaged',
			].sort(),
		);
		expect(second.examined).toBeLessThan(20);
		// Everyone is where a full recomputation would put them.
		const all = await store.contacts.get(Array.from({ length: n }, (_, i) => `wb-${i}`));
		const expected = (i: number) => {
			if (i === 250) return 'Engaged';
			const age = clock.ms - (base - Math.floor((i / 3) * DAY) - 1000);
			return age >= 60 * DAY ? 'Inactive' : age >= 30 * DAY ? 'Disengaged' : 'Engaged';
		};
		expect(all.map((r, i) => (r.ok ? r.value?.attributes.tier : 'error') === expected(i))).not.toContain(false);
		const third = await tagger.runWholeBase(runName);
		expect(ours(third.changed)).toEqual([]);
	});

	it('a contact that never interacted is in the last tier; setPreviousRun moves the whole-base window', async () => {
		await store.contacts.upsert([{ id: 'silent' }]);
		expect(await one('silent')).toMatchObject({ tier: 'Inactive', lastInteractionAt: null });
		clock.ms = Date.UTC(2028, 0, 1);
		await store.events.record([{ contactId: 'window-1', name: 'seen', time: clock.ms - 30 * DAY - 5 * DAY }]);
		await tagger.tag(['window-1']);
		// As if the previous run had been 10 days ago: the 30-day crossing 5 days ago is in the window.
		await tagger.setPreviousRun(
			`win-${topology}`,
			{ names: ['Engaged', 'Disengaged', 'Inactive'], boundaryDays: [30, 60] },
			clock.ms - 10 * DAY,
		);
		const run = await tagger.runWholeBase(`win-${topology}`);
		expect(run.firstRun).toBe(false);
		expect(run.previousRunAt).toBe(new Date(clock.ms - 10 * DAY).toISOString());
		expect(run.examined).toBeGreaterThanOrEqual(1);
	});

	it('fails per contact for a missing contact, and names the field of a bad configuration', async () => {
		const [missing] = await tagger.tag(['nobody-here']);
		expect(!missing.ok && missing.error).toBeInstanceOf(NotFoundError);
		const bad: Array<[TierConfig, string]> = [
			[{ names: ['Only'], boundaryDays: [] }, 'tierNames'],
			[{ names: ['A', 'A'], boundaryDays: [1] }, 'tierNames'],
			[{ names: ['A', 'B', 'C'], boundaryDays: [30] }, 'boundaryDays'],
			[{ names: ['A', 'B', 'C'], boundaryDays: [60, 30] }, 'boundaryDays'],
			[{ names: ['A', 'B'], boundaryDays: [-1] }, 'boundaryDays'],
			[{ names: ['A', 'B'], boundaryDays: [1], interactionEvents: [''] }, 'interactionEvents'],
		];
		for (const [config, field] of bad) {
			await expect(tagger.tag(['x'], config)).rejects.toMatchObject({ field });
		}
		await expect(
			tagger.runWholeBase('r', { ...bad[0][0], names: ['A', 'B'], boundaryDays: [3], interactionEvents: ['buy'] }),
		).rejects.toMatchObject({ field: 'interactionEvents' });
		await expect(tagger.runWholeBase('', { names: ['A', 'B'], boundaryDays: [3] })).rejects.toMatchObject({
			field: 'runName',
		});
	});
});
