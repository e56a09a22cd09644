/**
 * The example workflows (examples/workflows/*.json): valid n8n workflow JSON, our nodes used with
 * parameters their descriptions know, every recipe and the loop pair present with its logic,
 * a sticky note on each; n8n core nodes checked against the installed n8n when it is there; and
 * parts of two examples run through n8n's engine (WorkflowExecute) against Redis and SMTP.
 */
import { execFileSync } from 'child_process';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { homedir } from 'os';
import { join } from 'path';
import type { IDataObject, INode, INodeParameters, INodeType } from 'n8n-workflow';
import { AbSplit } from '../../nodes/AbSplit/AbSplit.node';
import { Contact } from '../../nodes/Contact/Contact.node';
import { ContactTrigger } from '../../nodes/ContactTrigger/ContactTrigger.node';
import { EngagementTagger } from '../../nodes/EngagementTagger/EngagementTagger.node';
import { LeadScore } from '../../nodes/LeadScore/LeadScore.node';
import { LoopGuard } from '../../nodes/LoopGuard/LoopGuard.node';
import { MarketingWebhookTrigger } from '../../nodes/MarketingWebhookTrigger/MarketingWebhookTrigger.node';
import { SegmentFilter } from '../../nodes/SegmentFilter/SegmentFilter.node';
import { SendCampaign } from '../../nodes/SendCampaign/SendCampaign.node';
import { acquireStore, closeAllStores } from '../../lib/redis/pool';
import { closeAllMailers } from '../../lib/campaigns';
import { contactStoreCredentials, runWorkflow } from '../harness/n8n';
import { storeConfig } from '../harness/store';
import { startSmtp, type SmtpSink } from '../harness/smtp';
import { buildAll, EXAMPLES_DIR, serialize } from '../../examples/build-workflows';
import { CREDENTIALS, PACKAGE, TRACKING_BASE_URL, type WorkflowJson, type WorkflowNode } from '../../examples/builder';
import { expressionSegments, outputCount, parameterProblems, stringValues } from './validate';

const OUR_NODES: Record<string, INodeType> = Object.fromEntries(
	[
		new AbSplit(),
		new Contact(),
		new ContactTrigger(),
		new EngagementTagger(),
		new LeadScore(),
		new LoopGuard(),
		new MarketingWebhookTrigger(),
		new SegmentFilter(),
		new SendCampaign(),
	].map((n) => [n.description.name, n]),
);
const TRIGGER_TYPES = new Set([
	`${PACKAGE}.contactTrigger`,
	`${PACKAGE}.marketingWebhookTrigger`,
	'n8n-nodes-base.scheduleTrigger',
	'n8n-nodes-base.webhook',
	'n8n-nodes-base.executeWorkflowTrigger',
]);
const CORE_OUTPUTS: Record<string, number> = {
	'n8n-nodes-base.if': 2,
	'n8n-nodes-base.wait': 1,
	'n8n-nodes-base.set': 1,
	'n8n-nodes-base.httpRequest': 1,
	'n8n-nodes-base.code': 1,
	'n8n-nodes-base.noOp': 1,
	'n8n-nodes-base.n8n': 1,
	'n8n-nodes-base.executeWorkflow': 1,
	'n8n-nodes-base.executeWorkflowTrigger': 1,
	'n8n-nodes-base.scheduleTrigger': 1,
	'n8n-nodes-base.webhook': 1,
	'n8n-nodes-base.stickyNote': 0,
	'n8n-nodes-base.readWriteFile': 1,
	'n8n-nodes-base.extractFromFile': 1,
	'n8n-nodes-base.splitOut': 1,
};
const STICKY = 'n8n-nodes-base.stickyNote';

const files = readdirSync(EXAMPLES_DIR)
	.filter((f) => f.endsWith('.json'))
	.sort();
const workflows: Array<[string, WorkflowJson]> = files.map((f) => [
	f,
	JSON.parse(readFileSync(join(EXAMPLES_DIR, f), 'utf8')) as WorkflowJson,
]);
const byFile = new Map(workflows);
const ourName = (type: string) => (type.startsWith(`${PACKAGE}.`) ? type.slice(PACKAGE.length + 1) : undefined);
const stickyOf = (wf: WorkflowJson) =>
	wf.nodes.filter((n) => n.type === STICKY).map((n) => String(n.parameters.content));
const nodesOf = (wf: WorkflowJson, type: string) => wf.nodes.filter((n) => n.type === type);
const find = (file: string) => {
	const wf = [...byFile].find(([f]) => f.startsWith(file))?.[1];
	if (!wf) throw new Error(`no example ${file}`);
	return wf;
};
const targets = (wf: WorkflowJson, from: string, output = 0) =>
	(wf.connections[from]?.main[output] ?? []).map((c) => c.node);
