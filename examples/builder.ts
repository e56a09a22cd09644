/**
 * Small helpers that build n8n workflow JSON (the format n8n exports and `n8n import:workflow`
 * reads): nodes with id, name, type, typeVersion, position, parameters, credentials; connections
 * by node name and output index. Used by build-workflows.ts to write workflows/*.json.
 */
import { createHash } from 'crypto';

export type Params = Record<string, unknown>;

export interface WorkflowNode {
	id: string;
	name: string;
	type: string;
	typeVersion: number;
	position: [number, number];
	parameters: Params;
	credentials?: Record<string, { id: string; name: string }>;
	webhookId?: string;
	notesInFlow?: boolean;
	notes?: string;
	/** n8n's node settings: what a failed item does, run once for all items, an empty item when none. */
	onError?: 'stopWorkflow' | 'continueRegularOutput' | 'continueErrorOutput';
	executeOnce?: boolean;
	alwaysOutputData?: boolean;
}

export interface WorkflowJson {
	id: string;
	name: string;
	active: boolean;
	nodes: WorkflowNode[];
	connections: Record<string, { main: Array<Array<{ node: string; type: 'main'; index: number }>> }>;
	settings: Params;
	meta: Params;
	tags: unknown[];
}

export const PACKAGE = 'n8n-nodes-marketing-automation';
export const CREDENTIALS = {
	contactStoreApi: { id: 'ma-contact-store', name: 'Contact Store' },
	campaignSmtpApi: { id: 'ma-smtp', name: 'Campaign SMTP' },
	marketingWebhookApi: { id: 'ma-webhook', name: 'Marketing Webhook' },
	/** n8n's own public API (an API key of this n8n): only the GDPR erase example uses it. */
	n8nApi: { id: 'ma-n8n-api', name: 'n8n API' },
};
/** webhookId of the Marketing Webhook Trigger in 00-marketing-webhook.json: its URL is <n8n>/webhook/ma-tracking. */
export const TRACKING_WEBHOOK_ID = 'ma-tracking';
/**
 * Send Campaign's Tracking Base URL, derived from this n8n's own webhook base URL ($execution.resumeUrl
 * is <webhook base>/webhook-waiting/<execution id>), so the examples work on any instance unchanged.
 * Behind a proxy with another public URL, replace it with https://<your n8n>/webhook/ma-tracking.
 */
export const TRACKING_BASE_URL = `={{ $execution.resumeUrl.split('/webhook-waiting/')[0] }}/webhook/${TRACKING_WEBHOOK_ID}`;
/** Placeholder host of every external HTTP call (CRM, Slack incoming webhook, ads, enrichment). */
export const HOOKS = 'https://hooks.example.com';
export const FROM = { fromEmail: 'news@example.com', fromName: 'Example Shop' };

