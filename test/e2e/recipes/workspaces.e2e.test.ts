/**
 * Two Marketing Webhook Triggers on one n8n (two workspaces): each has its own Path parameter, so
 * n8n registers both sets of ":param" tracking paths and each answers the hits sent to its own URL.
 */
import { acquireStore, Campaigns } from '../../../lib';
import { executions, n8n, state, uid, waitFor } from '../support/env';

const TRIGGER = 'n8n-nodes-marketing-automation.marketingWebhookTrigger';
const SPACES = [
	{ path: 'ws-a', webhookId: 'e2e-ws-a-hook' },
	{ path: 'ws-b', webhookId: 'e2e-ws-b-hook' },
];

describe('two Marketing Webhook Triggers with different Paths', () => {
	const created: Array<{ id: string; base: string; hookPath: string }> = [];

	beforeAll(async () => {
		const s = state();
		const credentialId = 'ma-contact-store';
		for (const space of SPACES) {
			const wf = await n8n.createWorkflowRest(s.baseUrl, s.cookie, {
				name: `E2E workspace ${space.path}`,
				nodes: [
					{
						id: `${space.path}-trigger`,
						name: 'Marketing Webhook Trigger',
						type: TRIGGER,
						typeVersion: 1,
						position: [0, 0],
						webhookId: space.webhookId,
						parameters: { path: space.path, emit: ['opens', 'clicks'] },
						credentials: { contactStoreApi: { id: credentialId, name: 'Contact Store' } },
					},
				],
				connections: {},
				settings: {},
			});
			await n8n.publishWorkflowRest(s.baseUrl, s.cookie, wf.id);
			const hookPath = `${space.webhookId}/${space.path}`;
			created.push({ id: wf.id, base: `${s.baseUrl}/webhook/${hookPath}`, hookPath });
		}
		for (const c of created)
			await n8n.waitForWebhook(s.baseUrl, `${c.hookPath}/t/o/probe`, { method: 'GET', timeoutMs: 60000 });
	});

	afterAll(async () => {
		const s = state();
		for (const c of created) await n8n.unpublishWorkflowRest(s.baseUrl, s.cookie, c.id).catch(() => undefined);
	});

	it('each answers its own open pixel with a GIF and its own click with a 302, and runs its own workflow', async () => {
		const s = state();
		const keyPrefix = s.workflows.find((w) => w.credentialId === 'ma-contact-store')!.keyPrefix;
		const lease = acquireStore({ host: '127.0.0.1', port: s.redisPort, keyPrefix });
		try {
			for (const c of created) {
				const id = uid('workspace');
				await lease.store.contacts.upsert([
					{ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'form' } },
				]);
				const [r] = await new Campaigns(lease.store).send(
					{
						id: uid('ws-campaign'),
						fromEmail: 'news@example.com',
						subject: 'Hi',
						html: '<a href="https://shop.example/sale">x</a>',
						trackingBaseUrl: c.base,
						signingSecret: s.signingSecret,
						trackClicks: true,
						trackOpens: true,
					},
					[{ contactId: id }],
					{ mode: 'render' },
				);
				if (!r.ok || r.value.status !== 'sent' || !r.value.message)
					throw new Error(`render failed: ${JSON.stringify(r)}`);
				const html = r.value.message.html;
				const openUrl = (new RegExp(`${c.base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/t/o/[\\w.-]+`).exec(html) ??
					[])[0];
				const clickUrl = (new RegExp(`${c.base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/t/c/[\\w.-]+`).exec(html) ??
					[])[0];
				expect(openUrl).toBeDefined();
				expect(clickUrl).toBeDefined();
				const open = await fetch(openUrl!, { headers: { 'user-agent': 'Mozilla/5.0 (e2e)' } });
				expect(open.status).toBe(200);
				expect(open.headers.get('content-type')).toContain('image/gif');
				expect(
					Buffer.from(await open.arrayBuffer())
						.subarray(0, 3)
						.toString(),
				).toBe('GIF');
				const click = await fetch(clickUrl!, { redirect: 'manual', headers: { 'user-agent': 'Mozilla/5.0 (e2e)' } });
				expect(click.status).toBe(302);
				expect(click.headers.get('location')).toBe('https://shop.example/sale');
			}
			// Each trigger started its own workflow (emit opens and clicks), so neither hit went to the other.
			for (const c of created) {
				await waitFor(
					`executions of ${c.hookPath}`,
					async () => (await executions({ id: c.id } as never)).length >= 1 || undefined,
					30000,
				);
			}
		} finally {
			lease.release();
		}
	});
});