const node = (wf: WorkflowJson, name: string) => {
	const n = wf.nodes.find((x) => x.name === name);
	if (!n) throw new Error(`no node "${name}" in ${wf.name}`);
	return n;
};
const rows = (n: WorkflowNode) =>
	((n.parameters.conditions as { condition?: INodeParameters[] })?.condition ?? []) as INodeParameters[];

describe('example workflows: files', () => {
	it('match what examples/build-workflows.ts generates (npm run examples:build after editing it)', () => {
		const built = buildAll();
		expect(files).toEqual(built.map((w) => w.file).sort());
		for (const wf of built) expect(readFileSync(join(EXAMPLES_DIR, wf.file), 'utf8')).toBe(serialize(wf));
	});

	it('cover every recipe 1-26 once, plus the loop pair, the shared webhook and the GDPR erase workflows', () => {
		for (let n = 1; n <= 26; n++) {
			const prefix = `${String(n).padStart(2, '0')}-`;
			expect(files.filter((f) => f.startsWith(prefix))).toHaveLength(1);
		}
		expect(files.filter((f) => /^loop-a-.+\.json$/.test(f))).toHaveLength(1);
		expect(files.filter((f) => /^loop-b-.+\.json$/.test(f))).toHaveLength(1);
		expect(files).toContain('00-marketing-webhook.json');
		expect(files).toContain('gdpr-erase.json');
		expect(files.every((f) => /^(\d\d|loop-[ab]|gdpr|ab-test|analytics|import)-[a-z0-9-]+\.json$/.test(f))).toBe(true);
	});

	it('have unique workflow ids, node ids and webhook paths across the set (all can be active together)', () => {
		const ids = workflows.map(([, wf]) => wf.id);
		expect(new Set(ids).size).toBe(ids.length);
		const nodeIds = workflows.flatMap(([, wf]) => wf.nodes.map((n) => n.id));
		expect(new Set(nodeIds).size).toBe(nodeIds.length);
		const paths = workflows.flatMap(([, wf]) =>
			wf.nodes.filter((n) => n.type === 'n8n-nodes-base.webhook').map((n) => String(n.parameters.path)),
		);
		expect(new Set(paths).size).toBe(paths.length);
		const hookIds = workflows.flatMap(([, wf]) => wf.nodes.filter((n) => n.webhookId).map((n) => n.webhookId));
		expect(new Set(hookIds).size).toBe(hookIds.length);
		expect(workflows.flatMap(([, wf]) => nodesOf(wf, `${PACKAGE}.marketingWebhookTrigger`))).toHaveLength(1);
	});
});

describe('the parameter check itself', () => {
	const asNode = (parameters: INodeParameters) =>
		({
			id: 'x',
			name: 'N',
			type: 't',
			typeVersion: 1,
			position: [0, 0] as [number, number],
			parameters,
		}) as unknown as INode;
	it('reports unknown parameters, unknown options, hidden parameters, wrong types and missing required values', () => {
		const filter = parameterProblems(
			asNode({
				mode: 'filter',
				bogus: 1,
				conditions: {
					condition: [{ type: 'event', eventOperator: 'didSometimes', event: 'x', fieldOperator: 'gte', days: '3' }],
				},
			}),
			OUR_NODES.segmentFilter.description,
		);
		expect(filter).toEqual(
			expect.arrayContaining([
				expect.stringContaining('unknown parameter "bogus"'),
				expect.stringContaining('"didSometimes" is not an option of "conditions.condition[0].eventOperator"'),
				expect.stringContaining('"conditions.condition[0].fieldOperator" is not shown'),
				expect.stringContaining('"conditions.condition[0].days" must be a number'),
			]),
		);
		const send = parameterProblems(
			asNode({
				campaignId: '',
				subject: 's',
				html: 'h',
				fromEmail: 'a@b.co',
				sendPolicy: 'campaign',
				options: { capMaxx: 3, windowDays: [9] },
			}),
			OUR_NODES.sendCampaign.description,
		);
		expect(send).toEqual(
			expect.arrayContaining([
				expect.stringContaining('unknown parameter "options.capMaxx"'),
				expect.stringContaining('"9" is not an option of "options.windowDays"'),
				expect.stringContaining('issue on "campaignId"'),
			]),
		);
		expect(
			parameterProblems(
				asNode({ mode: 'dateReached', eventNames: 'x', dateField: 'birthday' }),
				OUR_NODES.contactTrigger.description,
			),
		).toEqual([
			expect.stringContaining('"eventNames" is not shown'),
			expect.stringContaining('n8n drops parameter "eventNames"'),
		]);
	});
});