/** A stable UUID-shaped id from a seed, so regenerating the files changes nothing. */
export function stableId(seed: string): string {
	const h = createHash('sha1').update(seed).digest('hex');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const GRID_X = 260;
const GRID_Y = 200;

export class Workflow {
	readonly nodes: WorkflowNode[] = [];
	readonly connections: WorkflowJson['connections'] = {};
	/** Workflow settings beside the execution order (what n8n saves of its executions, say). */
	readonly settings: Params = {};

	constructor(
		readonly file: string,
		readonly name: string,
		readonly id: string,
	) {}

	/** Adds a node at grid cell [column, row]; returns its name for connections. */
	add(
		name: string,
		type: string,
		typeVersion: number,
		cell: [number, number],
		parameters: Params,
		extra: Partial<WorkflowNode> = {},
	): string {
		if (this.nodes.some((n) => n.name === name)) throw new Error(`${this.file}: duplicate node name "${name}"`);
		this.nodes.push({
			id: stableId(`${this.file}/${name}`),
			name,
			type,
			typeVersion,
			position: [cell[0] * GRID_X, cell[1] * GRID_Y],
			parameters,
			...extra,
		});
		return name;
	}

	/** Connects output `output` of `from` to the (only) input of `to`. */
	connect(from: string, to: string, output = 0): this {
		const main = (this.connections[from] ??= { main: [] }).main;
		while (main.length <= output) main.push([]);
		main[output].push({ node: to, type: 'main', index: 0 });
		return this;
	}

	/** Connects output 0 of each node to the next. */
	chain(...names: string[]): this {
		for (let i = 1; i < names.length; i++) this.connect(names[i - 1], names[i]);
		return this;
	}

	/** A sticky note (Markdown) at grid cell [column, row], spanning width x height cells. */
	sticky(name: string, content: string, cell: [number, number], size: [number, number], color = 7): string {
		return this.add(name, 'n8n-nodes-base.stickyNote', 1, cell, {
			content,
			height: Math.round(size[1] * GRID_Y - 20),
			width: Math.round(size[0] * GRID_X - 20),
			color,
		});
	}

	toJSON(): WorkflowJson {
		return {
			id: this.id,
			name: this.name,
			active: false,
			nodes: this.nodes,
			connections: this.connections,
			settings: { executionOrder: 'v1', ...this.settings },
			meta: { templateCredsSetupCompleted: false },
			tags: [],
		};
	}
}

// ---------- our nodes ----------

const ours = (nodeName: string) => `${PACKAGE}.${nodeName}`;
const storeCredentials = { contactStoreApi: CREDENTIALS.contactStoreApi };

export function contactTrigger(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('contactTrigger'), 1, cell, parameters, { credentials: storeCredentials });
}

export function contact(
	wf: Workflow,
	name: string,
	cell: [number, number],
	parameters: Params,
	settings: Partial<WorkflowNode> = {},
): string {
	return wf.add(name, ours('contact'), 1, cell, parameters, { credentials: storeCredentials, ...settings });
}

export function segmentFilter(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('segmentFilter'), 1, cell, parameters, { credentials: storeCredentials });
}

export function leadScore(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('leadScore'), 1, cell, parameters, { credentials: storeCredentials });
}

export function engagementTagger(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('engagementTagger'), 1, cell, parameters, { credentials: storeCredentials });
}

export function abSplit(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('abSplit'), 1, cell, parameters, { credentials: storeCredentials });
}

export function loopGuard(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(name, ours('loopGuard'), 1, cell, parameters, { credentials: storeCredentials });
}

export function marketingWebhookTrigger(
	wf: Workflow,
	name: string,
	cell: [number, number],
	parameters: Params,
	webhookId: string,
): string {
	return wf.add(name, ours('marketingWebhookTrigger'), 1.1, cell, parameters, {
		credentials: { contactStoreApi: CREDENTIALS.contactStoreApi, marketingWebhookApi: CREDENTIALS.marketingWebhookApi },
		webhookId,
	});
}

export interface Mail {
	campaignId: string;
	campaignName?: string;
	subject: string;
	html: string;
	preheader?: string;
	options?: Params;
	/** Other Send Campaign parameters (contactId, identifyBy...). */
	extra?: Params;
	/**
	 * `wait` (default): Deferred goes to a Wait node until `sendAt` and back into this node. `handOff`:
	 * the caller wires Deferred itself (a broadcast hands it to an execution of its own, see
	 * build-workflows.ts `deferredHandOff`).
	 */
	deferred?: 'wait' | 'handOff';
}

/**
 * Send Campaign over SMTP, with the shared sender and the tracking URL of 00-marketing-webhook.
 * Its Deferred output (quiet hours, frequency cap, SMTP "try later") goes to a Wait node resuming
 * at `{{ $json.sendAt }}`, then back into the node, which checks the workspace policy again. The
 * Wait node reads its time from item 0 only and holds every item: Send Campaign puts its Deferred
 * items earliest first, so each round sends the earliest group and defers the rest again.
 */
