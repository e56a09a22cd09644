/**
 * The workspace send policy through the nodes in n8n's engine: the Contact node sets and reads it,
 * every Send Campaign in its default mode follows it at the next send, a node that overrides it
 * does not, and the panel says which applies.
 */
import type { IDataObject } from 'n8n-workflow';
import { Contact } from '../../nodes/Contact/Contact.node';
import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { SendPolicies } from '../../lib/campaigns';
import { storeConfig, topologies } from '../harness/store';
import { contactStoreCredentials, runNode, type InputItem } from '../harness/n8n';

afterAll(() => closeAllStores());

describe('Send Campaign panel', () => {
	it('shows a notice saying which policy applies, and the node options only when it overrides the policy', () => {
		const props = new SendCampaign().description.properties;
		const policy = props.find((p) => p.name === 'sendPolicy');
		expect(policy?.default).toBe('workspace');
		const notices = props.filter((p) => p.type === 'notice');
		expect(notices.map((n) => [n.displayOptions?.show?.sendPolicy, n.displayName.slice(0, 40)])).toEqual([
			[['workspace'], 'The workspace send policy applies: it is'],
			[['campaign'], 'This node overrides the workspace send p'],
		]);
		const options = (props.find((p) => p.name === 'options')?.options ?? []) as Array<{
			name: string;
			displayOptions?: IDataObject;
		}>;
		const own = options.filter((o) => JSON.stringify(o.displayOptions ?? {}).includes('/sendPolicy'));
		expect(own.map((o) => o.name).sort()).toEqual(
			[
				'capDays',
				'capMax',
				'fallbackTimeZone',
				'requireConsent',
				'useWindow',
				'windowDays',
				'windowEnd',
				'windowStart',
			].sort(),
		);
	});
});

