import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { closeAllMailers } from '../../lib/campaigns';
import { storeConfig, topologies } from '../harness/store';
import { contactStoreCredentials, runNode, runWorkflow } from '../harness/n8n';
import { Contact } from '../../nodes/Contact/Contact.node';
import { ContactTrigger } from '../../nodes/ContactTrigger/ContactTrigger.node';
import { startSmtp, type SmtpSink } from '../harness/smtp';
import { freePort } from '../../tools/ports';
import { scripts } from '../../lib/redis/scripts';
import { SegmentFilter } from '../../nodes/SegmentFilter/SegmentFilter.node';
import { ExecuteContext } from 'n8n-core';

let smtp: SmtpSink;
beforeAll(async () => {
	smtp = await startSmtp({ user: 'mailer', password: 's3cret' });
});
afterAll(async () => {
	closeAllMailers();
	await smtp.stop();
	await closeAllStores();
});
beforeEach(() => {
	smtp.mails.length = 0;
});

const smtpCredentials = (port = smtp.port, password = 's3cret') => ({
	campaignSmtpApi: {
		host: '127.0.0.1',
		port,
		secure: false,
		starttls: 'never',
		user: 'mailer',
		password,
		poolSize: 2,
		ratePerSecond: 0,
		tlsSkipVerify: false,
	},
});

const params = (over: Record<string, unknown> = {}) => ({
	operation: 'send',
	delivery: 'smtp',
	identifyBy: 'id',
	contactId: '={{ $json.id }}',
	campaignId: 'welcome',
	campaignName: 'Welcome',
	fromEmail: 'hello@shop.example',
	fromName: 'Shop',
	subject: 'Welcome {{ firstName | "friend" }}',
	html: '<p>Hi {{ firstName | "friend" }}, code {{ data.code }}</p>',
	trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
	options: { mergeData: '={{ JSON.stringify({ code: $json.code }) }}' },
	...over,
});