export function sendCampaign(wf: Workflow, name: string, cell: [number, number], mail: Mail): string {
	const send = wf.add(
		name,
		ours('sendCampaign'),
		1,
		cell,
		{
			campaignId: mail.campaignId,
			...(mail.campaignName ? { campaignName: mail.campaignName } : {}),
			...FROM,
			subject: mail.subject,
			...(mail.preheader ? { preheader: mail.preheader } : {}),
			html: mail.html,
			trackingBaseUrl: TRACKING_BASE_URL,
			options: mail.options ?? {},
			...(mail.extra ?? {}),
		},
		{ credentials: { contactStoreApi: CREDENTIALS.contactStoreApi, campaignSmtpApi: CREDENTIALS.campaignSmtpApi } },
	);
	if (mail.deferred !== 'handOff') {
		const later = waitUntilSendAt(wf, `${name}: Wait Until sendAt`, [cell[0] + 0.5, cell[1] + 0.55]);
		wf.connect(send, later, DEFERRED_OUTPUT).connect(later, send);
	}
	return send;
}

/** Send Campaign's outputs: 0 Sent, 1 Deferred, 2 Skipped. */
export const DEFERRED_OUTPUT = 1;

/** A Wait node resuming at the item's `sendAt` (of item 0: n8n's Wait reads one time for all items). */
export function waitUntilSendAt(wf: Workflow, name: string, cell: [number, number]): string {
	return waitUntil(wf, name, cell, '={{ $json.sendAt }}');
}

/** A short HTML body with a greeting, paragraphs and the unsubscribe link. */
export function html(...paragraphs: string[]): string {
	return [
		'<p>Hi {{ firstName | "there" }},</p>',
		...paragraphs.map((p) => (p.startsWith('<') ? p : `<p>${p}</p>`)),
		'<p>The Example Shop team</p>',
		'<p style="font-size:12px;color:#888"><a href="{{ unsubscribeUrl }}" data-ma-notrack>Unsubscribe</a></p>',
	].join('\n');
}

// ---------- n8n core nodes ----------

export function wait(
	wf: Workflow,
	name: string,
	cell: [number, number],
	amount: number,
	unit: 'seconds' | 'minutes' | 'hours' | 'days',
): string {
	return wf.add(
		name,
		'n8n-nodes-base.wait',
		1.1,
		cell,
		{ amount, unit },
		{ webhookId: stableId(`${wf.file}/${name}/webhook`) },
	);
}

export function waitUntil(wf: Workflow, name: string, cell: [number, number], dateTime: string): string {
	return wf.add(
		name,
		'n8n-nodes-base.wait',
		1.1,
		cell,
		{ resume: 'specificTime', dateTime },
		{ webhookId: stableId(`${wf.file}/${name}/webhook`) },
	);
}

type Operator = { type: string; operation: string; singleValue?: boolean };
export const op = {
	stringEquals: { type: 'string', operation: 'equals' } as Operator,
	stringStartsWith: { type: 'string', operation: 'startsWith' } as Operator,
	numberGte: { type: 'number', operation: 'gte' } as Operator,
	dateAfter: { type: 'dateTime', operation: 'after' } as Operator,
	isTrue: { type: 'boolean', operation: 'true', singleValue: true } as Operator,
	exists: { type: 'string', operation: 'exists', singleValue: true } as Operator,
};

/** If node (v2.2): one condition; output 0 = true, 1 = false. */
export function ifNode(
	wf: Workflow,
	name: string,
	cell: [number, number],
	leftValue: string,
	operator: Operator,
	rightValue: unknown = '',
): string {
	return wf.add(name, 'n8n-nodes-base.if', 2.2, cell, {
		conditions: {
			options: { caseSensitive: true, leftValue: '', typeValidation: 'loose', version: 2 },
			conditions: [{ id: stableId(`${wf.file}/${name}/c0`), leftValue, rightValue, operator }],
			combinator: 'and',
		},
		looseTypeValidation: true,
		options: {},
	});
}

