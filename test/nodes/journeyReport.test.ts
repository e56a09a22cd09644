/**
 * Contact > Journey > Report in n8n's engine: what Send Campaign and Record Goal Reached did in a
 * workflow comes back per journey and campaign, with the HTML page as a binary file; bad ranges are
 * per-item errors naming the field and the limit (continueOnFail honoured).
 */
import type { IDataObject } from 'n8n-workflow';
import { Contact } from '../../nodes/Contact/Contact.node';
import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { storeConfigFrom } from '../../nodes/shared/store';
import { TestClock, topologies } from '../harness/store';
import { contactStoreCredentials, runNode, type InputItem } from '../harness/n8n';

afterAll(() => closeAllStores());

const DAY = 86_400_000;

describe.each(topologies)('Journey report through the nodes on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	// Every date comes from one clock, fixed on another day than the real one: the nodes' pooled
	// store of this credential is this one (lib/redis/pool), so they write and report on its days,
	// and a run that crosses midnight still finds its sends "today".
	const clock = new TestClock(Date.now() - 3 * DAY);
	const lease = acquireStore(storeConfigFrom(credentials.contactStoreApi), { now: clock.now });
	const { store } = lease;
	afterAll(() => lease.release());
	const workflowId = `wf-report-${topology}`;
	const today = new Date(clock.ms).toISOString().slice(0, 10);

	const contact = (parameters: IDataObject, items: InputItem[] = [{}], continueOnFail = false) =>
		runNode({
			nodeType: new Contact(),
			parameters: parameters as never,
			items,
			credentials,
			continueOnFail,
			workflowId,
		}).then(([out]) => out);

	beforeAll(async () => {
		const ids = ['r1', 'r2', 'r3'];
		await store.contacts.upsert(
			ids.map((id) => ({ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } })),
		);
		await runNode({
			nodeType: new SendCampaign(),
			parameters: {
				operation: 'send',
				delivery: 'render',
				identifyBy: 'id',
				contactId: '={{ $json.id }}',
				campaignId: 'report-welcome',
				fromEmail: 'hello@shop.example',
				subject: 'Hello',
				html: '<p>Hello</p>',
				trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
			} as never,
			items: ids.map((id) => ({ id })),
			credentials,
			workflowId,
		});
		await contact({ resource: 'event', operation: 'goalReached', contactId: '={{ $json.id }}', goal: 'purchased' }, [
			{ id: 'r1' },
		]);
	});

	it('returns the journey and campaign counts, and the page with charts as an HTML file', async () => {
		const [item] = await contact({
			resource: 'journey',
			operation: 'report',
			from: today,
			to: today,
			journeys: workflowId,
			html: true,
		});
		const journey = (item.json.journeys as IDataObject[])[0];
		expect(journey).toMatchObject({
			journeyId: workflowId,
			totals: expect.objectContaining({ sent: 3, goalReached: 1 }),
		});
		const campaigns = item.json.campaigns as IDataObject[];
		expect(campaigns.find((c) => c.campaignId === 'report-welcome')).toMatchObject({
			totals: expect.objectContaining({ sent: 3 }),
		});
		const page = item.binary?.report;
		expect(page).toMatchObject({ mimeType: 'text/html', fileName: `journey-report-${today}-${today}.html` });
		const html = Buffer.from(page?.data ?? '', 'base64').toString('utf8');
		expect(html).toContain('<svg class="funnel"');
		expect(html).toContain(`Journey ${workflowId}`);
	});

	it('leaves the daily rows out when asked (totals only), the page still drawing its daily lines', async () => {
		const parameters = { resource: 'journey', operation: 'report', from: today, to: today, journeys: workflowId };
		const [withRows] = await contact(parameters);
		const [totalsOnly] = await contact({ ...parameters, daily: false, html: true });
		const rowsOf = (item: typeof withRows) =>
			[...(item.json.journeys as IDataObject[]), ...(item.json.campaigns as IDataObject[])].map((s) => s.daily);
		expect(rowsOf(withRows)).toContainEqual([expect.objectContaining({ date: today, sent: 3 })]);
		expect(rowsOf(totalsOnly).every((daily) => daily === undefined)).toBe(true);
		const strip = (list: IDataObject[]) => list.map(({ daily, ...subject }) => subject);
		expect(totalsOnly.json.journeys).toEqual(strip(withRows.json.journeys as IDataObject[]));
		expect(totalsOnly.json.campaigns).toEqual(strip(withRows.json.campaigns as IDataObject[]));
		const html = Buffer.from(totalsOnly.binary?.report?.data ?? '', 'base64').toString('utf8');
		expect(html).toContain('<svg class="daily"');
	});

	it('names the item, the field and the limit of a bad range, and continues on fail', async () => {
		const items = await contact(
			{ resource: 'journey', operation: 'report', from: '={{ $json.from }}', to: '={{ $json.to }}' },
			[
				{ from: '2025-01-01', to: '2026-02-01' },
				{ from: 'soon', to: today },
				{ from: today, to: today },
			],
			true,
		);
		expect(items[0].json.error).toMatch(/at most 366 .*\(item 0, field "from"\)/);
		expect(items[1].json.error).toMatch(/not a valid date \(item 1, field "from"\)/);
		expect(items[2].json.journeys).toBeDefined();
		await expect(contact({ resource: 'journey', operation: 'report', from: today, to: '2020-01-01' })).rejects.toThrow(
			/is before "From" .*field "to"/,
		);
	});
});