describe.each(topologies)('Send Campaign node on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const lease = acquireStore(storeConfig(topology, String(credentials.contactStoreApi.keyPrefix)));
	const { store } = lease;
	afterAll(() => lease.release());

	beforeAll(async () => {
		await store.contacts.upsert([
			{
				id: 'ada',
				email: 'ada@example.com',
				timezone: 'UTC',
				fields: { firstName: 'Ada' },
				subscription: { status: 'subscribed', source: 'form' },
			},
			{ id: 'bob', email: 'bob@example.com', subscription: { status: 'unsubscribed', source: 'link' } },
			{ id: 'cyd', email: 'cyd@example.com', timezone: 'UTC', subscription: { status: 'subscribed', source: 'form' } },
		]);
	});

	it('routes items to Sent and Skipped, keeps the input fields, and sends over the SMTP credential', async () => {
		const [sent, deferred, skipped] = await runNode({
			nodeType: new SendCampaign(),
			parameters: params(),
			items: [{ id: 'ada', code: 'A1' }, { id: 'bob', code: 'B2' }, { id: 'nobody' }],
			credentials: { ...credentials, ...smtpCredentials() },
		});
		expect(sent).toHaveLength(1);
		expect(sent[0]).toMatchObject({
			json: {
				id: 'ada',
				code: 'A1',
				status: 'sent',
				contactId: 'ada',
				campaignId: 'welcome',
				email: 'ada@example.com',
			},
			pairedItem: { item: 0 },
		});
		expect(deferred).toEqual([]);
		expect(skipped.map((i) => [i.json.reason, i.pairedItem])).toEqual([
			['unsubscribed', { item: 1 }],
			['no_contact', { item: 2 }],
		]);
		const [mail] = await smtp.waitFor(1);
		expect(mail.parsed.subject).toBe('Welcome Ada');
		expect(String(mail.parsed.html)).toContain('<p>Hi Ada, code A1</p>');
		expect(mail.headerLines['list-unsubscribe']).toMatch(
			/^<https:\/\/n8n\.example\.com\/webhook\/x\/marketing\/u\/[\w-]+>$/,
		);
		expect(mail.parsed.messageId).toBe(sent[0].json.messageId);
	});

	it('defers items outside the send window with the ISO time the window opens (for the Wait node)', async () => {
		const hour = new Date().getUTCHours();
		const startHour = (hour + 2) % 24;
		const [sent, deferred] = await runNode({
			nodeType: new SendCampaign(),
			parameters: params({
				campaignId: 'windowed',
				sendPolicy: 'campaign',
				options: {
					useWindow: true,
					windowStart: startHour,
					windowEnd: (hour + 3) % 24,
					windowDays: [1, 2, 3, 4, 5, 6, 7],
				},
			}),
			items: [{ id: 'cyd' }],
			credentials: { ...credentials, ...smtpCredentials() },
		});
		expect(sent).toEqual([]);
		expect(deferred[0].json).toMatchObject({ status: 'deferred', reason: 'outside_send_window' });
		expect(deferred[0].json.sendAt).toBe(deferred[0].json.until);
		const until = new Date(String(deferred[0].json.until));
		expect(until.getUTCHours()).toBe(startHour);
		expect(until.getUTCMinutes()).toBe(0);
		expect(until.getTime()).toBeGreaterThan(Date.now());
		expect(until.getTime() - Date.now()).toBeLessThanOrEqual(26 * 3_600_000);
	});

	/** A send of a campaign reserved for an attempt by an execution that died before confirming it. */
	// Named so that its test type ends in ".contactTrigger", as the pack's does; outside manual mode
	// n8n passes a trigger node's items through, as when the trigger emitted them.
	const contactTriggerNode = () => ({
		name: 'contactTrigger',
		nodeType: new ContactTrigger(),
		parameters: { mode: 'eventRecorded', eventNames: 'x' },
	});
	const holdReservation = (contactId: string, campaignId: string, attemptKey: string) =>
		store.run(
			scripts.reserveSend,
			[store.keys.contact(contactId), store.keys.shard(store.keys.shardOfContact(contactId))],
			[
				JSON.stringify({
					now: Date.now(),
					campaignId,
					token: `held-${attemptKey}`,
					attemptKey,
					transactional: false,
					allowResend: false,
					requireConsent: false,
					cap: false,
					window: false,
					staleMs: 600_000,
					retentionMs: 86_400_000,
				}),
			],
		);

	it('takes over a reservation only when the same event comes back to the same workflow and node', async () => {
		await store.contacts.upsert([
			{ id: 'dee', email: 'dee@example.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const send = (workflowId: string) =>
			runNode({
				nodeType: new SendCampaign(),
				parameters: params({ campaignId: 'redelivered' }),
				items: [{ id: 'dee', code: 'R', event: { id: 'E-1' } }],
				credentials: { ...credentials, ...smtpCredentials() },
				workflowId,
			});
		await holdReservation('dee', 'redelivered', 'event:E-1|wf-other|Send Campaign');
		const [, , skipped] = await send('wf-redelivery');
		expect(skipped.map((i) => i.json.reason)).toEqual(['send_in_progress']);
		expect(smtp.mails).toHaveLength(0);
		await store.call((r) => r.hdel(store.keys.contactKey('dee', 'reservations'), 'redelivered'));
		await holdReservation('dee', 'redelivered', 'event:E-1|wf-redelivery|Send Campaign');
		const [sent] = await send('wf-redelivery');
		expect(sent.map((i) => i.json.status)).toEqual(['sent']);
		expect(smtp.mails).toHaveLength(1);
	});

	it('redelivered events take over their dead reservations through a Contact node in between (each key from the trigger item it is paired to)', async () => {
		await store.contacts.upsert([
			{ id: 'eve', email: 'eve@example.com' },
			{ id: 'eli', email: 'eli@example.com' },
		]);
		// The first delivery's execution (a batch of two events) reserved the sends, then its worker was killed.
		await holdReservation('eve', 'after-contact', 'event:E-9|wf-after-contact|Send Campaign');
		await holdReservation('eli', 'after-contact', 'event:E-10|wf-after-contact|Send Campaign');
		const run = await runWorkflow({
			mode: 'trigger',
			nodes: [
				contactTriggerNode(),
				{
					name: 'Record Consent',
					nodeType: new Contact(),
					parameters: {
						resource: 'subscription',
						operation: 'subscribe',
						identifyBy: 'id',
						contactId: '={{ $json.contactId }}',
						consentSource: 'form',
					},
				},
				{
					name: 'Send Campaign',
					nodeType: new SendCampaign(),
					parameters: params({ campaignId: 'after-contact', html: '<p>Hi</p>', options: {} }),
				},
			],
			connections: [
				['contactTrigger', 'Record Consent'],
				['Record Consent', 'Send Campaign'],
			],
			items: [
				{ contactId: 'eve', event: { id: 'E-9', name: 'x' }, delivery: { attempt: 2 } },
				{ contactId: 'eli', event: { id: 'E-10', name: 'x' }, delivery: { attempt: 2 } },
			],
			credentials: { ...credentials, ...smtpCredentials() },
			workflowId: 'wf-after-contact',
		});
		const [sent, , skipped] = run.output('Send Campaign');
		expect(skipped.map((i) => i.json.reason)).toEqual([]);
		expect(sent.map((i) => i.json.status)).toEqual(['sent', 'sent']);
		expect(smtp.mails.map((m) => m.envelope.to[0]).sort()).toEqual(['eli@example.com', 'eve@example.com']);
	});

	it("one event fanned out to many contacts: each takes over its dead reservation, the trigger's event read once", async () => {
		const ids = ['fan-1', 'fan-2', 'fan-3'];
		await store.contacts.upsert(
			ids.map((id) => ({
				id,
				email: `${id}@example.com`,
				addTags: ['fan-out'],
				subscription: { status: 'subscribed', source: 'form' },
			})),
		);
		for (const id of ids) await holdReservation(id, 'fanned', 'event:E-7|wf-fan-out|Send Campaign');
		const proxies = jest.spyOn(ExecuteContext.prototype, 'getWorkflowDataProxy');
		try {
			const run = await runWorkflow({
				mode: 'trigger',
				nodes: [
					contactTriggerNode(),
					{
						name: 'Tagged',
						nodeType: new SegmentFilter(),
						parameters: {
							mode: 'segment',
							pagination: 'all',
							conditions: { condition: [{ type: 'tags', tagOperator: 'hasAny', tags: 'fan-out' }] },
						},
					},
					{
						name: 'Send Campaign',
						nodeType: new SendCampaign(),
						parameters: params({
							campaignId: 'fanned',
							contactId: '={{ $json.contactId }}',
							html: '<p>Hi</p>',
							options: {},
						}),
					},
				],
				connections: [
					['contactTrigger', 'Tagged'],
					['Tagged', 'Send Campaign'],
				],
				items: [{ contactId: 'someone', event: { id: 'E-7', name: 'x' }, delivery: { attempt: 2 } }],
				credentials: { ...credentials, ...smtpCredentials() },
				workflowId: 'wf-fan-out',
			});
			const [sent, , skipped] = run.output('Send Campaign');
			expect(skipped.map((i) => i.json.reason)).toEqual([]);
			expect(sent).toHaveLength(3);
			expect(smtp.mails.map((m) => m.envelope.to[0]).sort()).toEqual(ids.map((id) => `${id}@example.com`));
			const bySend = proxies.mock.contexts.filter((c) => (c as ExecuteContext).getNode().name === 'Send Campaign');
			expect(bySend).toHaveLength(1);
		} finally {
			proxies.mockRestore();
		}
	});

	it('render-only mode outputs the finished message for another e-mail node, without SMTP credential', async () => {
		const [sent] = await runNode({
			nodeType: new SendCampaign(),
			parameters: params({ campaignId: 'rendered', delivery: 'render' }),
			items: [{ id: 'cyd', code: 'C3' }],
			credentials,
		});
		expect(sent[0].json).toMatchObject({
			status: 'sent',
			message: {
				from: '"Shop" <hello@shop.example>',
				to: 'cyd@example.com',
				subject: 'Welcome friend',
				headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
			},
		});
		expect(smtp.mails).toHaveLength(0);
	});

	it('fails an item naming the missing merge field, or outputs the error under continue on fail', async () => {
		const parameters = params({ campaignId: 'strict', subject: 'For {{ lastName }}', delivery: 'render' });
		await expect(
			runNode({ nodeType: new SendCampaign(), parameters, items: [{ id: 'ada' }], credentials }),
		).rejects.toThrow(
			/Merge field "lastName" in the subject has no value for contact "ada".*\(item 0, field "subject"\)/,
		);
		// A failed item was not sent: it goes to Skipped, never Sent.
		const [sent, , skipped] = await runNode({
			nodeType: new SendCampaign(),
			parameters,
			items: [{ id: 'ada' }, { id: 'bob' }],
			credentials,
			continueOnFail: true,
		});
		expect(sent).toEqual([]);
		expect(skipped.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(skipped[0].json).toEqual({
			error: expect.stringMatching(/lastName.*item 0/),
			details: expect.stringMatching(/give a fallback/),
		});
		// With On Error "continue (using error output)" n8n moves them to its error output (the fourth).
		const outputs = await runNode({
			nodeType: new SendCampaign(),
			parameters,
			items: [{ id: 'ada' }],
			credentials,
			onError: 'continueErrorOutput',
		});
		expect(outputs.slice(0, 3)).toEqual([[], [], []]);
		expect(outputs[3]).toEqual([
			expect.objectContaining({
				json: expect.objectContaining({ error: expect.stringMatching(/lastName.*item 0/) }),
				pairedItem: { item: 0 },
			}),
		]);
	});

	it('names the field of a bad parameter and of an unreachable SMTP server', async () => {
		await expect(
			runNode({
				nodeType: new SendCampaign(),
				parameters: params({ fromEmail: 'not-an-address' }),
				items: [{ id: 'ada' }],
				credentials: { ...credentials, ...smtpCredentials() },
			}),
		).rejects.toThrow(/not a valid e-mail address.*field "fromEmail"/);
		await expect(
			runNode({
				nodeType: new SendCampaign(),
				parameters: params({ options: { mergeData: '{oops' } }),
				items: [{ id: 'ada' }],
				credentials: { ...credentials, ...smtpCredentials() },
			}),
		).rejects.toThrow(/field "mergeData"/);
		const port = await freePort();
		await expect(
			runNode({
				nodeType: new SendCampaign(),
				parameters: params({ campaignId: 'down' }),
				items: [{ id: 'cyd', code: 'D' }],
				credentials: { ...credentials, ...smtpCredentials(port) },
			}),
		).rejects.toThrow(new RegExp(`Cannot reach the SMTP server \\(127\\.0\\.0\\.1:${port}\\)`));
		expect(await store.events.countSince('cyd', '$email_sent', 0)).toBe(1);
	});

	it('4 concurrent executions for the same contact and campaign send one mail', async () => {
		await store.contacts.upsert([
			{ id: 'race', email: 'race@example.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const runs = await Promise.all(
			[1, 2, 3, 4].map(() =>
				runNode({
					nodeType: new SendCampaign(),
					parameters: params({ campaignId: 'race' }),
					items: [{ id: 'race', code: 'R' }],
					credentials: { ...credentials, ...smtpCredentials() },
				}),
			),
		);
		expect(runs.map(([sent]) => sent.length).reduce((a, b) => a + b)).toBe(1);
		expect(runs.flatMap(([, , skipped]) => skipped.map((i) => i.json.reason)).sort()).toEqual(
			expect.arrayContaining([expect.stringMatching(/send_in_progress|already_sent/)]),
		);
		await new Promise((r) => setTimeout(r, 200));
		expect(smtp.mails.filter((m) => m.envelope.to[0] === 'race@example.com')).toHaveLength(1);
	});

	it('returns a campaign report', async () => {
		const [report] = await runNode({
			nodeType: new SendCampaign(),
			parameters: { operation: 'report', campaignId: '={{ $json.c }}' },
			items: [{ c: 'welcome' }, { c: 'never-sent' }],
			credentials,
		});
		expect(report.map((i) => [i.json.campaignId, i.json.sent])).toEqual([
			['welcome', 1],
			['never-sent', 0],
		]);
	});
});

describe('Campaign SMTP credential test', () => {
	const test = (data: Record<string, unknown>) =>
		new SendCampaign().methods.credentialTest.campaignSmtpConnectionTest.call(
			{} as never,
			{ id: '1', name: 'smtp', type: 'campaignSmtpApi', data } as never,
		);

	it('connects and logs in, or explains what failed', async () => {
		expect(await test(smtpCredentials().campaignSmtpApi)).toEqual({ status: 'OK', message: 'Connection successful' });
		const wrong = await test(smtpCredentials(smtp.port, 'wrong').campaignSmtpApi);
		expect(wrong.status).toBe('Error');
		expect(wrong.message).toMatch(/SMTP login failed.*535/);
		const closed = await test(smtpCredentials(await freePort()).campaignSmtpApi);
		expect(closed).toMatchObject({ status: 'Error', message: expect.stringContaining('Cannot reach the SMTP server') });
	});
});
