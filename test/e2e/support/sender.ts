/**
 * A campaign mailing driven by the test: a webhook workflow that sends the campaign it is given
 * (Send Campaign, tracked) to one contact of the shared store, with the shared hub as tracking URL.
 */
import { n8n, state } from './env';

export function senderWorkflow(baseUrl: string, path: string, options: Record<string, unknown> = { trackOpens: true }) {
	return {
		name: `E2E sender ${path}`,
		nodes: [
			{
				id: `${path}-hook`,
				name: 'Send Now',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2,
				position: [0, 0],
				webhookId: `${path}-hook`,
				parameters: { httpMethod: 'POST', path, responseMode: 'onReceived', options: {} },
			},
			{
				id: `${path}-campaign`,
				name: 'Send Promotion',
				type: 'n8n-nodes-marketing-automation.sendCampaign',
				typeVersion: 1,
				position: [260, 0],
				parameters: {
					contactId: '={{ $json.body.contactId }}',
					campaignId: '={{ $json.body.campaignId }}',
					campaignName: 'Promotion',
					fromEmail: 'news@example.com',
					fromName: 'Example Shop',
					subject: '={{ $json.body.campaignId }}: 20% off this week',
					html: '<p>Hi, our promotion is on: <a href="https://shop.example.com/promo">see the offer</a>.</p>',
					trackingBaseUrl: `${baseUrl}/webhook/ma-tracking`,
					options,
				},
				credentials: {
					contactStoreApi: { id: 'ma-contact-store', name: 'Contact Store' },
					campaignSmtpApi: { id: 'ma-smtp', name: 'Campaign SMTP' },
				},
			},
		],
		connections: { 'Send Now': { main: [[{ node: 'Send Promotion', type: 'main', index: 0 }]] } },
		settings: { executionOrder: 'v1' },
	};
}

/** Creates and publishes a sender on `path`; returns its workflow id (unpublish it in afterAll). */
export async function startSender(path: string, options?: Record<string, unknown>): Promise<string> {
	const s = state();
	const sender = await n8n.createWorkflowRest(s.baseUrl, s.cookie, senderWorkflow(s.baseUrl, path, options));
	await n8n.publishWorkflowRest(s.baseUrl, s.cookie, sender.id);
	await n8n.waitForWebhook(s.baseUrl, path, { method: 'POST', timeoutMs: 60000 });
	return sender.id;
}

export async function sendCampaignTo(path: string, contactId: string, campaignId: string): Promise<void> {
	const res = await n8n.callWebhook(state().baseUrl, path, { contactId, campaignId });
	if (res.status !== 200) throw new Error(`sender ${path}: ${res.status}`);
}

export async function stopSender(id: string): Promise<void> {
	const s = state();
	if (id) await n8n.unpublishWorkflowRest(s.baseUrl, s.cookie, id).catch(() => undefined);
}
