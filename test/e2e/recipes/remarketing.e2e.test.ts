/**
 * Recipe 17: opened the promotion but did not buy -> remarketing audience. The promotion goes out
 * as real mails (Send Campaign over SMTP, open pixel on the shared hub); the opens are the pixel
 * hits a mail client or a scanner makes.
 */
import { createHash } from 'crypto';
import { acquireStore } from '../../../lib';
import {
	executions,
	expectNoFailedExecutions,
	n8n,
	seedContacts,
	sendEvents,
	sinkRequests,
	sleep,
	state,
	SUBSCRIBED,
	uid,
	waitFor,
	waitForMails,
	workflow,
	contactOf,
	type Mail,
} from '../support/env';
import { sendCampaignTo, startSender, stopSender } from '../support/sender';
import { SECONDS } from '../support/tweaks';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const SCANNER_UA = 'Barracuda Sentinel (EE)';
const SEND_PATH = 'e2e-remarketing-send';
const AUDIENCE_PATH = '/17-remarketing-audience/';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const pixelOf = (mail: Mail) => /src="([^"]+\/t\/o\/[^"]+)"/.exec(String(mail.parsed.html))?.[1].replace(/&amp;/g, '&');

describe('recipe 17: opened the promotion but did not buy -> remarketing audience', () => {
	const wf = () => workflow('17-remarketing-audience');
	// opener: opens, does not buy. buyer: opens, buys during the wait. early: the open comes right
	// after the send (a scanner's). scanned: a scanner's user agent. other: opens another campaign.
	const ids = {
		opener: uid('remk-opener'),
		buyer: uid('remk-buyer'),
		early: uid('remk-early'),
		scanned: uid('remk-scanned'),
		other: uid('remk-other'),
	};
	const emailOf = (id: string) => `${id}@example.com`;
	let senderId = '';
	let openerOpenedAt = 0;
	let executionsBefore = new Set<string>();

	const history = async (id: string) => {
		const lease = acquireStore({ host: '127.0.0.1', port: state().redisPort, keyPrefix: wf().keyPrefix });
		try {
			return await lease.store.events.history(id);
		} finally {
			lease.release();
		}
	};
	const opens = async (id: string) =>
		(await history(id))
			.filter((e) => e.name === '$email_opened')
			.map((e) => e.properties as { campaignId?: string; machine?: boolean; first?: boolean });
	/** The test contacts each run of the recipe in this test was about (sorted; one entry per run). */
	const runsStartedFor = async () => {
		const s = state();
		const runs = (await executions(wf())).filter((e) => !executionsBefore.has(e.id));
		const about = await Promise.all(
			runs.map(async (e) => {
				const data = String((await n8n.getExecution(s.baseUrl, s.cookie, e.id)).data);
				return Object.values(ids)
					.filter((id) => data.includes(id))
					.join(',');
			}),
		);
		return about.sort();
	};
	const audiencePosts = () => sinkRequests(AUDIENCE_PATH);
	const postsFor = async (id: string) =>
		(await audiencePosts()).filter((r) => r.body?.contactId === id || r.body?.hashedEmail === sha256(emailOf(id)));
	const open = async (mail: Mail, userAgent: string) => {
		const pixel = pixelOf(mail);
		expect(pixel?.startsWith(`${state().webhookUrl}/webhook/ma-tracking/t/o/`)).toBe(true);
		const res = await fetch(pixel!, { headers: { 'user-agent': userAgent } });
		expect(res.status).toBe(200);
		expect(res.headers.get('content-type')).toContain('image/gif');
	};

	beforeAll(async () => {
		const s = state();
		expect(s.publishErrors[wf().slug]).toBeUndefined();
		executionsBefore = new Set((await executions(wf())).map((e) => e.id));
		senderId = await startSender(SEND_PATH);

		// The CRM creates the contacts; the opener's address comes in untidy (the hash must not care).
		const created = await sendEvents(
			wf(),
			Object.values(ids).map((id) => ({
				contactId: id,
				email: id === ids.opener ? `  ${id.toUpperCase()}@Example.COM ` : emailOf(id),
				event: 'account_created',
				idempotencyKey: `${id}-created`,
			})),
		);
		expect(created.body).toMatchObject({ recorded: 5 });
		// Each confirmed a sign-up: under the default policy (double opt-in) only then marketing mail reaches it.
		await seedContacts(
			wf(),
			Object.values(ids).map((id) => ({ id, subscription: SUBSCRIBED })),
		);
		const campaigns: Record<string, string> = {
			[ids.opener]: 'spring-promo',
			[ids.buyer]: 'spring-promo',
			[ids.early]: 'spring-promo',
			[ids.scanned]: 'spring-promo',
			[ids.other]: 'summer-promo',
		};
		for (const [contactId, campaignId] of Object.entries(campaigns))
			await sendCampaignTo(SEND_PATH, contactId, campaignId);
		const mailOf: Record<string, Mail> = {};
		for (const id of Object.values(ids)) [mailOf[id]] = await waitForMails(emailOf(id), 1, { timeoutMs: 30000 });
		expect(mailOf[ids.other].parsed.subject).toBe('summer-promo: 20% off this week');
		// Fetched as soon as it arrives, from a browser: within the machine window of the send.
		await open(mailOf[ids.early], BROWSER_UA);

		// The person opens after the 5 s machine window (the Date header counts whole seconds).
		const lastSent = Math.max(...Object.values(mailOf).map((m) => m.parsed.date!.getTime()));
		await sleep(Math.max(0, lastSent + 7000 - Date.now()));
		openerOpenedAt = Date.now();
		await open(mailOf[ids.opener], BROWSER_UA);
		await open(mailOf[ids.buyer], BROWSER_UA);
		// People open a mail again: only the first open of the send starts the recipe.
		await sleep(1000);
		await open(mailOf[ids.opener], BROWSER_UA);
		expect(
			(
				await sendEvents(wf(), {
					contactId: ids.buyer,
					event: 'purchase',
					properties: { total: 59 },
					idempotencyKey: `${ids.buyer}-purchase`,
				})
			).body,
		).toMatchObject({ recorded: 1 });
		await open(mailOf[ids.scanned], SCANNER_UA);
		await open(mailOf[ids.other], BROWSER_UA);

		// Everything a run could do is done a while after the opener's post (or its deadline).
		await waitFor(
			'the opener tagged',
			async () => (await contactOf(wf(), ids.opener))?.tags.includes('remarketing'),
			SECONDS.remarketingWait * 1000 + 30000,
			500,
		).catch(() => undefined);
		await sleep(3000);
	});

	afterAll(() => stopSender(senderId));

	it('an opener who does not buy (and opens twice): one POST to the ads audience after the wait, with the hashed normalised e-mail, and the remarketing tag', async () => {
		const [post, ...more] = await postsFor(ids.opener);
		expect(post).toBeDefined();
		expect(more).toHaveLength(0);
		expect(post.method).toBe('POST');
		expect(post.body).toEqual({
			audience: 'spring-promo-openers',
			hashedEmail: sha256(emailOf(ids.opener)),
			contactId: ids.opener,
		});
		expect(post.at - openerOpenedAt).toBeGreaterThanOrEqual(SECONDS.remarketingWait * 1000);
		expect((await contactOf(wf(), ids.opener))?.tags).toContain('remarketing');
		const openerOpens = await opens(ids.opener);
		expect(openerOpens).toHaveLength(2);
		expect(openerOpens.filter((o) => o.first === true)).toHaveLength(1);
	});

	it('an opener who buys during the wait: no POST, no tag', async () => {
		expect((await opens(ids.buyer)).filter((o) => o.campaignId === 'spring-promo' && !o.machine)).toHaveLength(1);
		// Its open did start the recipe: the purchase stopped it after the wait.
		expect((await runsStartedFor()).filter((about) => about === ids.buyer)).toHaveLength(1);
		expect(await postsFor(ids.buyer)).toHaveLength(0);
		expect((await contactOf(wf(), ids.buyer))?.tags ?? []).not.toContain('remarketing');
	});

	it('a machine open (right after the send, or a scanner) or an open of another campaign starts nothing', async () => {
		// The opens were recorded, as what they are.
		expect(await opens(ids.early)).toEqual([expect.objectContaining({ campaignId: 'spring-promo', machine: true })]);
		expect(await opens(ids.scanned)).toEqual([expect.objectContaining({ campaignId: 'spring-promo', machine: true })]);
		expect(await opens(ids.other)).toEqual([expect.not.objectContaining({ machine: true })]);
		expect((await opens(ids.other))[0].campaignId).toBe('summer-promo');
		// The recipe ran once for each human open of the promotion, and for nothing else.
		expect(await runsStartedFor()).toEqual([ids.buyer, ids.opener].sort());
		for (const id of [ids.early, ids.scanned, ids.other]) {
			expect(await postsFor(id)).toHaveLength(0);
			expect((await contactOf(wf(), id))?.tags ?? []).not.toContain('remarketing');
		}
		await expectNoFailedExecutions(wf());
	});
});
