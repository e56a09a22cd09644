/**
 * The workspace send policy on real Redis: stored once per workspace, checked whole, and honoured
 * by every send in 'workspace' mode (consent rule, quiet hours in the contact's zone, one cap for
 * all marketing campaigns), read again at most POLICY_CACHE_MS after a change.
 */
import { closeAllStores } from '../../lib/redis/pool';
import {
	Campaigns,
	checkPolicy,
	DEFAULT_POLICY,
	POLICY_CACHE_MS,
	SendPolicies,
	type CampaignSpec,
	type SendOutcome,
} from '../../lib/campaigns';
import { ContactStore, ValidationError, type Result, type SubscriptionStatus } from '../../lib';
import { openStore, topologies } from '../harness/store';

const SECRET = 'test-signing-secret-0123456789';
const DAY = 86_400_000;

const spec = (id: string, over: Partial<CampaignSpec> = {}): CampaignSpec => ({
	id,
	fromEmail: 'news@shop.example',
	subject: 'Hello',
	html: '<p>Hello</p>',
	trackingBaseUrl: 'https://n8n.example.com/webhook/abc/marketing',
	signingSecret: SECRET,
	policy: 'workspace',
	...over,
});

function value<T>(result: Result<T>): T {
	if (!result.ok) throw result.error;
	return result.value;
}

afterAll(() => closeAllStores());

describe('checkPolicy', () => {
	it('names the field of an invalid zone, hour, cap or consent rule', () => {
		const quiet = { startHour: 21, endHour: 8, fallbackZone: 'Europe/Berlin' };
		const cases: Array<[unknown, string]> = [
			[{ quietHours: { ...quiet, fallbackZone: 'Mars/Olympus' } }, 'quietHours.fallbackZone'],
			[{ quietHours: { ...quiet, startHour: 24 } }, 'quietHours.startHour'],
			[{ quietHours: { ...quiet, endHour: -1 } }, 'quietHours.endHour'],
			[{ quietHours: { ...quiet, endHour: 7.5 } }, 'quietHours.endHour'],
			[{ quietHours: { ...quiet, endHour: 21 } }, 'quietHours.endHour'],
			[{ frequencyCap: { max: 0.5, windowMs: DAY } }, 'frequencyCap.max'],
			[{ frequencyCap: { max: 2, windowMs: 10 } }, 'frequencyCap.window'],
			[{ consent: 'whenever' }, 'consent'],
			['strict', 'policy'],
		];
		for (const [input, field] of cases) {
			let error: unknown;
			try {
				checkPolicy(input);
			} catch (e) {
				error = e;
			}
			expect(error).toBeInstanceOf(ValidationError);
			expect((error as ValidationError).field).toBe(field);
		}
		expect(checkPolicy({ quietHours: quiet })).toEqual({
			quietHours: quiet,
			frequencyCap: null,
			consent: 'doubleOptIn',
		});
	});
});