/** Edit Fields (Set v3.4): adds fields, keeps the others. */
export function setFields(
	wf: Workflow,
	name: string,
	cell: [number, number],
	fields: Array<[string, 'string' | 'number' | 'boolean' | 'object' | 'array', unknown]>,
): string {
	return wf.add(name, 'n8n-nodes-base.set', 3.4, cell, {
		assignments: {
			assignments: fields.map(([field, type, value], i) => ({
				id: stableId(`${wf.file}/${name}/${i}`),
				name: field,
				value,
				type,
			})),
		},
		includeOtherFields: true,
		options: {},
	});
}

/** HTTP Request (v4.2) POSTing a JSON body built by an expression. */
export function httpPost(
	wf: Workflow,
	name: string,
	cell: [number, number],
	url: string,
	jsonBodyExpression: string,
): string {
	return wf.add(name, 'n8n-nodes-base.httpRequest', 4.2, cell, {
		method: 'POST',
		url,
		sendBody: true,
		specifyBody: 'json',
		jsonBody: `={{ JSON.stringify(${jsonBodyExpression}) }}`,
		options: {},
	});
}

export type ScheduleRule = Params;
export function schedule(wf: Workflow, name: string, cell: [number, number], rule: ScheduleRule): string {
	return wf.add(name, 'n8n-nodes-base.scheduleTrigger', 1.2, cell, { rule: { interval: [rule] } });
}

/**
 * A production webhook at <n8n>/webhook/<path> that starts the workflow (POST, answers at once, or
 * with the last node's output: `lastNode`).
 */
export function webhookTrigger(
	wf: Workflow,
	name: string,
	cell: [number, number],
	path: string,
	responseMode: 'onReceived' | 'lastNode' = 'onReceived',
): string {
	return wf.add(
		name,
		'n8n-nodes-base.webhook',
		2,
		cell,
		{ httpMethod: 'POST', path, responseMode, options: {} },
		{ webhookId: stableId(`${wf.file}/${name}/webhook`) },
	);
}

/**
 * Execute Workflow (v1.2) calling this same workflow's Execute Workflow Trigger with all items, in
 * an execution of their own. Without `waitForSubWorkflow` the caller goes on at once; with it, the
 * caller gets that execution's last node's output.
 */
export function executeThisWorkflow(
	wf: Workflow,
	name: string,
	cell: [number, number],
	{ waitForSubWorkflow = false } = {},
): string {
	return wf.add(name, 'n8n-nodes-base.executeWorkflow', 1.2, cell, {
		source: 'database',
		workflowId: { __rl: true, mode: 'id', value: '={{ $workflow.id }}' },
		workflowInputs: {
			mappingMode: 'defineBelow',
			value: {},
			matchingColumns: [],
			schema: [],
			attemptToConvertTypes: false,
			convertFieldsToString: true,
		},
		mode: 'once',
		options: { waitForSubWorkflow },
	});
}

/** Execute Workflow Trigger (v1.1) accepting the caller's items as they are. */
export function executeWorkflowTrigger(wf: Workflow, name: string, cell: [number, number]): string {
	return wf.add(name, 'n8n-nodes-base.executeWorkflowTrigger', 1.1, cell, { inputSource: 'passthrough' });
}

export function noOp(wf: Workflow, name: string, cell: [number, number]): string {
	return wf.add(name, 'n8n-nodes-base.noOp', 1, cell, {});
}

/** n8n's own node (its public API): executions, get many (with their data) or delete one. */
export function n8nExecutions(wf: Workflow, name: string, cell: [number, number], parameters: Params): string {
	return wf.add(
		name,
		'n8n-nodes-base.n8n',
		1,
		cell,
		{ resource: 'execution', ...parameters },
		{ credentials: { n8nApi: CREDENTIALS.n8nApi } },
	);
}

export function code(wf: Workflow, name: string, cell: [number, number], jsCode: string): string {
	return wf.add(name, 'n8n-nodes-base.code', 2, cell, { jsCode });
}
