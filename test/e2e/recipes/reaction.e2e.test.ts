/**
 * Recipe 16: an inactive contact reacts to the reactivation mail -> support (customer) or sales
 * (lead). The `reactivation` mails go out for real (Send Campaign, tracked, on the shared hub); the
 * reactions are the open-pixel hits a person's mail client or a link scanner makes.
 */
import {
	expectNoFailedExecutions,
	seedContacts,
	SUBSCRIBED,
	sinkRequests,
	sleep,
	state,
	uid,
	waitFor,
	waitForMails,
	workflow,
	type Mail,
} from '../support/env';
import { sendCampaignTo, startSender, stopSender } from '../support/sender';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const SCANNER_UA = 'Barracuda Sentinel (EE)';
const SEND_PATH = 'e2e-reaction-send';
const email = (id: string) => `${id}@example.com`;
const pixelOf = (mail: Mail) => /src="([^"]+\/t\/o\/[^"]+)"/.exec(String(mail.parsed.html))?.[1].replace(/&amp;/g, '&');

describe('recipe 16: reaction to the reactivation mail', () => {
	let senderId = '';
	afterAll(() => stopSender(senderId));

	it('a customer who opens goes to support, a lead to sales, once per 30 days; a scanner open or another campaign starts nothing', async () => {
		const wf = workflow('16-reactivation-reaction');
		expect(state().publishErrors[wf.slug]).toBeUndefined();
		const [customer, lead, scanned, other] = ['react-customer', 'react-lead', 'react-scanned', 'react-other'].map(uid);
		await seedContacts(wf, [
			{ id: customer, email: email(customer), lifecycleStage: 'customer', subscription: SUBSCRIBED },
			{ id: lead, email: email(lead), lifecycleStage: 'lead', subscription: SUBSCRIBED },
			{ id: scanned, email: email(scanned), lifecycleStage: 'customer', subscription: SUBSCRIBED },
			{ id: other, email: email(other), lifecycleStage: 'customer', subscription: SUBSCRIBED },
		]);
		senderId = await startSender(SEND_PATH);
		for (const id of [customer, lead, scanned]) await sendCampaignTo(SEND_PATH, id, 'reactivation');
		await sendCampaignTo(SEND_PATH, other, 'spring-sale');
		const mail: Record<string, Mail> = {};
		for (const id of [customer, lead, scanned, other]) [mail[id]] = await waitForMails(email(id), 1);
		// People open after the 5 s machine window; a scanner opens at once.
		const open = async (id: string, ua: string) =>
			expect((await fetch(pixelOf(mail[id])!, { headers: { 'user-agent': ua } })).status).toBe(200);
		await open(scanned, SCANNER_UA);
		const lastSent = Math.max(...Object.values(mail).map((m) => m.parsed.date!.getTime()));
		await sleep(Math.max(0, lastSent + 7000 - Date.now()));
		await open(customer, BROWSER_UA);
		await open(lead, BROWSER_UA);
		await open(other, BROWSER_UA);
		await sleep(1000);
		await open(customer, BROWSER_UA);

		const about = async (id: string) =>
			(await sinkRequests('/16-reactivation-reaction/')).filter((r) => r.body?.contactId === id);
		await waitFor('both teams told', async () => (await about(customer)).length > 0 && (await about(lead)).length > 0);
		await sleep(3000);
		const [support, ...moreSupport] = await about(customer);
		expect(moreSupport).toHaveLength(0);
		expect(support.url).toContain('Tell%20Support');
		expect(support.body).toMatchObject({
			team: 'support',
			email: email(customer),
			reaction: '$email_opened',
			campaignId: 'reactivation',
		});
		const [sales, ...moreSales] = await about(lead);
		expect(moreSales).toHaveLength(0);
		expect(sales.url).toContain('Tell%20Sales');
		expect(sales.body).toMatchObject({ team: 'sales', email: email(lead) });
		expect(await about(scanned)).toHaveLength(0);
		expect(await about(other)).toHaveLength(0);
		await expectNoFailedExecutions(wf);
	});
});