describe.each(topologies)('workspace send policy on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const campaigns = new Campaigns(store);
	const policies = new SendPolicies(store);
	afterAll(() => ctx.release());

	let n = 0;
	const contact = async (status?: SubscriptionStatus, timezone: string | null = 'Europe/Berlin') => {
		const id = `p${++n}-${topology}`;
		value(
			(
				await store.contacts.upsert([
					{
						id,
						email: `${id}@example.com`,
						timezone,
						...(status ? { subscription: { status, source: 'form' } } : {}),
					},
				])
			)[0],
		);
		return id;
	};
	const send = async (id: string, s: CampaignSpec): Promise<SendOutcome> =>
		value((await campaigns.send(s, [{ contactId: id }], { mode: 'render' }))[0]);

	beforeEach(() => {
		// 2026-01-15 12:00 UTC: 13:00 in Berlin, 04:00 in Los Angeles.
		clock.ms = Date.UTC(2026, 0, 15, 12, 0);
	});

	it('is double opt-in until set: pending and no-status contacts get no marketing mail, transactional mail goes', async () => {
		expect(await policies.get()).toEqual(DEFAULT_POLICY);
		const confirmed = await contact('subscribed');
		const pending = await contact('pending');
		const unknown = await contact();
		expect(await send(confirmed, spec('m1'))).toMatchObject({ status: 'sent' });
		expect(await send(pending, spec('m1'))).toMatchObject({ status: 'skipped', reason: 'no_consent' });
		expect(await send(unknown, spec('m1'))).toMatchObject({ status: 'skipped', reason: 'no_consent' });
		expect(await send(pending, spec('receipt', { transactional: true }))).toMatchObject({ status: 'sent' });
		// The node's own settings apply only when it overrides the policy ('campaign' mode).
		expect(await send(unknown, spec('m2', { policy: 'campaign' }))).toMatchObject({ status: 'sent' });
		expect(await send(unknown, spec('m3', { requireConsent: false }))).toMatchObject({ reason: 'no_consent' });
	});

	it('stores one policy per workspace, writes nothing when a field is wrong, and single opt-in lets unknown contacts through', async () => {
		await policies.set({ consent: 'singleOptIn', quietHours: null, frequencyCap: null });
		const before = await store.call((r) => r.get(policies.key));
		await expect(
			policies.set({ consent: 'doubleOptIn', quietHours: { startHour: 21, endHour: 8, fallbackZone: 'Nowhere/City' } }),
		).rejects.toMatchObject({ field: 'quietHours.fallbackZone' });
		expect(await store.call((r) => r.get(policies.key))).toBe(before);
		const unknown = await contact();
		const gone = await contact('unsubscribed');
		expect(await send(unknown, spec('single'))).toMatchObject({ status: 'sent' });
		expect(await send(gone, spec('single'))).toMatchObject({ status: 'skipped', reason: 'unsubscribed' });
		// Another workspace (prefix) on the same Redis keeps the default.
		const other = openStore(topology);
		expect((await new SendPolicies(other.store).get()).consent).toBe('doubleOptIn');
		other.release();
	});

	it("defers during quiet hours in the contact's zone (fallback zone without one) with sendAt", async () => {
		await policies.set({
			consent: 'doubleOptIn',
			quietHours: { startHour: 21, endHour: 8, fallbackZone: 'Asia/Tokyo' },
		});
		const berlin = await contact('subscribed');
		const la = await contact('subscribed', 'America/Los_Angeles');
		const noZone = await contact('subscribed', null);
		expect(await send(berlin, spec('q1'))).toMatchObject({ status: 'sent' });
		// 04:00 in LA: quiet until 08:00 LA = 16:00 UTC.
		expect(await send(la, spec('q1'))).toEqual({
			status: 'deferred',
			contactId: la,
			campaignId: 'q1',
			reason: 'outside_send_window',
			until: '2026-01-15T16:00:00.000Z',
			sendAt: '2026-01-15T16:00:00.000Z',
		});
		// 21:00 in Tokyo: quiet until 08:00 Tokyo next day = 23:00 UTC.
		expect(await send(noZone, spec('q1'))).toMatchObject({
			reason: 'outside_send_window',
			sendAt: '2026-01-15T23:00:00.000Z',
		});
		// Transactional mail ignores quiet hours.
		expect(await send(la, spec('q-receipt', { transactional: true }))).toMatchObject({ status: 'sent' });
		// At sendAt the deferred mail goes.
		clock.ms = Date.UTC(2026, 0, 15, 16, 0);
		expect(await send(la, spec('q1'))).toMatchObject({ status: 'sent' });
	});

	it('caps marketing mail across all campaigns together', async () => {
		await policies.set({ consent: 'doubleOptIn', quietHours: null, frequencyCap: { max: 2, windowMs: 7 * DAY } });
		const id = await contact('subscribed');
		expect(await send(id, spec('cap-a'))).toMatchObject({ status: 'sent' });
		expect(await send(id, spec('cap-b', { transactional: true }))).toMatchObject({ status: 'sent' });
		expect(await send(id, spec('cap-c'))).toMatchObject({ status: 'sent' });
		expect(await send(id, spec('cap-d'))).toMatchObject({
			status: 'deferred',
			reason: 'frequency_cap',
			sendAt: new Date(clock.ms + 7 * DAY).toISOString(),
		});
	});

	it('takes a change into account at the next send: at once in this process, within POLICY_CACHE_MS in another', async () => {
		await policies.set({ consent: 'singleOptIn' });
		const unknown = await contact();
		expect(await send(unknown, spec('c1'))).toMatchObject({ status: 'sent' });
		// Another process (its own store object) has read the policy...
		const elsewhere = new ContactStore(store.redis, store.keys.prefix, { now: clock.now });
		const remote = new Campaigns(elsewhere);
		const remoteSend = async (id: string, s: CampaignSpec) =>
			value((await remote.send(s, [{ contactId: id }], { mode: 'render' }))[0]);
		expect(await remoteSend(await contact(), spec('c2'))).toMatchObject({ status: 'sent' });
		// ...and the policy changes here.
		await policies.set({ consent: 'doubleOptIn' });
		expect(await send(await contact(), spec('c3'))).toMatchObject({ reason: 'no_consent' });
		clock.advance(POLICY_CACHE_MS);
		expect(await remoteSend(await contact(), spec('c4'))).toMatchObject({ reason: 'no_consent' });
	});
});
