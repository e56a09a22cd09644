/**
 * Action-based recipes started by one event or field change, each on a store of its own: webinar (6),
 * project survey (9), pricing-page alert (10), topic series (18), referral (20), enrichment (22),
 * lifecycle stages (25). Every journey starts in beforeAll, so they run side by side.
 */
import {
	contactOf,
	expectNoFailedExecutions,
	expectNoMoreMails,
	historyOf,
	record,
	seedContacts,
	subscribe,
	SUBSCRIBED,
	siteEvent,
	sinkRequests,
	sinkRespond,
	sleep,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from '../support/env';
import { SECONDS } from '../support/tweaks';

const email = (id: string) => `${id}@example.com`;
const ids = {
	attendee: uid('webinar-attendee'),
	noShow: uid('webinar-noshow'),
	late: uid('webinar-late'),
	projects: uid('survey-client'),
	pricingLead: uid('pricing-lead'),
	pricingCustomer: uid('pricing-customer'),
	topicReader: uid('topic-reader'),
	topicCasual: uid('topic-casual'),
	referrer: uid('ref-referrer'),
	referred: uid('ref-friend'),
	leadReferrer: uid('ref-lead'),
	leadReferred: uid('ref-lead-friend'),
	enriched: uid('enrich-lead'),
	notLead: uid('enrich-customer'),
};
const wfs = {
	webinar: () => workflow('06-webinar'),
	survey: () => workflow('09-project-survey'),
	pricing: () => workflow('10-pricing-page'),
	topics: () => workflow('18-topic-series'),
	referral: () => workflow('20-referral'),
	enrichment: () => workflow('22-lead-enrichment'),
};
const webinarId = uid('w');
const title = 'Growing Tomatoes';
let startsAt = 0;
let lateStartsAt = 0;

beforeAll(async () => {
	// 6: the webinar starts in 40 s (day / hour reminders 30 s / 15 s before, survey 12 s after); a late
	// registrant signs up 5 s before the start, when both reminders have passed.
	// Contacts who confirmed a sign-up: under the default policy (double opt-in) only they get marketing mail.
	await subscribe(wfs.webinar(), [ids.attendee, ids.noShow, ids.late]);
	await subscribe(wfs.survey(), [ids.projects]);
	await subscribe(wfs.topics(), [ids.topicReader, ids.topicCasual]);
	startsAt = Date.now() + 40000;
	lateStartsAt = Date.now() + 5000;
	const registration = (id: string, at: number, wid = webinarId) =>
		siteEvent(id, 'webinar_registered', {
			webinarId: wid,
			title,
			startsAt: new Date(at).toISOString(),
			joinUrl: 'https://webinar.example.com/j/1',
		});
	await record(wfs.webinar(), [
		registration(ids.attendee, startsAt),
		registration(ids.noShow, startsAt),
		registration(ids.late, lateStartsAt, `${webinarId}-late`),
	]);
	// 9: project Alpha finished (delivered twice, as retries do) and Beta.
	await record(wfs.survey(), [
		siteEvent(ids.projects, 'project_finished', { projectId: 'p-alpha', projectName: 'Alpha' }),
		siteEvent(ids.projects, 'project_finished', { projectId: 'p-alpha', projectName: 'Alpha' }),
		siteEvent(ids.projects, 'project_finished', { projectId: 'p-beta', projectName: 'Beta' }),
	]);
	// 10: a lead looks at pricing twice and at the blog; a customer looks at pricing.
	await seedContacts(wfs.pricing(), [
		{ id: ids.pricingLead, email: email(ids.pricingLead), lifecycleStage: 'lead' },
		{ id: ids.pricingCustomer, email: email(ids.pricingCustomer), lifecycleStage: 'customer' },
	]);
	await record(wfs.pricing(), [
		siteEvent(ids.pricingLead, 'page_viewed', { path: '/pricing' }),
		siteEvent(ids.pricingLead, 'page_viewed', { path: '/blog/why' }),
		siteEvent(ids.pricingCustomer, 'page_viewed', { path: '/pricing/enterprise' }),
	]);
	await sleep(500);
	await record(wfs.pricing(), [siteEvent(ids.pricingLead, 'page_viewed', { path: '/pricing#faq' })]);
	// 18: three articles on one topic (then a fourth); two on another.
	await record(wfs.topics(), [
		...[1, 2, 3].map((n) => siteEvent(ids.topicReader, 'article_read', { topic: 'compost', n })),
		...[1, 2].map((n) => siteEvent(ids.topicCasual, 'article_read', { topic: 'roses', n })),
	]);
	// 20: the referred friend of a customer, and of a lead, become customers.
	await seedContacts(wfs.referral(), [
		{
			id: ids.referrer,
			email: email(ids.referrer),
			lifecycleStage: 'customer',
			subscription: SUBSCRIBED,
			fields: { firstName: 'Rita' },
		},
		{ id: ids.leadReferrer, email: email(ids.leadReferrer), lifecycleStage: 'lead', subscription: SUBSCRIBED },
		{ id: ids.referred, email: email(ids.referred), lifecycleStage: 'lead', fields: { referredBy: ids.referrer } },
		{
			id: ids.leadReferred,
			email: email(ids.leadReferred),
			lifecycleStage: 'lead',
			fields: { referredBy: ids.leadReferrer },
		},
	]);
	await seedContacts(wfs.referral(), [
		{ id: ids.referred, lifecycleStage: 'customer' },
		{ id: ids.leadReferred, lifecycleStage: 'customer' },
	]);
	// 22: the enrichment service's answer; a contact becomes a lead, another a customer.
	await sinkRespond('/22-lead-enrichment/', { company: 'Acme Garden', industry: 'Retail', employees: 42, score: 0.87 });
	await seedContacts(wfs.enrichment(), [
		{ id: ids.enriched, email: email(ids.enriched), lifecycleStage: 'subscriber' },
		{ id: ids.notLead, email: email(ids.notLead), lifecycleStage: 'subscriber' },
	]);
	await seedContacts(wfs.enrichment(), [
		{ id: ids.enriched, lifecycleStage: 'lead' },
		{ id: ids.notLead, lifecycleStage: 'customer' },
	]);
});

describe('recipe 6: webinar', () => {
	it('confirms, reminds a day and an hour before, then surveys attendees and sends no-shows the recording', async () => {
		// The attendee joins after the start.
		await sleep(Math.max(0, startsAt + 1000 - Date.now()));
		await record(wfs.webinar(), [siteEvent(ids.attendee, 'webinar_attended', { webinarId })]);
		const attendee = await waitForMails(email(ids.attendee), 4, { wf: wfs.webinar(), timeoutMs: 60000 });
		expect(attendee.map((m) => m.parsed.subject)).toEqual([
			`You are registered: ${title}`,
			`Tomorrow: ${title}`,
			`Starting soon: ${title}`,
			`How was ${title}?`,
		]);
		const [, day, hour, survey] = attendee.map((m) => m.parsed.date!.getTime());
		// Not before their moments (the Date header counts whole seconds).
		expect(day).toBeGreaterThanOrEqual(startsAt - SECONDS.webinar.dayReminderMinutes * 60000 - 1000);
		expect(hour).toBeGreaterThanOrEqual(startsAt - SECONDS.webinar.hourReminderMinutes * 60000 - 1000);
		expect(survey).toBeGreaterThanOrEqual(startsAt + SECONDS.webinar.surveyAfterMinutes * 60000 - 1000);
		expect(String(attendee[0].parsed.html)).toContain('https://webinar.example.com/j/1');
		const noShow = await waitForMails(email(ids.noShow), 4, { wf: wfs.webinar() });
		expect(noShow.map((m) => m.parsed.subject)).toEqual([
			`You are registered: ${title}`,
			`Tomorrow: ${title}`,
			`Starting soon: ${title}`,
			`Missed ${title}? Here is the recording`,
		]);
		// Registered after both reminder times: confirmation, then straight to the recording.
		const late = await waitForMails(email(ids.late), 2, { wf: wfs.webinar() });
		expect(late.map((m) => m.parsed.subject)).toEqual([
			`You are registered: ${title}`,
			`Missed ${title}? Here is the recording`,
		]);
		await expectNoMoreMails(email(ids.attendee), 4, 2000);
		await expectNoFailedExecutions(wfs.webinar());
	});
});

describe('recipe 9: project finished -> survey', () => {
	it('one survey per finished project, after the wait, even when the event is delivered twice', async () => {
		const got = await waitForMails(email(ids.projects), 2, { wf: wfs.survey() });
		expect(got.map((m) => m.parsed.subject).sort()).toEqual(['How did Alpha go?', 'How did Beta go?']);
		await expectNoMoreMails(email(ids.projects), 2, 5000);
		await expectNoFailedExecutions(wfs.survey());
	});
});

describe('recipe 10: pricing page visited by a lead -> sales', () => {
	it('alerts sales once for the lead on the pricing page; nothing for the blog or for a customer', async () => {
		const posts = () => sinkRequests('/10-pricing-page-alert/');
		const [alert] = await waitFor('the sales alert', async () => {
			const got = (await posts()).filter((r) => r.body?.contactId === ids.pricingLead);
			return got.length > 0 && got;
		});
		expect(alert.body).toMatchObject({
			contactId: ids.pricingLead,
			email: email(ids.pricingLead),
			page: '/pricing',
			recipe: 'pricing-page',
		});
		expect(alert.body.text).toBe(`Lead ${email(ids.pricingLead)} is looking at /pricing`);
		await sleep(3000);
		expect((await posts()).filter((r) => r.body?.contactId === ids.pricingLead)).toHaveLength(1);
		expect((await posts()).filter((r) => r.body?.contactId === ids.pricingCustomer)).toHaveLength(0);
		await expectNoFailedExecutions(wfs.pricing());
	});
});

describe('recipe 18: several articles on one topic -> topic series', () => {
	it('three articles on a topic start its three-mail series once; a fourth does not restart it; two articles start nothing', async () => {
		const got = await waitForMails(email(ids.topicReader), 3, { wf: wfs.topics() });
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'You like compost: our best pieces',
			'compost: going deeper',
			'compost: what experts recommend',
		]);
		await record(wfs.topics(), [siteEvent(ids.topicReader, 'article_read', { topic: 'compost', n: 4 })]);
		await expectNoMoreMails(email(ids.topicReader), 3, 5000);
		await expectNoMoreMails(email(ids.topicCasual), 0, 0);
		await expectNoFailedExecutions(wfs.topics());
	});
});

