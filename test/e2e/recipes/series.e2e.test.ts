/**
 * Mail series started by one event (recipes 3, 7, 8, 11, 12), with their goals: a goal reached
 * before entry keeps the contact out, one reached on the way stops the series and records
 * `$goal_reached`. All journeys start in beforeAll and run side by side; each test checks one.
 */
import {
	contactOf,
	expectNoFailedExecutions,
	expectNoMoreMails,
	goalsReached,
	mails,
	record,
	seedContacts,
	subscribe,
	siteEvent,
	subjectsOf,
	uid,
	waitForMails,
	workflow,
	type Mail,
} from '../support/env';
import { SECONDS } from '../support/tweaks';

const email = (id: string) => `${id}@example.com`;
const gaps = (got: Mail[]) => got.slice(1).map((m, i) => m.parsed.date!.getTime() - got[i].parsed.date!.getTime());
/** After a mail arrives, the goal event lands well before the next check (the Waits are SECONDS.goalWait). */
const afterMail = async (id: string, n: number, then: () => Promise<void>) => {
	await waitForMails(email(id), n, { timeoutMs: 60000 });
	await then();
};

const ids = {
	drip: uid('drip'),
	dripUnsub: uid('drip-unsub'),
	lost: uid('lost'),
	lostWon: uid('lost-won'),
	lostCustomer: uid('lost-customer'),
	onboard: uid('onboard'),
	onboardLead: uid('onboard-lead'),
	magnet: uid('magnet'),
	magnetBuyer: uid('magnet-buyer'),
	magnetBuysLater: uid('magnet-later'),
	trial: uid('trial'),
	trialPaid: uid('trial-paid'),
	trialConverts: uid('trial-converts'),
};
const wfs = {
	drip: () => workflow('03-drip-series'),
	lost: () => workflow('07-lost-opportunity'),
	onboard: () => workflow('08-customer-onboarding'),
	magnet: () => workflow('11-lead-magnet'),
	trial: () => workflow('12-free-trial'),
};
let midway: Promise<unknown>;

beforeAll(async () => {
	// Read the mails so far now, so the pollers below see a new mail at once.
	await mails();
	// Contacts who confirmed a sign-up: under the default policy (double opt-in) only they get marketing mail.
	await subscribe(wfs.drip(), [ids.drip, ids.dripUnsub]);
	await subscribe(wfs.lost(), [ids.lost, ids.lostWon, ids.lostCustomer]);
	await subscribe(wfs.onboard(), [ids.onboard, ids.onboardLead]);
	await subscribe(wfs.magnet(), [ids.magnet, ids.magnetBuyer, ids.magnetBuysLater]);
	await subscribe(wfs.trial(), [ids.trial, ids.trialPaid, ids.trialConverts]);
	// Goals reached before entry.
	await seedContacts(wfs.lost(), [
		{ id: ids.lostCustomer, email: email(ids.lostCustomer), lifecycleStage: 'customer' },
	]);
	await record(wfs.magnet(), [siteEvent(ids.magnetBuyer, 'purchase', { total: 20 })]);
	await record(wfs.trial(), [siteEvent(ids.trialPaid, 'subscription_purchased', { plan: 'pro' })]);
	// The journeys start.
	await record(wfs.drip(), [
		siteEvent(ids.drip, 'signed_up', {}, { fields: { firstName: 'Dee' } }),
		siteEvent(ids.dripUnsub, 'signed_up'),
	]);
	await record(
		wfs.lost(),
		[ids.lost, ids.lostWon, ids.lostCustomer].map((id) => siteEvent(id, 'opportunity_lost', { amount: 5000 })),
	);
	await seedContacts(wfs.onboard(), [
		{ id: ids.onboard, email: email(ids.onboard), lifecycleStage: 'lead', fields: { firstName: 'Olu' } },
		{ id: ids.onboardLead, email: email(ids.onboardLead), lifecycleStage: 'subscriber' },
	]);
	// The CRM moves one to customer, the other to lead.
	await seedContacts(wfs.onboard(), [
		{ id: ids.onboard, lifecycleStage: 'customer' },
		{ id: ids.onboardLead, lifecycleStage: 'lead' },
	]);
	await record(
		wfs.magnet(),
		[ids.magnet, ids.magnetBuyer, ids.magnetBuysLater].map((id) =>
			siteEvent(id, 'lead_magnet_downloaded', { topic: 'Composting' }),
		),
	);
	await record(
		wfs.trial(),
		[ids.trial, ids.trialPaid, ids.trialConverts].map((id) => siteEvent(id, 'trial_started')),
	);
	// Things that happen on the way.
	midway = Promise.all([
		afterMail(ids.dripUnsub, 1, () =>
			seedContacts(wfs.drip(), [{ id: ids.dripUnsub, subscription: { status: 'unsubscribed', source: 'e2e' } }]),
		),
		afterMail(ids.lostWon, 1, () => record(wfs.lost(), [siteEvent(ids.lostWon, 'opportunity_won')])),
		afterMail(ids.magnetBuysLater, 2, () => record(wfs.magnet(), [siteEvent(ids.magnetBuysLater, 'purchase')])),
		afterMail(ids.trialConverts, 1, () =>
			record(wfs.trial(), [siteEvent(ids.trialConverts, 'subscription_purchased', { plan: 'pro' })]),
		),
	]);
});

