'use strict';
// The example workflows (examples/workflows/*.json) and the credentials they reference by fixed
// ids, shared by `npm start` (scripts/start.js), the end-to-end tests (test/e2e) and bench/n8n.
// Plain CommonJS on Node's standard library.

const fs = require('node:fs');
const path = require('node:path');

const EXAMPLES_DIR = path.join(__dirname, 'workflows');

/** Fixed credential ids the example workflows reference. */
const CREDENTIAL_IDS = {
	contactStore: 'ma-contact-store',
	smtp: 'ma-smtp',
	webhook: 'ma-webhook',
};

/** [{ file, slug, workflow }] for every example workflow, sorted by file name. */
function loadExamples(dir = EXAMPLES_DIR) {
	if (!fs.existsSync(dir)) return [];
	return fs
		.readdirSync(dir)
		.filter((f) => f.endsWith('.json'))
		.sort()
		.map((file) => {
			const workflow = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
			return { file, slug: file.replace(/\.json$/, ''), workflow };
		});
}

/**
 * The three credentials, in the shape `n8n import:credentials` takes (plain `data`; n8n encrypts
 * it with the user folder's key). `id` overrides give a credential set of its own (tests).
 */
function credentials({ redis, smtp, webhook, signingSecret, ids = CREDENTIAL_IDS, nameSuffix = '' }) {
	return [
		{
			id: ids.contactStore,
			name: `Contact Store${nameSuffix}`,
			type: 'contactStoreApi',
			data: {
				host: redis.host || '127.0.0.1',
				port: Number(redis.port),
				user: redis.user || '',
				password: redis.password || '',
				database: Number(redis.database || 0),
				tls: !!redis.tls,
				tlsSkipVerify: false,
				// Comma-separated host:port of Redis Cluster nodes; host/port above is then one of them.
				clusterNodes: (redis.clusterNodes || []).join(','),
				keyPrefix: redis.keyPrefix || 'ma:',
				signingSecret,
			},
		},
		{
			id: ids.smtp,
			name: `Campaign SMTP${nameSuffix}`,
			type: 'campaignSmtpApi',
			data: {
				host: smtp.host || '127.0.0.1',
				port: Number(smtp.port),
				secure: !!smtp.secure,
				starttls: smtp.starttls || 'never',
				user: smtp.user || '',
				password: smtp.password || '',
				poolSize: 2,
				ratePerSecond: 0,
				tlsSkipVerify: !!smtp.tlsSkipVerify,
			},
		},
		{
			id: ids.webhook,
			name: `Marketing Webhook${nameSuffix}`,
			type: 'marketingWebhookApi',
			data: {
				sharedSecret: webhook.sharedSecret,
				sharedSecretHeader: 'X-Webhook-Secret',
				hmacSecret: '',
				hmacHeader: 'X-Signature',
				sendgridPublicKey: '',
				mailgunSigningKey: '',
				postmarkUser: '',
				postmarkPassword: '',
				brevoToken: '',
				snsTopicArns: '',
			},
		},
	];
}

/** Webhook ids of the Marketing Webhook Triggers in a workflow. */
function triggerWebhookIds(workflow) {
	return workflow.nodes
		.filter((n) => String(n.type).endsWith('.marketingWebhookTrigger') && n.webhookId)
		.map((n) => n.webhookId);
}

/** Every Webhook (core) path in a workflow: [{ path, method }]. */
function coreWebhookPaths(workflow) {
	return workflow.nodes
		.filter((n) => n.type === 'n8n-nodes-base.webhook')
		.map((n) => ({ path: n.parameters.path, method: n.parameters.httpMethod || 'GET' }));
}

/**
 * Points Send Campaign's Tracking Base URL at this n8n: whatever host the example names,
 * `<anything>/webhook/<id>` becomes `<baseUrl>/webhook/<id>`.
 */
function localizeTrackingUrls(workflow, baseUrl) {
	for (const node of workflow.nodes) {
		const url = node.parameters && node.parameters.trackingBaseUrl;
		if (typeof url !== 'string') continue;
		const at = url.indexOf('/webhook/');
		if (at >= 0) node.parameters.trackingBaseUrl = `${baseUrl.replace(/\/+$/, '')}${url.slice(at)}`;
	}
	return workflow;
}

/** Rewrites credential references by id (e.g. { 'ma-contact-store': { id, name } }). */
function remapCredentials(workflow, map) {
	for (const node of workflow.nodes) {
		for (const [type, ref] of Object.entries(node.credentials || {})) {
			if (ref && map[ref.id]) node.credentials[type] = { ...map[ref.id] };
		}
	}
	return workflow;
}

module.exports = {
	EXAMPLES_DIR,
	CREDENTIAL_IDS,
	loadExamples,
	credentials,
	triggerWebhookIds,
	coreWebhookPaths,
	localizeTrackingUrls,
	remapCredentials,
};