describe('recipe 20: referral reward', () => {
	it('the customer whose referral becomes a customer gets 25% once, recorded as referral_rewarded; a lead referrer gets nothing', async () => {
		const [mail] = await waitForMails(email(ids.referrer), 1, { wf: wfs.referral() });
		const code = `REF25-${ids.referred
			.replace(/[^A-Za-z0-9]/g, '')
			.slice(-8)
			.toUpperCase()}`;
		expect(mail.parsed.subject).toBe('Your friend joined: here is 25% off');
		expect(String(mail.parsed.html)).toContain(code);
		const rewards = (await historyOf(wfs.referral(), ids.referrer)).filter((e) => e.name === 'referral_rewarded');
		expect(rewards.map((e) => e.properties)).toEqual([{ referredContactId: ids.referred, code, percent: 25 }]);
		// The friend leaves and comes back as a customer: still one reward.
		await seedContacts(wfs.referral(), [{ id: ids.referred, lifecycleStage: 'lead' }]);
		await seedContacts(wfs.referral(), [{ id: ids.referred, lifecycleStage: 'customer' }]);
		await expectNoMoreMails(email(ids.referrer), 1, 4000);
		await expectNoMoreMails(email(ids.leadReferrer), 0, 0);
		await expectNoMoreMails(email(ids.referred), 0, 0);
		await expectNoFailedExecutions(wfs.referral());
	});
});

describe('recipe 22: new lead -> enrichment', () => {
	it('posts the new lead to the enrichment service and stores its answer as fields; a new customer is not sent', async () => {
		const fields = await waitFor('the enrichment stored', async () => {
			const f = (await contactOf(wfs.enrichment(), ids.enriched))?.fields;
			return f?.company !== undefined && f;
		});
		expect(fields).toMatchObject({ company: 'Acme Garden', industry: 'Retail', employees: 42, predictedScore: 0.87 });
		const posts = await sinkRequests('/22-lead-enrichment/');
		expect(posts.filter((r) => r.body?.contactId === ids.enriched).map((r) => r.body)).toEqual([
			{ email: email(ids.enriched), contactId: ids.enriched },
		]);
		expect(posts.filter((r) => r.body?.contactId === ids.notLead)).toHaveLength(0);
		expect((await contactOf(wfs.enrichment(), ids.notLead))?.fields.company).toBeUndefined();
		await expectNoFailedExecutions(wfs.enrichment());
	});
});
