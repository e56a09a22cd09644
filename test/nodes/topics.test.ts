/**
 * Topics through the nodes, in n8n's execution context: the Contact node declares topics and sets a
 * contact's choices (get and export show them), and Send Campaign with a Topic mails, over a real
 * SMTP server (parsed with mailparser), only the contacts who did not leave the topic; its one-click
 * link names the topic.
 */
import type { INodeParameters } from 'n8n-workflow';
import { Contact } from '../../nodes/Contact/Contact.node';
import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { closeAllMailers } from '../../lib/campaigns';
import { verifyToken } from '../../lib/tracking';
import { storeConfig, topologies } from '../harness/store';
import { contactStoreCredentials, runNode } from '../harness/n8n';
import { startSmtp, type SmtpSink } from '../harness/smtp';

let smtp: SmtpSink;
beforeAll(async () => {
	smtp = await startSmtp({ user: 'mailer', password: 's3cret' });
});
afterAll(async () => {
	closeAllMailers();
	await smtp.stop();
	await closeAllStores();
});

describe.each(topologies)('topics in the nodes on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const lease = acquireStore(storeConfig(topology, String(credentials.contactStoreApi.keyPrefix)));
	const { store } = lease;
	afterAll(() => lease.release());

	const contact = (parameters: INodeParameters, items: object[] = [{}], continueOnFail = false) =>
		runNode({ nodeType: new Contact(), parameters, items: items as never, credentials, continueOnFail }).then(
			([out]) => out,
		);

	beforeAll(async () => {
		await store.contacts.upsert(
			['ada', 'bob', 'cyd'].map((id) => ({
				id,
				email: `${id}@example.com`,
				subscription: { status: 'subscribed' as const, source: 'form' },
			})),
		);
	});

	it('declares, lists and deletes topics; a bad name fails its item only', async () => {
		const declared = await contact(
			{ resource: 'topic', operation: 'declare', topicName: '={{ $json.name }}', label: '={{ $json.label }}' },
			[{ name: 'offers', label: 'Offers' }, { name: 'news', label: '' }, { name: 'bad name' }, { name: 'gone' }],
			true,
		);
		expect(declared.map((i) => i.json)).toEqual([
			{ name: 'offers', label: 'Offers' },
			{ name: 'news', label: 'news' },
			{
				error: expect.stringMatching(/"bad name" is not a valid topic name \(item 2, field "Topic Name"\)/),
				details: expect.any(String),
			},
			{ name: 'gone', label: 'gone' },
		]);
		const deleted = await contact({ resource: 'topic', operation: 'delete', topicName: '={{ $json.name }}' }, [
			{ name: 'gone' },
			{ name: 'never' },
		]);
		expect(deleted.map((i) => i.json)).toEqual([
			{ topic: 'gone', deleted: true },
			{ topic: 'never', deleted: false },
		]);
		const listed = await contact({ resource: 'topic', operation: 'list' }, [{}, {}]);
		expect(listed.map((i) => i.json.name)).toEqual(['news', 'offers']);
	});

	it("sets a contact's topics; get and export show them; an unknown topic is refused by name and writes nothing", async () => {
		const set = await contact({
			resource: 'topic',
			operation: 'setContact',
			contactId: 'bob',
			subscribeTopics: 'news',
			unsubscribeTopics: 'offers',
		});
		expect(set[0].json).toEqual({
			contactId: 'bob',
			changed: [
				{ topic: 'news', from: null, to: 'subscribed' },
				{ topic: 'offers', from: null, to: 'unsubscribed' },
			],
		});
		const got = await contact({ resource: 'contact', operation: 'get', contactId: 'bob' });
		expect(got[0].json.topics).toEqual({ news: 'subscribed', offers: 'unsubscribed' });
		const exported = await contact({ resource: 'contact', operation: 'export', contactId: 'bob' });
		expect(exported[0].json.topics).toEqual({ news: 'subscribed', offers: 'unsubscribed' });

		const before = await store.call((r) => r.hgetall(store.keys.contact('ada')));
		await expect(
			contact({ resource: 'topic', operation: 'setContact', contactId: 'ada', subscribeTopics: 'news, sports' }),
		).rejects.toThrow(/Unknown topic "sports" \(item 0, field "Subscribe To"\)/);
		const failed = await contact(
			{ resource: 'topic', operation: 'setContact', contactId: '={{ $json.id }}', unsubscribeTopics: 'offers' },
			[{ id: 'nobody' }, { id: 'cyd' }],
			true,
		);
		expect(failed[0].json.error).toMatch(/does not exist \(item 0, field "Contact ID"\)/);
		expect(failed[1].json).toMatchObject({ contactId: 'cyd', changed: [{ topic: 'offers', to: 'unsubscribed' }] });
		expect(await store.call((r) => r.hgetall(store.keys.contact('ada')))).toEqual(before);
	});

	it('Send Campaign on a topic mails only who did not leave it, over SMTP; its one-click link names the topic', async () => {
		smtp.mails.length = 0;
		const parameters = {
			operation: 'send',
			delivery: 'smtp',
			identifyBy: 'id',
			contactId: '={{ $json.id }}',
			campaignId: `offers-${topology}`,
			fromEmail: 'hello@shop.example',
			subject: 'This week',
			html: '<p>Deals</p>',
			trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
			options: { topic: 'offers' },
		};
		const smtpCredentials = {
			campaignSmtpApi: {
				host: '127.0.0.1',
				port: smtp.port,
				secure: false,
				starttls: 'never',
				user: 'mailer',
				password: 's3cret',
				poolSize: 2,
				ratePerSecond: 0,
				tlsSkipVerify: false,
			},
		};
		// bob and cyd left "offers" (test above); ada never chose: she gets it.
		const [sent, deferred, skipped] = await runNode({
			nodeType: new SendCampaign(),
			parameters,
			items: [{ id: 'ada' }, { id: 'bob' }, { id: 'cyd' }],
			credentials: { ...credentials, ...smtpCredentials },
		});
		expect(sent.map((i) => i.json.contactId)).toEqual(['ada']);
		expect(deferred).toEqual([]);
		expect(skipped.map((i) => [i.json.contactId, i.json.reason, i.json.detail])).toEqual([
			['bob', 'topic_unsubscribed', 'Unsubscribed from topic "offers"'],
			['cyd', 'topic_unsubscribed', 'Unsubscribed from topic "offers"'],
		]);
		const mails = await smtp.waitFor(1);
		expect(mails.map((m) => m.envelope.to)).toEqual([['ada@example.com']]);
		const token = /\/u\/([\w-]+)>/.exec(mails[0].headerLines['list-unsubscribe'])?.[1];
		expect(verifyToken('test-signing-secret', token, 'u')).toMatchObject({ contactId: 'ada', topic: 'offers' });
		expect(mails[0].headerLines['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');

		// An unknown topic fails the items by name, and nothing is sent.
		const [, , failed] = await runNode({
			nodeType: new SendCampaign(),
			parameters: { ...parameters, campaignId: `sports-${topology}`, options: { topic: 'sports' } },
			items: [{ id: 'ada' }],
			credentials: { ...credentials, ...smtpCredentials },
			continueOnFail: true,
		});
		expect(failed[0].json.error).toMatch(/Unknown topic "sports".*field "topic"/);
		expect(smtp.mails).toHaveLength(1);
	});
});