describe('recipe 3: drip series', () => {
	it('mails day 1, 7 and 14 in order, a Wait apart; an unsubscribe after the first mail stops the rest', async () => {
		const got = await waitForMails(email(ids.drip), 3, { wf: wfs.drip() });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Welcome aboard, Dee',
			'Three tips after your first week',
			'Two weeks in: what comes next',
		]);
		// Each Wait is SECONDS.goalWait in the test copy; the Date header counts whole seconds.
		for (const gap of gaps(got)) expect(gap).toBeGreaterThanOrEqual(SECONDS.goalWait * 1000 - 1000);
		await midway;
		await expectNoMoreMails(email(ids.dripUnsub), 1, 7000);
		await expectNoMoreMails(email(ids.drip), 3, 0);
		await expectNoFailedExecutions(wfs.drip());
	});
});

describe('recipe 7: lost opportunity nurture with its goal (won)', () => {
	it('nurtures the lost lead three times; a lead won on the way stops with $goal_reached; a customer is kept out', async () => {
		const got = await waitForMails(email(ids.lost), 3, { wf: wfs.lost(), timeoutMs: 60000 });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'What others in your position did next',
			'What is new since we last spoke',
			'Ready to take another look?',
		]);
		expect((await contactOf(wfs.lost(), ids.lost))?.tags).toContain('nurture');
		await midway;
		expect(await subjectsOf(email(ids.lostWon))).toEqual(['What others in your position did next']);
		expect(await goalsReached(wfs.lost(), ids.lostWon)).toEqual([
			expect.objectContaining({ goal: 'won', workflow: wfs.lost().id }),
		]);
		expect(await subjectsOf(email(ids.lostCustomer))).toEqual([]);
		expect((await contactOf(wfs.lost(), ids.lostCustomer))?.tags ?? []).not.toContain('nurture');
		expect(await goalsReached(wfs.lost(), ids.lostCustomer)).toEqual([]);
		expect(await goalsReached(wfs.lost(), ids.lost)).toEqual([]);
		await expectNoMoreMails(email(ids.lostWon), 1, SECONDS.goalWait * 1000 * 2);
		await expectNoFailedExecutions(wfs.lost());
	});
});

describe('recipe 8: lead becomes customer -> onboarding', () => {
	it('sends the three onboarding mails to the new customer, in order; a lead gets none', async () => {
		const got = await waitForMails(email(ids.onboard), 3, { wf: wfs.onboard() });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Welcome, Olu: your first steps',
			'Set up in ten minutes',
			'Need a hand?',
		]);
		for (const gap of gaps(got)) expect(gap).toBeGreaterThanOrEqual(2000);
		await expectNoMoreMails(email(ids.onboardLead), 0, 1000);
		await expectNoFailedExecutions(wfs.onboard());
	});
});

describe('recipe 11: lead magnet series with its goal (purchase)', () => {
	it('six mails on the topic ending with the offer; a buyer is kept out; one who buys after mail 2 stops with $goal_reached', async () => {
		const got = await waitForMails(email(ids.magnet), 6, { wf: wfs.magnet(), timeoutMs: 90000 });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Your guide on Composting is inside',
			'Composting: the first mistake to avoid',
			'Composting: a checklist',
			'Composting: how others did it',
			'Composting: answers to your questions',
			'Composting: an offer to go further',
		]);
		expect(String(got[5].parsed.html)).toContain('GUIDE20');
		await midway;
		expect(await subjectsOf(email(ids.magnetBuysLater))).toEqual(got.slice(0, 2).map((m) => m.parsed.subject));
		expect(await goalsReached(wfs.magnet(), ids.magnetBuysLater)).toEqual([
			expect.objectContaining({ goal: 'purchased', workflow: wfs.magnet().id }),
		]);
		expect(await subjectsOf(email(ids.magnetBuyer))).toEqual([]);
		expect(await goalsReached(wfs.magnet(), ids.magnetBuyer)).toEqual([]);
		await expectNoFailedExecutions(wfs.magnet());
	});
});

describe('recipe 12: free trial with its goal (subscription purchased)', () => {
	it('thank-you, two tutorials and the feedback request; a paying contact is kept out; one who buys after the thank-you stops with $goal_reached', async () => {
		const got = await waitForMails(email(ids.trial), 4, { wf: wfs.trial(), timeoutMs: 60000 });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Your trial has started',
			'Tutorial: your first project',
			'Tutorial: working as a team',
			'How is your trial going?',
		]);
		await midway;
		expect(await subjectsOf(email(ids.trialConverts))).toEqual(['Your trial has started']);
		expect(await goalsReached(wfs.trial(), ids.trialConverts)).toEqual([
			expect.objectContaining({ goal: 'subscribed', workflow: wfs.trial().id }),
		]);
		expect(await subjectsOf(email(ids.trialPaid))).toEqual([]);
		await expectNoFailedExecutions(wfs.trial());
	});
});
