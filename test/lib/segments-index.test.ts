/**
 * The fast path beside the slow one: a segment listed through an index (Segments.page reads the
 * candidates from ix:act / ix:all ranges for lastActivityAt / createdAt conditions) must find
 * exactly the contacts that testing every contact finds (Segments.evaluate, no index), at the
 * boundaries to the millisecond, where an index range one millisecond off would lose or add one.
 */
import { closeAllStores } from '../../lib/redis/pool';
import { Segments, type SegmentCondition } from '../../lib/segments';
import { openStore } from '../harness/store';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe('segment index ranges against testing every contact, at the boundaries (ms)', () => {
	const { store, clock } = openStore('standalone');
	const segments = new Segments(store);
	const start = clock.ms;
	// The query runs at `now`; the boundary B is 3 days before it (withinLastDays 3) and the
	// instant the date conditions name.
	const now = start + 10 * DAY;
	const B = now - 3 * DAY;
	const instants = { 'B-1': B - 1, B, 'B+1': B + 1, 'now-1': now - 1, now };
	const ids: string[] = [];

	beforeAll(async () => {
		for (const [label, at] of Object.entries(instants)) {
			// createdAt: the clock when the contact is created (into ix:all).
			clock.ms = at;
			const created = `created ${label}`;
			// lastActivityAt: its latest event's time (into ix:act); created long before.
			const active = `active ${label}`;
			ids.push(created, active);
			expect((await store.contacts.upsert([{ id: created }])).every((r) => r.ok)).toBe(true);
			clock.ms = start;
			expect((await store.contacts.upsert([{ id: active }])).every((r) => r.ok)).toBe(true);
			clock.ms = now;
			expect((await store.events.record([{ contactId: active, name: 'visit', time: at }])).every((r) => r.ok)).toBe(
				true,
			);
		}
		clock.ms = now;
	});

	const iso = (ms: number) => new Date(ms).toISOString();
	const conditions = (field: string): Array<[string, SegmentCondition]> => [
		['withinLastDays 3', { type: 'field', field, operator: 'withinLastDays', days: 3 }],
		['after B', { type: 'field', field, operator: 'after', value: iso(B) }],
		['gt B', { type: 'field', field, operator: 'gt', value: iso(B) }],
		['gte B', { type: 'field', field, operator: 'gte', value: iso(B) }],
		['before B', { type: 'field', field, operator: 'before', value: iso(B) }],
		['lt B', { type: 'field', field, operator: 'lt', value: iso(B) }],
		['lte B', { type: 'field', field, operator: 'lte', value: iso(B) }],
		['between B and B+1', { type: 'field', field, operator: 'between', value: iso(B), value2: iso(B + 1) }],
	];

	describe.each([
		['lastActivityAt', 'ix:act', 'active'],
		['createdAt', 'ix:all', 'created'],
	])('%s (%s)', (field, index, kind) => {
		it.each(conditions(field))('%s', async (_label, condition) => {
			const listed: string[] = [];
			let plan = '';
			for await (const page of segments.pages(condition, { pageSize: 3 })) {
				plan = page.plan;
				listed.push(...page.contacts.map((c) => c.contactId));
			}
			expect(plan).toContain(`${index} range`);
			const tested = (await segments.evaluate(condition, ids)).flatMap((r) =>
				r.ok && r.value.matched ? [r.value.contactId] : [],
			);
			const ofKind = (list: string[]) => list.filter((id) => id.startsWith(kind)).sort();
			expect(ofKind(listed)).toEqual(ofKind(tested));
			// The boundary contacts are there to be told apart: the condition takes some, not all.
			expect(ofKind(tested).length).toBeGreaterThan(0);
			expect(ofKind(tested).length).toBeLessThan(Object.keys(instants).length);
		});
	});
});