describe.each(topologies)('workspace send policy through the nodes on %s Redis', (topology) => {
	const credentials = contactStoreCredentials(topology);
	const lease = acquireStore(storeConfig(topology, String(credentials.contactStoreApi.keyPrefix)));
	const { store } = lease;
	afterAll(() => lease.release());

	const contact = (parameters: IDataObject, items: InputItem[] = [{}], continueOnFail = false) =>
		runNode({ nodeType: new Contact(), parameters: parameters as never, items, credentials, continueOnFail }).then(
			([out]) => out,
		);
	const send = (items: InputItem[], over: IDataObject = {}) =>
		runNode({
			nodeType: new SendCampaign(),
			parameters: {
				operation: 'send',
				delivery: 'render',
				identifyBy: 'id',
				contactId: '={{ $json.id }}',
				campaignId: '={{ $json.campaign }}',
				fromEmail: 'hello@shop.example',
				subject: 'Hello',
				html: '<p>Hello</p>',
				trackingBaseUrl: 'https://n8n.example.com/webhook/x/marketing',
				...over,
			} as never,
			items,
			credentials,
		});

	beforeAll(async () => {
		await store.contacts.upsert([
			{
				id: 'confirmed',
				email: 'confirmed@example.com',
				timezone: 'UTC',
				subscription: { status: 'subscribed', source: 'form' },
			},
			{
				id: 'pending',
				email: 'pending@example.com',
				timezone: 'UTC',
				subscription: { status: 'pending', source: 'form' },
			},
			{ id: 'unknown', email: 'unknown@example.com', timezone: 'UTC' },
		]);
	});

	it('reads the default (double opt-in) and sends marketing mail to confirmed contacts only', async () => {
		expect((await contact({ resource: 'sendPolicy', operation: 'get' }))[0].json).toEqual({
			quietHours: null,
			frequencyCap: null,
			consent: 'doubleOptIn',
		});
		const [sent, , skipped] = await send([
			{ id: 'confirmed', campaign: 'p1' },
			{ id: 'pending', campaign: 'p1' },
			{ id: 'unknown', campaign: 'p1' },
		]);
		expect(sent.map((i) => i.json.contactId)).toEqual(['confirmed']);
		expect(skipped.map((i) => [i.json.contactId, i.json.reason])).toEqual([
			['pending', 'no_consent'],
			['unknown', 'no_consent'],
		]);
	});

	it('names the field of a bad zone or hour, writes nothing, and honours continueOnFail', async () => {
		const before = await new SendPolicies(store).get();
		const out = await contact(
			{
				resource: 'sendPolicy',
				operation: 'set',
				quietStart: '={{ $json.start }}',
				quietEnd: 8,
				fallbackTimeZone: '={{ $json.zone }}',
			},
			[
				{ start: 21, zone: 'Mars/Olympus' },
				{ start: 25, zone: 'UTC' },
			],
			true,
		);
		expect(out[0].json.error).toMatch(/IANA time zone \(item 0, field "Fallback Time Zone"\)/);
		expect(out[1].json.error).toMatch(/0-23, got 25 \(item 1, field "Quiet Hours Start"\)/);
		expect(await new SendPolicies(store).get()).toEqual(before);
		await expect(
			contact({ resource: 'sendPolicy', operation: 'set', fallbackTimeZone: 'Nowhere/Town' }),
		).rejects.toThrow(/field "Fallback Time Zone"/);
	});

	it('applies a new policy at the next send (no republishing); a node that overrides it keeps its own settings', async () => {
		const hour = new Date().getUTCHours();
		// Quiet now, in UTC (the contacts' zone), for two hours.
		const set = await contact({
			resource: 'sendPolicy',
			operation: 'set',
			consent: 'singleOptIn',
			quietStart: hour,
			quietEnd: (hour + 2) % 24,
			fallbackTimeZone: 'UTC',
			capMax: 3,
			capDays: 7,
		});
		expect(set[0].json).toMatchObject({
			consent: 'singleOptIn',
			quietHours: { startHour: hour, endHour: (hour + 2) % 24, fallbackZone: 'UTC' },
			frequencyCap: { max: 3, windowMs: 7 * 86_400_000 },
		});
		const [sent, deferred] = await send([
			{ id: 'unknown', campaign: 'p2' },
			{ id: 'confirmed', campaign: 'p2' },
		]);
		expect(sent).toEqual([]);
		expect(deferred.map((i) => i.json.reason)).toEqual(['outside_send_window', 'outside_send_window']);
		const sendAt = new Date(String(deferred[0].json.sendAt));
		expect(sendAt.getUTCHours()).toBe((hour + 2) % 24);
		expect(sendAt.getTime()).toBeGreaterThan(Date.now());
		// Overridden: the node's options (none: no window, no consent check) apply.
		const [own] = await send([{ id: 'unknown', campaign: 'p2' }], { sendPolicy: 'campaign' });
		expect(own.map((i) => i.json.status)).toEqual(['sent']);
		// Quiet hours off again: the same workflow sends at its next run.
		await contact({ resource: 'sendPolicy', operation: 'set', consent: 'singleOptIn', useQuietHours: false });
		const [later] = await send([{ id: 'confirmed', campaign: 'p2' }]);
		expect(later.map((i) => i.json.status)).toEqual(['sent']);
	});

	it('puts Deferred items earliest sendAt first (a Wait node reads item 0), each paired with its input', async () => {
		await store.contacts.upsert([
			{ id: 'zone-far', email: 'far@example.com', timezone: 'Etc/GMT+12' },
			{ id: 'zone-near', email: 'near@example.com', timezone: 'UTC' },
		]);
		const hour = new Date().getUTCHours();
		// One hour a day, two hours from now in UTC: UTC-12 reaches it 12 hours later.
		const window = {
			useWindow: true,
			windowStart: (hour + 2) % 24,
			windowEnd: (hour + 3) % 24,
			windowDays: [1, 2, 3, 4, 5, 6, 7],
		};
		const [, deferred] = await send(
			[
				{ id: 'zone-far', campaign: 'order' },
				{ id: 'confirmed', campaign: 'order' },
				{ id: 'zone-near', campaign: 'order' },
			],
			{ sendPolicy: 'campaign', options: window },
		);
		expect(deferred.map((i) => [i.json.contactId, i.pairedItem])).toEqual([
			['confirmed', { item: 1 }],
			['zone-near', { item: 2 }],
			['zone-far', { item: 0 }],
		]);
		const at = deferred.map((i) => Date.parse(String(i.json.sendAt)));
		expect(at[0]).toBe(at[1]);
		expect(at[2] - at[1]).toBe(12 * 3_600_000);
	});

	it('exports the proof of a double opt-in confirmation with the contact (GDPR art. 7)', async () => {
		await store.contacts.change(
			[
				{
					id: 'pending',
					subscription: {
						status: 'subscribed',
						from: 'pending',
						source: 'double-opt-in:welcome',
						proof: { ip: '203.0.113.7', userAgent: 'Mozilla/5.0 Firefox/140.0' },
					},
				},
			],
			'update',
		);
		const [item] = await contact({ resource: 'contact', operation: 'export', identifyBy: 'id', contactId: 'pending' });
		const proof = { source: 'double-opt-in:welcome', ip: '203.0.113.7', userAgent: 'Mozilla/5.0 Firefox/140.0' };
		expect(item.json).toMatchObject({
			found: true,
			consent: { status: 'subscribed', confirmation: proof },
			contact: { subscription: { confirmation: proof } },
		});
		expect(Date.parse(String((item.json.consent as IDataObject).at))).toBeGreaterThan(Date.now() - 60_000);
	});
});