describe.each(workflows)('%s', (_file, wf) => {
	it('is an n8n workflow: unique node names, connections between existing nodes and outputs, triggers never targeted, nothing unreachable', () => {
		expect(typeof wf.name).toBe('string');
		expect(wf.active).toBe(false);
		expect(wf.settings).toMatchObject({ executionOrder: 'v1' });
		const names = wf.nodes.map((n) => n.name);
		expect(new Set(names).size).toBe(names.length);
		for (const n of wf.nodes) {
			expect(n.id).toMatch(/^[0-9a-f-]{36}$/);
			expect(n.position).toHaveLength(2);
			expect(typeof n.typeVersion).toBe('number');
		}
		const problems: string[] = [];
		for (const [from, { main }] of Object.entries(wf.connections)) {
			const source = wf.nodes.find((n) => n.name === from);
			if (!source) {
				problems.push(`connection from missing node "${from}"`);
				continue;
			}
			const ours = ourName(source.type);
			const outputs = ours
				? outputCount(OUR_NODES[ours].description, source.parameters as INodeParameters)
				: CORE_OUTPUTS[source.type];
			if (outputs === undefined) problems.push(`unknown output count of ${source.type}`);
			if (main.length > outputs) problems.push(`"${from}" has ${outputs} outputs, connected ${main.length}`);
			for (const conns of main) {
				for (const c of conns) {
					const target = wf.nodes.find((n) => n.name === c.node);
					if (!target) problems.push(`"${from}" -> missing node "${c.node}"`);
					else if (TRIGGER_TYPES.has(target.type) || target.type === STICKY)
						problems.push(`"${from}" -> "${c.node}" which has no input`);
					if (c.type !== 'main' || c.index !== 0)
						problems.push(`"${from}" -> "${c.node}" uses input ${c.type}/${c.index}`);
				}
			}
		}
		// Every node but the sticky notes is a trigger or reachable from one.
		const reached = new Set(wf.nodes.filter((n) => TRIGGER_TYPES.has(n.type)).map((n) => n.name));
		expect(reached.size).toBeGreaterThan(0);
		for (let grew = true; grew;) {
			grew = false;
			for (const from of [...reached])
				for (const conns of wf.connections[from]?.main ?? [])
					for (const c of conns)
						if (!reached.has(c.node)) {
							reached.add(c.node);
							grew = true;
						}
		}
		for (const n of wf.nodes)
			if (n.type !== STICKY && !reached.has(n.name)) problems.push(`"${n.name}" is not reachable from a trigger`);
		expect(problems).toEqual([]);
	});

	it('uses our nodes with parameters and options their descriptions know, and the fixed credentials', () => {
		const problems: string[] = [];
		for (const n of wf.nodes) {
			const ours = ourName(n.type);
			if (n.type.startsWith('n8n-nodes-base.')) continue;
			if (!ours || !OUR_NODES[ours]) {
				problems.push(`${n.name}: unknown node type ${n.type}`);
				continue;
			}
			const description = OUR_NODES[ours].description;
			// The newest version (a versioned node's defaultVersion), as the editor adds it.
			expect(n.typeVersion).toBe(description.defaultVersion ?? description.version);
			problems.push(...parameterProblems(n as unknown as INode, description));
			const expected: Record<string, unknown> = {};
			for (const c of description.credentials ?? []) {
				const shown =
					!c.displayOptions ||
					(c.displayOptions.show?.operation?.includes((n.parameters.operation as string) ?? 'send') ?? true);
				if (c.required && shown) expected[c.name] = CREDENTIALS[c.name as keyof typeof CREDENTIALS];
				else if (n.credentials?.[c.name]) expected[c.name] = CREDENTIALS[c.name as keyof typeof CREDENTIALS];
			}
			expect({ node: n.name, credentials: n.credentials }).toEqual({ node: n.name, credentials: expected });
		}
		expect(problems).toEqual([]);
	});

	it('has expressions that parse as JavaScript and merge-field templates left in fixed mode', () => {
		const problems: string[] = [];
		for (const n of wf.nodes) {
			for (const [path, value] of stringValues(n.parameters)) {
				if (!value.startsWith('=')) continue;
				if ((value.match(/\{\{/g) ?? []).length !== (value.match(/\}\}/g) ?? []).length)
					problems.push(`${n.name}.${path}: unbalanced {{ }}`);
				for (const js of expressionSegments(value)) {
					try {
						new Function('$json', '$', '$now', 'DateTime', '$execution', '$input', `return (${js});`);
					} catch (error) {
						problems.push(`${n.name}.${path}: ${(error as Error).message} in {{${js}}}`);
					}
				}
			}
			if (n.type === `${PACKAGE}.sendCampaign`) {
				// n8n would read {{ firstName }} as an expression: templates must stay fixed.
				for (const field of ['subject', 'html', 'text', 'preheader'])
					expect(String(n.parameters[field] ?? '').startsWith('=')).toBe(false);
				expect(n.parameters.trackingBaseUrl).toBe(TRACKING_BASE_URL);
				expect(n.parameters.fromEmail).toBe('news@example.com');
				expect(String(n.parameters.html)).toContain('{{ unsubscribeUrl }}');
			}
		}
		expect(problems).toEqual([]);
	});

	it('has a sticky note saying what it does, what to configure and which values to shorten for a test', () => {
		const notes = stickyOf(wf);
		expect(notes).toHaveLength(1);
		const [text] = notes;
		expect(text).toMatch(/^## /);
		expect(text).toContain('**Configure**');
		expect(text).toContain('**Short windows for a test**');
		// Every time window of the flow is named in the note.
		for (const w of nodesOf(wf, 'n8n-nodes-base.wait')) {
			if (w.parameters.resume === 'specificTime') continue;
			expect(w.parameters).toEqual(
				expect.objectContaining({
					amount: expect.any(Number),
					unit: expect.stringMatching(/^(seconds|minutes|hours|days)$/),
				}),
			);
			expect(text).toContain(w.name.replace(/ \(\d+\)$/, ''));
		}
		if (nodesOf(wf, `${PACKAGE}.loopGuard`).length > 0) expect(text).toMatch(/Loop Guard \*Window\*/);
		if (nodesOf(wf, `${PACKAGE}.sendCampaign`).length > 0) expect(text).toContain('Campaign SMTP (`ma-smtp`)');
		if (nodesOf(wf, `${PACKAGE}.contactTrigger`).some((t) => t.parameters.mode === 'dateReached'))
			expect(text).toContain('Local Hour');
		for (const h of nodesOf(wf, 'n8n-nodes-base.webhook'))
			expect(text).toContain(`/webhook/${String(h.parameters.path)}`);
		for (const h of nodesOf(wf, 'n8n-nodes-base.httpRequest')) expect(text).toContain(String(h.parameters.url));
	});
});

describe("example workflows: the recipes' logic", () => {
	const send = `${PACKAGE}.sendCampaign`;
	const trigger = (wf: WorkflowJson) => nodesOf(wf, `${PACKAGE}.contactTrigger`);

	it('1 birthday: date reached on birthday, yearly, at 9:00 local, one campaign per year', () => {
		const wf = find('01-');
		expect(trigger(wf)[0].parameters).toEqual(
			expect.objectContaining({ mode: 'dateReached', dateField: 'birthday', repeat: 'yearly', hour: 9, minute: 0 }),
		);
		expect(nodesOf(wf, send)[0].parameters.campaignId).toContain('$json.event.occurrence');
	});

	it('5 abandoned cart: wait, then remind only if no order followed the cart (goal stops the flow)', () => {
		const wf = find('05-');
		expect(trigger(wf)[0].parameters.eventNames).toBe('cart_item_added, product_viewed');
		const goal = node(wf, 'Added but Did Not Order?');
		expect(rows(goal)).toEqual([
			expect.objectContaining({
				type: 'event',
				eventOperator: 'didButNot',
				event: 'cart_item_added',
				otherEvent: 'order_completed',
			}),
		]);
		expect(targets(wf, goal.name, 0)).toEqual(['Send Cart Reminder']);
		expect(targets(wf, goal.name, 1)).toEqual(['Record Goal Reached']);
		expect(node(wf, 'Record Goal Reached').parameters).toEqual(
			expect.objectContaining({ resource: 'event', operation: 'goalReached' }),
		);
		expect(targets(wf, 'One Reminder Flow per Day')).toEqual(['Wait 4 Hours']);
		expect(rows(node(wf, 'Viewed but Did Not Add or Order?')).map((r) => r.otherEvent)).toEqual([
			'cart_item_added',
			'order_completed',
		]);
	});

	it('13 engagement tiers: scheduled whole-base Engagement Tagger with 30 / 60 days', () => {
		const wf = find('13-');
		const tagger = nodesOf(wf, `${PACKAGE}.engagementTagger`)[0];
		expect(tagger.parameters).toEqual(
			expect.objectContaining({
				mode: 'wholeBase',
				tierNames: 'Engaged, Disengaged, Inactive',
				boundaryDays: '30, 60',
			}),
		);
		expect(targets(wf, nodesOf(wf, 'n8n-nodes-base.scheduleTrigger')[0].name)).toEqual([tagger.name]);
	});

	it('15 re-permission: asks, waits 30 days, unsubscribes those who did not confirm', () => {
		const wf = find('15-');
		const confirmed = node(wf, 'Confirmed?');
		expect(targets(wf, 'Wait 30 Days')).toEqual(['Confirmed?']);
		const remove = node(wf, targets(wf, confirmed.name, 1)[0]);
		expect(remove.parameters).toEqual(expect.objectContaining({ resource: 'subscription', operation: 'unsubscribe' }));
		expect(node(wf, targets(wf, confirmed.name, 0)[0]).parameters).toEqual(
			expect.objectContaining({ resource: 'tag', operation: 'remove' }),
		);
	});

	it('19 NPS: score >= 7 to the happy offer, below to the re-engagement series', () => {
		const wf = find('19-');
		const split = node(wf, 'Score 7 or More?');
		expect(rows(split)).toEqual([
			expect.objectContaining({ type: 'field', field: 'nps', fieldOperator: 'gte', value: '7' }),
		]);
		expect(node(wf, targets(wf, split.name, 0)[0]).parameters.campaignId).toBe('nps-happy');
		expect(node(wf, targets(wf, split.name, 1)[0]).parameters.campaignId).toBe('nps-unhappy-1');
	});

	it('21 hot lead: grade changed to hot -> assign, store, notify over HTTP', () => {
		const wf = find('21-');
		const hot = trigger(wf).find((t) => t.parameters.mode === 'gradeChanged');
		expect(hot?.parameters.grades).toBe('hot');
		expect(nodesOf(wf, `${PACKAGE}.leadScore`)).toHaveLength(1);
		expect(targets(wf, 'Store Rep and Tag')).toEqual(['Notify Rep']);
		expect(node(wf, 'Notify Rep').type).toBe('n8n-nodes-base.httpRequest');
	});

	it('23 bookshop: waits 3 days, skips contacts who bought a book of that author', () => {
		const wf = find('23-');
		const check = node(wf, 'Has Not Bought This Author?');
		expect(rows(check)).toEqual([
			expect.objectContaining({
				eventOperator: 'didNot',
				event: 'purchase',
				property: 'author',
				propertyValue: '={{ $json.event.properties.author }}',
			}),
		]);
		expect(targets(wf, 'Wait 3 Days')).toEqual([check.name]);
		expect(targets(wf, check.name, 0)).toEqual(['Send Best Books']);
	});

	it('24 seasonal: goal stops buyers, never-openers go dormant, openers who missed checkout get the reminder', () => {
		const wf = find('24-');
		expect(targets(wf, 'Bought?', 0)).toEqual(['Record Goal Reached']);
		// The follow-up starts per contact from its offer's $email_sent: no Wait after the paged listing.
		const sent = trigger(wf).find((t) => t.parameters.eventNames === '$email_sent')!;
		expect(targets(wf, sent.name)).toEqual(['Wait 3 Days']);
		expect(targets(wf, 'Wait 3 Days')).toEqual(['Bought?']);
		expect(targets(wf, 'Opened the Offer?', 1)).toEqual(['Move to Dormant']);
		expect(node(wf, 'Move to Dormant').parameters.tags).toBe('dormant');
		expect(targets(wf, 'Did Not Reach Checkout?', 0)).toEqual(['Send Reminder']);
		expect(trigger(wf).find((t) => t.parameters.mode === 'tagAdded')?.parameters.tags).toBe('dormant');
	});

	it.each(['07-', '11-', '12-'])(
		'%s goal: checked at entry (keeps out) and right before every mail; reaching it records $goal_reached',
		(file) => {
			const wf = find(file);
			const checks = nodesOf(wf, `${PACKAGE}.segmentFilter`);
			const entry = checks.find((c) => c.name.endsWith('(Entry)'))!;
			expect(targets(wf, trigger(wf)[0].name)).toEqual([entry.name]);
			expect(targets(wf, entry.name, 0)).toEqual(['Goal Reached Before Entry: Keep Out']);
			const sends = nodesOf(wf, send);
			expect(sends.length).toBeGreaterThanOrEqual(3);
			for (const mail of sends) {
				// The node feeding each mail is a goal check (its "not reached" output): the entry check
				// for an immediate first mail, the check after the Wait for the others.
				// (Besides the mail's own Wait Until sendAt, which brings its deferred items back.)
				const feeders = Object.entries(wf.connections).flatMap(([from, c]) =>
					c.main.flatMap((targetsOf, output) =>
						targetsOf.some((t) => t.node === mail.name) && from !== `${mail.name}: Wait Until sendAt`
							? [{ from, output }]
							: [],
					),
				);
				expect(feeders).toHaveLength(1);
				expect(checks.map((c) => c.name)).toContain(feeders[0].from);
				expect(feeders[0].output).toBe(1);
				expect(rows(node(wf, feeders[0].from))).toEqual(rows(entry));
				if (feeders[0].from !== entry.name) expect(targets(wf, feeders[0].from, 0)).toEqual(['Record Goal Reached']);
			}
			expect(node(wf, 'Record Goal Reached').parameters).toEqual(
				expect.objectContaining({ resource: 'event', operation: 'goalReached' }),
			);
		},
	);

	it('broadcasts (15, 24, 25, 26, the A/B test): the scheduled run loops over cursor items only; each page is an execution of its own that waits for nothing and returns one item', () => {
		for (const file of ['15-', '24-', '25-', '26-', 'ab-test-']) {
			const wf = find(file);
			const reachable = (from: string[]) => {
				const seen = new Set<string>();
				const walk = (name: string) => {
					if (seen.has(name)) return;
					seen.add(name);
					for (const c of wf.connections[name]?.main ?? []) for (const t of c) walk(t.node);
				};
				from.forEach(walk);
				return seen;
			};
			// The scheduled (or Run Now) execution: cursor items through these nodes, no contact.
			// (The A/B test's Report Now webhook starts a branch of its own, not a page.)
			const starts = wf.nodes.filter(
				(n) => ['n8n-nodes-base.scheduleTrigger', 'n8n-nodes-base.webhook'].includes(n.type) && n.name !== 'Report Now',
			);
			expect(starts).toHaveLength(2);
			const parent = [...reachable(starts.map((n) => n.name))].filter((n) => !starts.some((t) => t.name === n));
			expect(parent.sort()).toEqual(['Audience Done', 'More Pages?', 'Send One Page', 'Start at First Page']);
			expect(node(wf, 'Send One Page')).toMatchObject({
				type: 'n8n-nodes-base.executeWorkflow',
				parameters: {
					workflowId: { value: '={{ $workflow.id }}' },
					mode: 'once',
					options: { waitForSubWorkflow: true },
				},
			});
			expect(targets(wf, 'Send One Page')).toEqual(['More Pages?']);
			expect(targets(wf, 'More Pages?', 0)).toEqual(['Send One Page']);
			expect(targets(wf, 'More Pages?', 1)).toEqual(['Audience Done']);
			// The page's execution: On Call -> Parked Mail? (false) -> the listing, then Page Summary.
			const [onCall] = nodesOf(wf, 'n8n-nodes-base.executeWorkflowTrigger');
			expect(targets(wf, onCall.name)).toEqual(['Parked Mail?']);
			const lists = nodesOf(wf, `${PACKAGE}.segmentFilter`).filter((n) => n.parameters.mode === 'segment');
			expect(lists).toHaveLength(1);
			const [list] = lists;
			expect(list.parameters).toMatchObject({ pagination: 'page', pageSize: 1000 });
			expect(targets(wf, 'Parked Mail?', 1)).toEqual([list.name, 'Page Summary']);
			// Its Next Page cursor goes back through Page Summary's item, not into the listing.
			expect(targets(wf, list.name, 1)).toEqual([]);
			const page = reachable([list.name]);
			expect([...page].map((n) => node(wf, n).type)).not.toContain('n8n-nodes-base.wait');
			// n8n (v1 order) runs the topmost branch to its end first: Page Summary, below the listing
			// and outside its branch, runs last, so its one item is what Send One Page gets back.
			const summary = node(wf, 'Page Summary');
			expect(page.has(summary.name)).toBe(false);
			expect(summary.position[1]).toBeGreaterThan(list.position[1]);
			expect(wf.connections[summary.name]).toBeUndefined();
			expect(summary.executeOnce).toBe(true);
			const output = String(summary.parameters.jsonOutput);
			expect(output).toContain(`$('${list.name}').all(1)[0]?.json.cursor ?? null`);
			const sends = [...page].filter((n) => node(wf, n).type === send);
			expect(sends.length).toBeGreaterThan(0);
			for (const s of sends) for (const out of [0, 1, 2]) expect(output).toContain(`count('${s}', ${out})`);
		}
	});

	const isWaitUntilSendAt = (wf: WorkflowJson, name: string) => {
		const n = node(wf, name);
		return (
			n.type === 'n8n-nodes-base.wait' &&
			n.parameters.resume === 'specificTime' &&
			n.parameters.dateTime === '={{ $json.sendAt }}'
		);
	};

	it.each(files)(
		'%s: every Send Campaign sends its Deferred mail later: a Wait until sendAt, then back into it (broadcasts: in an execution of their own)',
		(file) => {
			const wf = byFile.get(file)!;
			for (const mail of nodesOf(wf, send)) {
				const [next, ...more] = targets(wf, mail.name, 1);
				expect(more).toEqual([]);
				if (isWaitUntilSendAt(wf, next)) {
					expect(targets(wf, next)).toEqual([mail.name]);
					continue;
				}
				// A broadcast hands Deferred to this workflow's own Execute Workflow Trigger, without waiting for it.
				expect(node(wf, next)).toMatchObject({
					type: 'n8n-nodes-base.executeWorkflow',
					parameters: {
						source: 'database',
						workflowId: { value: '={{ $workflow.id }}' },
						mode: 'once',
						options: { waitForSubWorkflow: false },
					},
				});
				const [parked] = nodesOf(wf, 'n8n-nodes-base.executeWorkflowTrigger');
				expect(parked.parameters.inputSource).toBe('passthrough');
				// A paged broadcast's one trigger also starts its pages: parked mail is told apart by sendAt.
				const [dispatch] = targets(wf, parked.name);
				const [later] = dispatch === 'Parked Mail?' ? targets(wf, dispatch, 0) : [dispatch];
				expect(isWaitUntilSendAt(wf, later)).toBe(true);
				// Back into the send, or the branch right before it (26: the language check).
				const [back] = targets(wf, later);
				expect(
					back === mail.name || wf.connections[back].main.some((out) => out.some((t) => t.node === mail.name)),
				).toBe(true);
			}
		},
	);

	it('loop pair: B offers the newsletter only to contacts not on it, A the white paper only to those without it', () => {
		const a = find('loop-a-');
		const b = find('loop-b-');
		expect(targets(b, 'Already Subscribed?', 1)).toEqual(['Send Newsletter Offer']);
		expect(rows(node(b, 'Already Subscribed?'))).toEqual([
			expect.objectContaining({ type: 'tags', tagOperator: 'hasAny', tags: 'newsletter' }),
			expect.objectContaining({ type: 'event', eventOperator: 'didAtLeast', event: 'newsletter_signup' }),
		]);
		expect(targets(a, 'Newsletter Sign-Up?', 0)).toEqual(['Already Has the White Paper?']);
		expect(targets(a, 'Already Has the White Paper?', 1)).toEqual(['Send White-Paper Offer']);
		// The notes name the reasons Loop Guard really gives.
		for (const wf of [a, b]) {
			const text = stickyOf(wf).join('\n');
			for (const reason of ['cycle', 'maxDepth', 'rateLimit']) expect(text).toContain(`\`${reason}\``);
			expect(text).not.toMatch(/`depth`|max_entries/);
		}
	});

	it('loop pair: each workflow guarded by Loop Guard right after its trigger; A and B feed each other', () => {
		const a = find('loop-a-');
		const b = find('loop-b-');
		for (const wf of [a, b]) {
			const [t] = trigger(wf);
			const guard = nodesOf(wf, `${PACKAGE}.loopGuard`)[0];
			expect(targets(wf, t.name)).toEqual([guard.name]);
			expect(guard.parameters.options).toEqual({ detectCycles: true, maxDepth: 5 });
			expect(targets(wf, guard.name, 1)).toHaveLength(1);
		}
		const recorded = (wf: WorkflowJson) =>
			wf.nodes.filter((n) => n.parameters.resource === 'event').map((n) => n.parameters.eventName);
		const listens = (wf: WorkflowJson) => String(trigger(wf)[0].parameters.eventNames).split(', ');
		expect(listens(b)).toEqual(expect.arrayContaining(recorded(a) as string[]));
		expect(listens(a)).toEqual(expect.arrayContaining(recorded(b) as string[]));
	});
});

// n8n's own nodes, checked against the n8n 2.41 that tools/n8n/install.sh installs (when present).
const N8N_BASE = join(
	process.env.N8N_CACHE_DIR ?? join(homedir(), '.cache', 'n8n-marketing-automation'),
	'n8n-2.41.0',
	'node_modules',
	'n8n-nodes-base',
	'dist',
	'nodes',
);
(existsSync(N8N_BASE) ? describe : describe.skip)(`n8n core nodes against ${N8N_BASE}`, () => {
	it('every core node exists at its typeVersion and uses only parameters and options it knows', () => {
		const out = execFileSync(
			process.execPath,
			['-r', 'ts-node/register/transpile-only', join(__dirname, 'core-nodes.ts'), N8N_BASE, EXAMPLES_DIR],
			{
				cwd: join(__dirname, '..', '..'),
				encoding: 'utf8',
				env: { ...process.env, NODE_ENV: 'production' },
			},
		);
		expect(JSON.parse(out)).toEqual([]);
	}, 120_000);
});

describe("example workflows through n8n's engine (WorkflowExecute) on Redis", () => {
	let smtp: SmtpSink;
	const credentials = contactStoreCredentials('standalone');
	const lease = acquireStore(storeConfig('standalone', String(credentials.contactStoreApi.keyPrefix)));
	const { store } = lease;
	const smtpCredentials = {
		campaignSmtpApi: {
			host: '127.0.0.1',
			port: 0,
			secure: false,
			starttls: 'never',
			user: '',
			password: '',
			poolSize: 1,
			ratePerSecond: 0,
			tlsSkipVerify: false,
		},
	};
	beforeAll(async () => {
		smtp = await startSmtp();
		smtpCredentials.campaignSmtpApi.port = smtp.port;
	});
	afterAll(async () => {
		lease.release();
		closeAllMailers();
		await smtp.stop();
		await closeAllStores();
	});

	/** Runs the named nodes of an example with their JSON parameters, connected as in the file. */
	function runPart(wf: WorkflowJson, names: string[], items: IDataObject[]) {
		const nodes = names.map((name) => {
			const n = node(wf, name);
			return { name, nodeType: OUR_NODES[ourName(n.type)!], parameters: n.parameters as INodeParameters };
		});
		const connections: Array<[string, string, number]> = [];
		for (const from of names)
			(wf.connections[from]?.main ?? []).forEach((conns, output) =>
				conns.filter((c) => names.includes(c.node)).forEach((c) => connections.push([from, c.node, output])),
			);
		return runWorkflow({
			nodes,
			connections,
			items,
			credentials: { ...credentials, ...smtpCredentials },
			workflowId: wf.id,
			mode: 'trigger',
		});
	}
	const triggerItem = (contactId: string, name: string, properties: IDataObject = {}): IDataObject => ({
		contactId,
		event: { id: `${contactId}-${name}`, name, time: new Date().toISOString(), properties },
		$chain: [],
		chainDepth: 0,
	});

	it('05 abandoned cart after the wait: the cart without an order gets the reminder mail with List-Unsubscribe; the one with an order does not', async () => {
		const wf = find('05-');
		await store.contacts.upsert([
			{
				id: 'cart-ada',
				email: 'ada@example.com',
				fields: { firstName: 'Ada' },
				subscription: { status: 'subscribed', source: 'test' },
			},
			{
				id: 'cart-bob',
				email: 'bob@example.com',
				fields: { firstName: 'Bob' },
				subscription: { status: 'subscribed', source: 'test' },
			},
		]);
		await store.events.record([
			{ contactId: 'cart-ada', name: 'cart_item_added', properties: { product: 'Teapot' } },
			{ contactId: 'cart-bob', name: 'cart_item_added', properties: { product: 'Mug' } },
		]);
		await store.events.record([{ contactId: 'cart-bob', name: 'order_completed', properties: {} }]);
		const run = await runPart(
			wf,
			['Added but Did Not Order?', 'Send Cart Reminder'],
			[
				triggerItem('cart-ada', 'cart_item_added', { product: 'Teapot' }),
				triggerItem('cart-bob', 'cart_item_added', { product: 'Mug' }),
			],
		);
		const [matched, notMatched] = run.output('Added but Did Not Order?');
		expect(matched.map((i) => i.json.contactId)).toEqual(['cart-ada']);
		expect(notMatched.map((i) => i.json.contactId)).toEqual(['cart-bob']);
		const [sent] = run.output('Send Cart Reminder');
		expect(sent.map((i) => [i.json.contactId, i.json.status, i.json.campaignId])).toEqual([
			['cart-ada', 'sent', 'abandoned-cart'],
		]);
		const [mail] = await smtp.waitFor(1);
		expect(mail.envelope.to).toEqual(['ada@example.com']);
		expect(mail.parsed.subject).toBe('You left something in your cart');
		expect(mail.parsed.html).toContain('Hi Ada,');
		expect(mail.parsed.html).toContain('Teapot');
		// The Tracking Base URL expression resolves to this instance's webhook URL + /webhook/ma-tracking.
		expect(mail.headerLines['list-unsubscribe']).toContain('http://localhost:5678/webhook/ma-tracking/u/');
	});

	it('19 NPS: the score is stored, 9 goes to Matched (happy), 3 to Not Matched (unhappy)', async () => {
		const wf = find('19-');
		await store.contacts.upsert([
			{ id: 'nps-happy', email: 'happy@example.com' },
			{ id: 'nps-sad', email: 'sad@example.com' },
		]);
		const run = await runPart(
			wf,
			['Store NPS Score', 'Score 7 or More?'],
			[triggerItem('nps-happy', 'nps_submitted', { score: 9 }), triggerItem('nps-sad', 'nps_submitted', { score: 3 })],
		);
		const [happy, unhappy] = run.output('Score 7 or More?');
		expect(happy.map((i) => i.json.id)).toEqual(['nps-happy']);
		expect(unhappy.map((i) => i.json.id)).toEqual(['nps-sad']);
		const [stored] = await store.contacts.get(['nps-sad']);
		expect(stored.ok && stored.value?.fields.nps).toBe(3);
	});
});
