/**
 * Source of examples/workflows/*.json: every recipe listed in docs/examples.md and the loop pair as
 * an importable n8n workflow. Regenerate after a change with `npm run examples:build`
 * (npx ts-node --transpile-only examples/build-workflows.ts).
 * test/examples/examples.test.ts checks that the committed files match this output.
 */
import { writeFileSync, mkdirSync, readdirSync, unlinkSync } from 'fs';
import { join } from 'path';
import {
	abSplit,
	code,
	contact,
	contactTrigger,
	engagementTagger,
	executeThisWorkflow,
	executeWorkflowTrigger,
	HOOKS,
	html,
	httpPost,
	ifNode,
	leadScore,
	loopGuard,
	marketingWebhookTrigger,
	n8nExecutions,
	noOp,
	op,
	schedule,
	segmentFilter,
	sendCampaign,
	setFields,
	TRACKING_WEBHOOK_ID,
	wait,
	waitUntil,
	waitUntilSendAt,
	webhookTrigger,
	Workflow,
	stableId,
	type Params,
	type WorkflowNode,
} from './builder';

export const EXAMPLES_DIR = join(__dirname, 'workflows');

const CREDS_NOTE =
	'**Credentials**: Contact Store (`ma-contact-store`) on every node of the pack, Campaign SMTP (`ma-smtp`) on Send Campaign.';
const TRACKING_NOTE =
	"**Tracking**: Send Campaign's *Tracking Base URL* is this n8n's webhook URL + `/webhook/ma-tracking` (the Marketing Webhook Trigger of *00 Marketing Webhook*, keep it active). Behind a proxy, replace it with `https://<your n8n>/webhook/ma-tracking`.";
const SENDER_NOTE = '**Sender**: replace `news@example.com` / *Example Shop* in every Send Campaign node.';

/** The sticky note every example starts with: what it does, what to configure, what to shorten for a test. */
function note(
	wf: Workflow,
	title: string,
	what: string,
	configure: string[],
	shorten: string[],
	width = 7,
	extra: string[] = [],
): void {
	const lines = [
		`## ${title}`,
		what,
		'',
		'**Configure**',
		...configure.map((c) => `- ${c}`),
		'',
		'**Short windows for a test**',
		...(shorten.length > 0 ? shorten.map((s) => `- ${s}`) : ['- Nothing time-dependent.']),
		...extra,
	];
	wf.sticky('Sticky Note', lines.join('\n'), [0, -3], [width, 2.9], 4);
}

const eventTrigger = (eventNames: string, conditions: Params[] = []): Params => ({
	mode: 'eventRecorded',
	eventNames,
	...(conditions.length > 0 ? { conditions: { condition: conditions } } : {}),
	options: {},
});

/** Segment Filter in filter mode with rows combined by AND (or OR). */
const filterRows = (rows: Params[], combinator: 'and' | 'or' = 'and'): Params => ({
	mode: 'filter',
	conditionsInput: 'fields',
	combinator,
	conditions: { condition: rows },
	options: {},
});
const listRows = (rows: Params[], combinator: 'and' | 'or' = 'and'): Params => ({
	mode: 'segment',
	conditionsInput: 'fields',
	combinator,
	conditions: { condition: rows },
	pagination: 'page',
	pageSize: 1000,
	options: {},
});

const PAGED_BROADCAST_NOTE =
	"**Any base size, bounded memory**: the scheduled run holds only cursor items. *Send One Page* runs this workflow for one page and waits for it: *On Call* → *Parked Mail?* (no) → the audience lists up to 1,000 contacts, the page is sent, and *Page Summary* returns one item (next cursor, running counts); *More Pages?* loops until the segment is exhausted. n8n keeps every node's output until its execution ends, so a page's contacts live only in that page's execution, which ends before the next page starts: n8n's memory is bounded by the page size, not the base size (each page shows as an execution of its own). Keep Waits out of this path: mail the send policy defers (quiet hours in the contact's time zone, frequency cap) goes through *Park Deferred Mail* into an execution of its own (*On Call* → *Parked Mail?* (yes) → *Wait Until sendAt* → back into the send). A workflow calling itself must be published (it is, to run on its schedule).";

/** Every example with a Send Campaign says so in its Configure list. */
const POLICY_NOTE =
	"**Send policy**: every Send Campaign follows the workspace send policy (Contact node > Workspace Policy > Set, once): by default only confirmed (double opt-in, `subscribed`) contacts get marketing mail; set quiet hours in the contact's time zone and a frequency cap there. Mail the policy holds leaves on *Deferred* with `sendAt`: its *Wait Until sendAt* node sends it then (earliest first; the others are deferred again).";

/**
 * A broadcast of any size, one execution per page. The run started by `triggers` holds only cursor
 * items: *Send One Page* runs this same workflow for one page, waits for it and gets back one small
 * item (the next cursor and running counts) that *More Pages?* loops back while a cursor is left.
 * That execution (*On Call* → *Parked Mail?* false) lists the page with `list`, hands its contacts to
 * `sendPage` and ends with *Page Summary*, below the listing so that n8n (v1 order: a branch to its
 * end, the topmost first) runs it last: its item is what the execution returns. n8n keeps a node's
 * output until its execution ends, so one page's contacts are all it ever holds at once. Nothing on
 * the way waits: mail the send policy defers goes through *Park Deferred Mail* into an execution of
 * its own (*Parked Mail?* true → *Wait Until sendAt* → back into `resumeInto`).
 * Layout: triggers at [x, y] and [x, y + 1]; this in columns x + 1 ... x + 5, rows y ... y + 3.4;
 * `sendPage` places its nodes in columns x + 3, x + 4, rows y + 2 ... y + 3.
 */
function pagedBroadcast(
	wf: Workflow,
	triggers: string[],
	[x, y]: [number, number],
	list: { name: string; parameters: Params },
	sendPage: (contacts: string, park: string) => { sends: string[]; resumeInto: string },
): void {
	const first = wf.add('Start at First Page', 'n8n-nodes-base.set', 3.4, [x + 1, y + 0.5], {
		mode: 'raw',
		jsonOutput: '={{ { cursor: "", pages: 0, contacts: 0, sent: 0, deferred: 0, skipped: 0 } }}',
		options: {},
	});
	const sendOnePage = executeThisWorkflow(wf, 'Send One Page', [x + 2, y + 0.5], { waitForSubWorkflow: true });
	const more = ifNode(wf, 'More Pages?', [x + 3, y + 0.5], '={{ !!$json.cursor }}', op.isTrue, '');
	const done = noOp(wf, 'Audience Done', [x + 4, y + 0.8]);
	for (const t of triggers) wf.connect(t, first);
	wf.chain(first, sendOnePage, more);
	wf.connect(more, sendOnePage, 0).connect(more, done, 1);

	const onCall = executeWorkflowTrigger(wf, 'On Call', [x, y + 2.2]);
	const parked = ifNode(wf, 'Parked Mail?', [x + 1, y + 2.2], '={{ $json.sendAt }}', op.exists);
	const page = segmentFilter(wf, list.name, [x + 2, y + 2], list.parameters);
	const park = executeThisWorkflow(wf, 'Park Deferred Mail', [x + 5, y + 2.6]);
	const later = waitUntilSendAt(wf, 'Wait Until sendAt', [x + 2, y + 3.4]);
	const { sends, resumeInto } = sendPage(page, park);
	const outputs = (output: number) => sends.map((s) => ` + count('${s}', ${output})`).join('');
	// One item per page: the next cursor (null after the last page) and the running counts.
	const summary = wf.add(
		'Page Summary',
		'n8n-nodes-base.set',
		3.4,
		[x + 2, y + 2.7],
		{
			mode: 'raw',
			jsonOutput: `={{ (() => { const count = (node, output) => $(node).isExecuted ? $(node).all(output).length : 0; return { cursor: $('${page}').all(1)[0]?.json.cursor ?? null, pages: $json.pages + 1, contacts: $json.contacts + count('${page}', 0), sent: $json.sent${outputs(0)}, deferred: $json.deferred${outputs(1)}, skipped: $json.skipped${outputs(2)} }; })() }}`,
			options: {},
		},
		{ executeOnce: true },
	);
	wf.chain(onCall, parked);
	wf.connect(parked, later, 0).connect(later, resumeInto);
	wf.connect(parked, page, 1).connect(parked, summary, 1);
}

const didNot = (event: string, days = 0, property?: [string, string, string]): Params => ({
	type: 'event',
	eventOperator: 'didNot',
	event,
	days,
	...(property ? { property: property[0], propertyOperator: property[1], propertyValue: property[2] } : {}),
});
const didAtLeast = (event: string, count: number, days = 0, property?: [string, string, string]): Params => ({
	type: 'event',
	eventOperator: 'didAtLeast',
	event,
	count,
	days,
	...(property ? { property: property[0], propertyOperator: property[1], propertyValue: property[2] } : {}),
});
const stageIs = (memberOperator: 'is' | 'isNot' | 'in' | 'notIn', value: string): Params => ({
	type: 'lifecycleStage',
	memberOperator,
	value,
});
const contactIdExpr = '={{ $json.contactId ?? $json.id }}';
const contactRef: Params = { identifyBy: 'id', contactId: contactIdExpr };

function marketingWebhook(): Workflow {
	const wf = new Workflow(
		'00-marketing-webhook.json',
		'00 Marketing Webhook (events in, tracking, unsubscribe)',
		'maExample00Hook0',
	);
	note(
		wf,
		'00 Marketing Webhook: the one URL for events, ESP webhooks and tracking',
		'Receives CRM / site / form events (`POST …/webhook/ma-tracking/events`), ESP event webhooks (`…/esp/<provider>`) and the open, click and unsubscribe hits of every Send Campaign mail (`…/t/o/…`, `…/t/c/…`, `…/u/…`). Every hit is recorded in the contact store, which starts the Contact Triggers of the other examples. This workflow itself runs only for unsubscribes (add *CRM, Site and Form Events* to *Start the Workflow For* to act on each event here). **Activate it first**: the other examples use its URL as their Tracking Base URL.',
		[
			'Credential Marketing Webhook (`ma-webhook`): its *Shared Secret* is the `X-Webhook-Secret` header your CRM / site sends with events (or an HMAC secret for `X-Signature`), plus the ESP keys you use.',
			CREDS_NOTE,
			'The webhook ID `ma-tracking` fixes the URL: `<n8n>/webhook/ma-tracking`. Change it in the node JSON and in every Tracking Base URL together.',
			'*Browser Events*: pages of `https://www.example.com` send page views and form sign-ups with the snippet `<script src="<n8n>/webhook/ma-tracking/browser" data-site-key="pk_example_shop" async></script>` (docs/browser-events.md). Put your own site key and origins.',
		],
		[],
		6,
		[
			'',
			'Event body: `{"email": "ada@example.com", "event": "cart_item_added", "properties": {…}, "fields": {…}, "tags": […]}` (or `contactId`; an array or `{"events": […]}` for a batch).',
		],
	);
	const hook = marketingWebhookTrigger(
		wf,
		'Marketing Webhook Trigger',
		[0, 0],
		{
			emit: ['unsubscribes'],
			browserEvents: {
				siteKey: 'pk_example_shop',
				allowedOrigins: 'https://www.example.com',
				allowedEvents: 'page_viewed, form_submitted',
			},
			options: { senderName: 'Example Shop' },
		},
		TRACKING_WEBHOOK_ID,
	);
	const done = noOp(wf, 'Unsubscribed (Already Applied)', [1, 0]);
	wf.chain(hook, done);
	return wf;
}

function birthday(): Workflow {
	const wf = new Workflow('01-birthday.json', '01 Birthday greeting at 9:00 local time', 'maExample01Bday0');
	note(
		wf,
		'Recipe 1: Birthday',
		"On each contact's birthday, at 9:00 in the contact's own time zone (field `timezone`, else UTC), sends a greeting. The campaign ID carries the year, so each birthday is sent once per year.",
		[
			'Contacts need a date field `birthday` (e.g. `{"birthday": {"value": "1990-05-17", "type": "date"}}`) and ideally a time zone.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		[
			"Contact Trigger *Local Hour* / *Local Minute* (`hour`, `minute`): set them to a minute ahead of the test contact's local time, with its birthday today.",
		],
	);
	const trigger = contactTrigger(wf, 'On Birthday at 9:00 Local', [0, 0], {
		mode: 'dateReached',
		dateField: 'birthday',
		repeat: 'yearly',
		offsetDays: 0,
		hour: 9,
		minute: 0,
		fallbackTimezone: 'UTC',
		options: {},
	});
	const send = sendCampaign(wf, 'Send Birthday Greeting', [1, 0], {
		campaignId: '=birthday-{{ $json.event.occurrence }}',
		campaignName: 'Birthday greeting',
		subject: 'Happy birthday, {{ firstName | "friend" }}!',
		html: html('Happy birthday from all of us! Here is 15% off anything you like this week: <b>BDAY15</b>.'),
	});
	wf.chain(trigger, send);
	return wf;
}

function anniversary(): Workflow {
	const wf = new Workflow('02-customer-anniversary.json', '02 Customer anniversary thank-you', 'maExample02Anni0');
	note(
		wf,
		'Recipe 2: Customer anniversary',
		'Top: on the first `order_completed` event, stores its time in the date field `firstPurchaseAt` (only when the contact has none). Bottom: every year on the anniversary of `firstPurchaseAt` (from one year after it), at 10:00 local time, sends a thank-you.',
		[
			'Send `order_completed` events from your shop (or import `firstPurchaseAt` as a date field).',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		[
			"Anniversary trigger *Local Hour* / *Local Minute*: a minute ahead of the contact's local time, with `firstPurchaseAt` set to this day one year ago.",
		],
	);
	const order = contactTrigger(wf, 'On Order Completed', [0, 0], eventTrigger('order_completed'));
	const first = segmentFilter(
		wf,
		'No First Purchase Yet?',
		[1, 0],
		filterRows([{ type: 'field', field: 'firstPurchaseAt', fieldOperator: 'notExists' }]),
	);
	const store = contact(wf, 'Store First Purchase Date', [2, 0], {
		resource: 'contact',
		operation: 'upsert',
		contactId: '={{ $json.contactId }}',
		fieldsInput: 'fields',
		fieldsUi: { field: [{ name: 'firstPurchaseAt', type: 'date', value: '={{ $json.event.time }}' }] },
		additionalFields: {},
		options: { writeMode: 'update', source: 'anniversary-workflow' },
	});
	wf.chain(order, first, store);
	const yearly = contactTrigger(wf, 'On First-Purchase Anniversary', [0, 1.5], {
		mode: 'dateReached',
		dateField: 'firstPurchaseAt',
		repeat: 'yearly',
		offsetDays: 0,
		hour: 10,
		minute: 0,
		fallbackTimezone: 'UTC',
		options: {},
	});
	const send = sendCampaign(wf, 'Send Anniversary Thank-You', [1, 1.5], {
		campaignId: '=customer-anniversary-{{ $json.event.occurrence }}',
		campaignName: 'Customer anniversary',
		subject: 'One more year together, {{ firstName | "friend" }}: thank you!',
		html: html(
			'It has been another year since your first order with us. Thank you for staying with us: here is a small gift, code <b>THANKYOU10</b>.',
		),
	});
	wf.chain(yearly, send);
	return wf;
}

/**
 * A journey's goal (recipes 5, 7, 11, 12, 24): a Segment Filter whose rows match the contacts that
 * reached it. Checked before every mail; a contact that had reached it before entering is kept out,
 * one that reaches it on the way stops there with `$goal_reached` recorded.
 */
interface Goal {
	/** What `$goal_reached` records as `goal`, e.g. `purchased`. */
	goal: string;
	/** The check's node name, a question such as `Bought?`. */
	question: string;
	rows: Params[];
	combinator?: 'and' | 'or';
}

/** The goal check at entry: matched = reached before entering (kept out); continue on output 1. */
function goalGate(wf: Workflow, goal: Goal, from: string, cell: [number, number]): string {
	const check = segmentFilter(wf, `${goal.question} (Entry)`, cell, filterRows(goal.rows, goal.combinator));
	const out = noOp(wf, 'Goal Reached Before Entry: Keep Out', [cell[0] + 1, cell[1] + 1.2]);
	wf.connect(from, check);
	wf.connect(check, out, 0);
	return check;
}

/** Contact > Record Goal Reached: `$goal_reached {workflow, goal}` where a journey stops at its goal. */
function recordGoal(wf: Workflow, cell: [number, number], goal: string): string {
	return contact(wf, 'Record Goal Reached', cell, {
		resource: 'event',
		operation: 'goalReached',
		...contactRef,
		goal,
	});
}

/**
 * A series of mails separated by Waits. With a goal: checked at entry (keeps out who reached it
 * before) and again after every Wait, so no mail goes to a contact who reached it; reaching it on
 * the way records `$goal_reached` and stops. `gateAtEntry` false: the caller checked it already.
 */
function series(
	wf: Workflow,
	start: string,
	row: number,
	mails: Array<{ name: string; waitDays?: number; mail: Parameters<typeof sendCampaign>[3] }>,
	goal?: Goal,
	startCol = 1,
	gateAtEntry = true,
): void {
	let col = startCol;
	let previous = start;
	let output = 0;
	let reached: string | undefined;
	if (goal && gateAtEntry) {
		previous = goalGate(wf, goal, start, [col++, row]);
		output = 1;
	}
	mails.forEach((m, i) => {
		if (m.waitDays) {
			const base = `Wait ${m.waitDays} Days`;
			let waitName = base;
			for (let k = 2; wf.nodes.some((n) => n.name === waitName); k++) waitName = `${base} (${k})`;
			const w = wait(wf, waitName, [col++, row], m.waitDays, 'days');
			wf.connect(previous, w, output);
			[previous, output] = [w, 0];
		}
		if (goal && !(i === 0 && !m.waitDays)) {
			const check = segmentFilter(
				wf,
				`${goal.question} (${i + 1})`,
				[col++, row],
				filterRows(goal.rows, goal.combinator),
			);
			reached ??= recordGoal(wf, [col, row + 1.5], goal.goal);
			wf.connect(previous, check, output);
			wf.connect(check, reached, 0);
			[previous, output] = [check, 1];
		}
		const send = sendCampaign(wf, m.name, [col++, row], m.mail);
		wf.connect(previous, send, output);
		[previous, output] = [send, 0];
	});
}

function drip(): Workflow {
	const wf = new Workflow('03-drip-series.json', '03 Drip series: day 1, 7 and 14 after sign-up', 'maExample03Drip0');
	note(
		wf,
		'Recipe 3: Drip series',
		'On `signed_up`: mail 1 at once (day 1), mail 2 six days later (day 7), mail 3 seven days after that (day 14). Unsubscribed contacts are skipped by Send Campaign at each step.',
		[
			'Record `signed_up` from your sign-up form (through the Marketing Webhook).',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['*Wait 6 Days* and *Wait 7 Days*: set `unit` to `seconds` (e.g. amount 6 and 7).'],
		9,
	);
	const trigger = contactTrigger(wf, 'On Sign-Up', [0, 0], eventTrigger('signed_up'));
	series(wf, trigger, 0, [
		{
			name: 'Send Day 1',
			mail: {
				campaignId: 'drip-day-1',
				campaignName: 'Drip day 1',
				subject: 'Welcome aboard, {{ firstName | "there" }}',
				html: html('Thanks for signing up. Here is how to get started in five minutes.'),
			},
		},
		{
			name: 'Send Day 7',
			waitDays: 6,
			mail: {
				campaignId: 'drip-day-7',
				campaignName: 'Drip day 7',
				subject: 'Three tips after your first week',
				html: html('A week in: three tips our happiest customers use.'),
			},
		},
		{
			name: 'Send Day 14',
			waitDays: 7,
			mail: {
				campaignId: 'drip-day-14',
				campaignName: 'Drip day 14',
				subject: 'Two weeks in: what comes next',
				html: html('Two weeks in: here is what you can do next.'),
			},
		},
	]);
	return wf;
}

/**
 * A sign-up from a contact already subscribed needs no confirmation, and must not turn it back to
 * pending (no marketing mail until it confirms again): output 0 ends there, output 1 goes on.
 */
function alreadySubscribed(wf: Workflow, cell: [number, number]): string {
	const check = segmentFilter(
		wf,
		'Already Subscribed?',
		cell,
		filterRows([{ type: 'subscription', memberOperator: 'is', value: 'subscribed' }]),
	);
	wf.connect(check, noOp(wf, 'Subscribed: Nothing to Confirm', [cell[0] + 1, cell[1] - 0.8]), 0);
	return check;
}

/** A sign-up recorded as pending until its confirmation link is used (double opt-in). */
function recordPendingSignUp(wf: Workflow, cell: [number, number]): string {
	return contact(wf, 'Record Pending Sign-Up', cell, {
		resource: 'subscription',
		operation: 'subscribe',
		...contactRef,
		consentSource: "={{ $json.event.properties.form ?? 'newsletter sign-up' }}",
		options: { pending: true },
	});
}

function welcome(): Workflow {
	const wf = new Workflow(
		'04-welcome.json',
		'04 Welcome: newsletter sign-up, confirmation, welcome mail and series',
		'maExample04Welc0',
	);
	note(
		wf,
		'Recipe 4: Welcome (double opt-in)',
		'On `newsletter_signup` from a contact not yet subscribed: records the sign-up as **pending** (source = the form), tags `newsletter` and sends the confirmation mail (transactional). Its link `{{ confirmUrl }}` opens the confirmation page of *00 Marketing Webhook*; its button turns the contact **subscribed** and keeps the proof. Bottom: that confirmation starts the welcome mail (value of the newsletter, frequency, best articles), then two more welcome mails 2 and 3 days apart. A contact who never confirms gets nothing else: under the workspace policy (double opt-in by default) pending contacts get no marketing mail.',
		[
			'Record `newsletter_signup` from your form; `properties.form` becomes the consent source.',
			'Keep *00 Marketing Webhook* active: it serves the confirmation page. A link works 7 days.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['*Wait 2 Days* and *Wait 3 Days*: set `unit` to `seconds`.'],
		10,
		[
			'',
			'`newsletter_signup` also starts *Loop A* (white-paper offer) when both are active. The *Double opt-in* example does the same for `newsletter_optin_requested` with one welcome mail.',
		],
	);
	const trigger = contactTrigger(wf, 'On Newsletter Sign-Up', [0, 0], eventTrigger('newsletter_signup'));
	const already = alreadySubscribed(wf, [1, 0]);
	const pending = recordPendingSignUp(wf, [2, 0]);
	const tag = contact(wf, 'Tag Newsletter', [3, 0], {
		resource: 'tag',
		operation: 'add',
		...contactRef,
		tags: 'newsletter',
		options: {},
	});
	const confirmMail = sendCampaign(wf, 'Send Confirmation Mail', [4, 0], {
		campaignId: 'welcome-confirmation',
		campaignName: 'Please confirm your newsletter subscription',
		subject: 'Please confirm your newsletter subscription',
		html: html(
			'One click and you are in: <a href="{{ confirmUrl }}">Yes, subscribe me</a>.',
			'<p>If you did not sign up, ignore this mail: you will get nothing else from us.</p>',
		),
		// A mail the person asked for: allowed before consent; sent again for a repeated sign-up.
		options: { transactional: true, allowResend: true },
	});
	wf.chain(trigger, already);
	wf.connect(already, pending, 1);
	wf.chain(pending, tag, confirmMail);

	const confirmed = contactTrigger(
		wf,
		'On Confirmation',
		[0, 1.5],
		eventTrigger('$subscription_changed', [
			{ path: 'to', operator: 'equals', value: 'subscribed' },
			{ path: 'from', operator: 'equals', value: 'pending' },
			{ path: 'source', operator: 'equals', value: 'double-opt-in:welcome-confirmation' },
		]),
	);
	let col = 1;
	const welcome1 = sendCampaign(wf, 'Send Welcome', [col++, 1.5], {
		campaignId: 'welcome-1',
		campaignName: 'Welcome',
		subject: 'Welcome to our newsletter, {{ firstName | "there" }}',
		html: html(
			'Thanks for subscribing! Every Thursday you get one short e-mail: new arrivals, one how-to and one offer.',
			'<p>Our readers\' favourites: <a href="https://example.com/best/1">How to choose</a>, <a href="https://example.com/best/2">Care guide</a>, <a href="https://example.com/best/3">Gift ideas</a>.</p>',
		),
	});
	const wait2 = wait(wf, 'Wait 2 Days', [col++, 1.5], 2, 'days');
	const welcome2 = sendCampaign(wf, 'Send Welcome 2', [col++, 1.5], {
		campaignId: 'welcome-2',
		campaignName: 'Welcome 2',
		subject: 'The story behind Example Shop',
		html: html('Who we are, and why we do it.'),
	});
	const wait3 = wait(wf, 'Wait 3 Days', [col++, 1.5], 3, 'days');
	const welcome3 = sendCampaign(wf, 'Send Welcome 3', [col++, 1.5], {
		campaignId: 'welcome-3',
		campaignName: 'Welcome 3',
		subject: 'Your first-order gift',
		html: html('As a subscriber you get 10% off your first order: <b>WELCOME10</b>.'),
	});
	wf.chain(confirmed, welcome1, wait2, welcome2, wait3, welcome3);
	return wf;
}

function abandonedCart(): Workflow {
	const wf = new Workflow('05-abandoned-cart.json', '05 Abandoned cart and browse reminders', 'maExample05Cart0');
	note(
		wf,
		'Recipe 5: Abandoned cart (and viewed, not added)',
		'On `cart_item_added` or `product_viewed`: at most one reminder flow per contact and event per day (Loop Guard), waits, then checks the goal. Cart: reminds only if no `order_completed` came after the latest `cart_item_added`. Viewed: reminds only if neither `cart_item_added` nor `order_completed` followed the latest `product_viewed`. Otherwise the goal is reached: `$goal_reached` is recorded (goal `ordered`, or `added to cart or ordered`) and the flow stops.',
		[
			'Record `cart_item_added`, `product_viewed` (properties `product`, `url`) and `order_completed` from your shop.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		[
			'*Wait 4 Hours*: `unit` to `seconds` (e.g. 10).',
			'Loop Guard *Window* 24 hours: keep, or use fresh contacts per test.',
		],
		8,
	);
	const trigger = contactTrigger(
		wf,
		'On Cart or Product View',
		[0, 0],
		eventTrigger('cart_item_added, product_viewed'),
	);
	const guard = loopGuard(wf, 'One Reminder Flow per Day', [1, 0], {
		keyType: 'custom',
		customKey: "={{ $json.contactId + ':' + $json.event.name }}",
		scope: 'workflow',
		maxEntries: 1,
		window: 24,
		windowUnit: 'hours',
		options: {},
	});
	const w = wait(wf, 'Wait 4 Hours', [2, 0], 4, 'hours');
	const isCart = ifNode(wf, 'Cart Event?', [3, 0], '={{ $json.event.name }}', op.stringEquals, 'cart_item_added');
	const cartGoal = segmentFilter(
		wf,
		'Added but Did Not Order?',
		[4, -0.5],
		filterRows([
			{ type: 'event', eventOperator: 'didButNot', event: 'cart_item_added', otherEvent: 'order_completed', days: 0 },
		]),
	);
	const viewGoal = segmentFilter(
		wf,
		'Viewed but Did Not Add or Order?',
		[4, 0.8],
		filterRows([
			{ type: 'event', eventOperator: 'didButNot', event: 'product_viewed', otherEvent: 'cart_item_added', days: 0 },
			{ type: 'event', eventOperator: 'didButNot', event: 'product_viewed', otherEvent: 'order_completed', days: 0 },
		]),
	);
	const cartMail = sendCampaign(wf, 'Send Cart Reminder', [5, -0.5], {
		campaignId: 'abandoned-cart',
		campaignName: 'Abandoned cart reminder',
		subject: 'You left something in your cart',
		html: html(
			'Your cart is waiting: <a href="https://shop.example.com/cart">complete your order</a>. {{ data.product | "" }}',
		),
		options: {
			allowResend: true,
			mergeData: '={{ JSON.stringify({ product: $json.event.properties.product ?? "" }) }}',
		},
	});
	const viewMail = sendCampaign(wf, 'Send Browse Reminder', [5, 0.8], {
		campaignId: 'browse-reminder',
		campaignName: 'Viewed but not added',
		subject: 'Still thinking about {{ data.product | "it" }}?',
		html: html(
			'You had a look at {{ data.product | "one of our products" }}. <a href="{{ data.url | "https://shop.example.com" }}">Take another look</a>.',
		),
		options: {
			allowResend: true,
			mergeData:
				'={{ JSON.stringify({ product: $json.event.properties.product ?? "", url: $json.event.properties.url ?? "" }) }}',
		},
	});
	const reached = recordGoal(
		wf,
		[5, 2],
		"={{ $json.event.name === 'cart_item_added' ? 'ordered' : 'added to cart or ordered' }}",
	);
	const blocked = noOp(wf, 'Already Reminding', [2, 1.2]);
	wf.chain(trigger, guard, w, isCart);
	wf.connect(guard, blocked, 1);
	wf.connect(isCart, cartGoal, 0).connect(isCart, viewGoal, 1);
	wf.connect(cartGoal, cartMail, 0).connect(cartGoal, reached, 1);
	wf.connect(viewGoal, viewMail, 0).connect(viewGoal, reached, 1);
	return wf;
}

function webinar(): Workflow {
	const wf = new Workflow('06-webinar.json', '06 Webinar: confirmation, reminders, survey', 'maExample06Webi0');
	note(
		wf,
		'Recipe 6: Webinar / event',
		'On `webinar_registered` (properties `webinarId`, `title`, `startsAt` ISO time, `joinUrl`): confirmation at once; a reminder one day before and one an hour before (each skipped when that moment has already passed); after the event, attendees (`webinar_attended` with the same `webinarId`) get the survey, the others the recording.',
		[
			'Record `webinar_registered` from your registration form and `webinar_attended` from your webinar tool.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		[
			'*Timing* node: `dayReminderMinutes` (1440), `hourReminderMinutes` (60) and `surveyAfterMinutes` (120, after the start) are minutes; fractions work: 0.5 / 0.25 / 0.2 with `startsAt` 40 s ahead (leave margin: a reminder whose time has passed when the registration is processed is skipped).',
		],
		11,
	);
	const trigger = contactTrigger(wf, 'On Webinar Registration', [0, 0], eventTrigger('webinar_registered'));
	const timing = setFields(
		wf,
		'Timing',
		[1, 0],
		[
			['dayReminderMinutes', 'number', 1440],
			['hourReminderMinutes', 'number', 60],
			['surveyAfterMinutes', 'number', 120],
		],
	);
	const merge =
		'={{ JSON.stringify({ title: $json.event.properties.title, startsAt: $json.event.properties.startsAt, joinUrl: $json.event.properties.joinUrl ?? "" }) }}';
	const confirm = sendCampaign(wf, 'Send Confirmation', [2, 0], {
		campaignId: '=webinar-{{ $json.event.properties.webinarId }}-confirmation',
		campaignName: 'Webinar confirmation',
		subject: 'You are registered: {{ data.title }}',
		html: html('See you on {{ data.startsAt }}. Join here: <a href="{{ data.joinUrl }}">{{ data.joinUrl }}</a>.'),
		options: { transactional: true, mergeData: merge },
	});
	const startsAt = 'DateTime.fromISO($json.event.properties.startsAt)';
	const dayAhead = ifNode(
		wf,
		'Day Reminder Still Ahead?',
		[3, 0],
		`={{ ${startsAt}.minus({ minutes: $json.dayReminderMinutes }) }}`,
		op.dateAfter,
		'={{ $now }}',
	);
	const waitDay = waitUntil(
		wf,
		'Wait Until Day Before',
		[4, -0.5],
		`={{ ${startsAt}.minus({ minutes: $json.dayReminderMinutes }).toISO() }}`,
	);
	const dayMail = sendCampaign(wf, 'Send Day Reminder', [5, -0.5], {
		campaignId: '=webinar-{{ $json.event.properties.webinarId }}-reminder-day',
		campaignName: 'Webinar reminder (day before)',
		subject: 'Tomorrow: {{ data.title }}',
		html: html('A reminder: {{ data.title }} starts {{ data.startsAt }}. <a href="{{ data.joinUrl }}">Join link</a>.'),
		options: { transactional: true, mergeData: merge },
	});
	const hourAhead = ifNode(
		wf,
		'Hour Reminder Still Ahead?',
		[6, 0],
		`={{ ${startsAt}.minus({ minutes: $json.hourReminderMinutes }) }}`,
		op.dateAfter,
		'={{ $now }}',
	);
	const waitHour = waitUntil(
		wf,
		'Wait Until Hour Before',
		[7, -0.5],
		`={{ ${startsAt}.minus({ minutes: $json.hourReminderMinutes }).toISO() }}`,
	);
	const hourMail = sendCampaign(wf, 'Send Hour Reminder', [8, -0.5], {
		campaignId: '=webinar-{{ $json.event.properties.webinarId }}-reminder-hour',
		campaignName: 'Webinar reminder (hour before)',
		subject: 'Starting soon: {{ data.title }}',
		html: html('We start soon. <a href="{{ data.joinUrl }}">Join now</a>.'),
		options: { transactional: true, mergeData: merge },
	});
	const waitAfter = waitUntil(
		wf,
		'Wait Until After Event',
		[9, 0],
		`={{ ${startsAt}.plus({ minutes: $json.surveyAfterMinutes }).toISO() }}`,
	);
	const attended = segmentFilter(
		wf,
		'Attended?',
		[10, 0],
		filterRows([
			didAtLeast('webinar_attended', 1, 0, ['webinarId', 'equals', '={{ $json.event.properties.webinarId }}']),
		]),
	);
	const survey = sendCampaign(wf, 'Send Survey', [11, -0.5], {
		campaignId: '=webinar-{{ $json.event.properties.webinarId }}-survey',
		campaignName: 'Webinar survey',
		subject: 'How was {{ data.title }}?',
		html: html('Thanks for joining! Two minutes for <a href="https://example.com/survey">our survey</a>?'),
		options: { mergeData: merge },
	});
	const recording = sendCampaign(wf, 'Send Recording', [11, 0.8], {
		campaignId: '=webinar-{{ $json.event.properties.webinarId }}-recording',
		campaignName: 'Webinar recording for no-shows',
		subject: 'Missed {{ data.title }}? Here is the recording',
		html: html('Sorry we missed you. <a href="https://example.com/recordings">Watch the recording</a>.'),
		options: { mergeData: merge },
	});
	wf.chain(trigger, timing, confirm, dayAhead);
	wf.connect(dayAhead, waitDay, 0).connect(dayAhead, hourAhead, 1);
	wf.chain(waitDay, dayMail, hourAhead);
	wf.connect(hourAhead, waitHour, 0).connect(hourAhead, waitAfter, 1);
	wf.chain(waitHour, hourMail, waitAfter, attended);
	wf.connect(attended, survey, 0).connect(attended, recording, 1);
	return wf;
}

function lostOpportunity(): Workflow {
	const wf = new Workflow(
		'07-lost-opportunity-nurture.json',
		'07 Lost opportunity: nurture to win back later',
		'maExample07Lost0',
	);
	note(
		wf,
		'Recipe 7: Lost opportunity in the CRM',
		'On `opportunity_lost` (sent by the CRM): tags `nurture`, then three nurture mails a month apart. The goal, won (an `opportunity_won`, or lifecycle stage `customer` / `loyal_customer`), is checked at entry (a contact already won is kept out) and before every mail: reaching it records `$goal_reached` and stops the series.',
		[
			'Have your CRM post `opportunity_lost` / `opportunity_won` to the Marketing Webhook (`…/webhook/ma-tracking/events`).',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['The three *Wait 30 Days* nodes: `unit` to `seconds`.'],
		12,
	);
	const trigger = contactTrigger(wf, 'On Opportunity Lost', [0, 0], eventTrigger('opportunity_lost'));
	const won: Goal = {
		goal: 'won',
		question: 'Won?',
		rows: [didAtLeast('opportunity_won', 1), stageIs('in', 'customer, loyal_customer')],
		combinator: 'or',
	};
	const gate = goalGate(wf, won, trigger, [1, 0]);
	const tag = contact(wf, 'Tag Nurture', [2, 0], {
		resource: 'tag',
		operation: 'add',
		...contactRef,
		tags: 'nurture',
		options: {},
	});
	wf.connect(gate, tag, 1);
	series(
		wf,
		tag,
		0,
		[
			{
				name: 'Send Nurture 1',
				waitDays: 30,
				mail: {
					campaignId: 'nurture-lost-1',
					campaignName: 'Lost opportunity nurture 1',
					subject: 'What others in your position did next',
					html: html('A short case study from a team like yours.'),
				},
			},
			{
				name: 'Send Nurture 2',
				waitDays: 30,
				mail: {
					campaignId: 'nurture-lost-2',
					campaignName: 'Lost opportunity nurture 2',
					subject: 'What is new since we last spoke',
					html: html('Here is what changed in our product since we last spoke.'),
				},
			},
			{
				name: 'Send Nurture 3 (Offer)',
				waitDays: 30,
				mail: {
					campaignId: 'nurture-lost-3',
					campaignName: 'Lost opportunity win-back offer',
					subject: 'Ready to take another look?',
					html: html('Talk to us this month and get three months at half price.'),
				},
			},
		],
		won,
		3,
		false,
	);
	return wf;
}

function onboarding(): Workflow {
	const wf = new Workflow(
		'08-customer-onboarding.json',
		'08 Lead becomes customer: onboarding series',
		'maExample08Onbo0',
	);
	note(
		wf,
		'Recipe 8: Lead becomes customer',
		'When the field `lifecycleStage` changes to `customer`: onboarding mail at once, then after 3 and 4 more days.',
		[
			'Set the lifecycle stage from your CRM (event body `fields: {"lifecycleStage": …}` is not enough: use the Contact node\'s *Lifecycle Stage* or recipe 25).',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['*Wait 3 Days* and *Wait 4 Days*: `unit` to `seconds`.'],
		9,
	);
	const trigger = contactTrigger(wf, 'On Became Customer', [0, 0], {
		mode: 'fieldChanged',
		field: 'lifecycleStage',
		fromValue: '',
		toValue: 'customer',
		options: {},
	});
	series(wf, trigger, 0, [
		{
			name: 'Send Onboarding 1',
			mail: {
				campaignId: 'onboarding-1',
				campaignName: 'Onboarding 1',
				subject: 'Welcome, {{ firstName | "there" }}: your first steps',
				html: html('Here is how to get the most out of your first week.'),
			},
		},
		{
			name: 'Send Onboarding 2',
			waitDays: 3,
			mail: {
				campaignId: 'onboarding-2',
				campaignName: 'Onboarding 2',
				subject: 'Set up in ten minutes',
				html: html('The three settings our customers change first.'),
			},
		},
		{
			name: 'Send Onboarding 3',
			waitDays: 4,
			mail: {
				campaignId: 'onboarding-3',
				campaignName: 'Onboarding 3',
				subject: 'Need a hand?',
				html: html('Book a free onboarding call: <a href="https://example.com/call">pick a time</a>.'),
			},
		},
	]);
	return wf;
}

function projectSurvey(): Workflow {
	const wf = new Workflow('09-project-survey.json', '09 Project finished: satisfaction survey', 'maExample09Proj0');
	note(
		wf,
		'Recipe 9: Project finished',
		'On `project_finished` (properties `projectId`, `projectName`): waits two days, then sends the satisfaction survey for that project (once per project: Loop Guard keyed on the project).',
		['Record `project_finished` from your project tool / CRM.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		[
			'*Wait 2 Days*: `unit` to `seconds`.',
			'Loop Guard *Window* (365 days, per project): keep; use another `projectId` per test.',
		],
	);
	const trigger = contactTrigger(wf, 'On Project Finished', [0, 0], eventTrigger('project_finished'));
	const once = loopGuard(wf, 'Once per Project', [1, 0], {
		keyType: 'custom',
		customKey: "={{ $json.contactId + ':' + $json.event.properties.projectId }}",
		scope: 'workflow',
		maxEntries: 1,
		window: 365,
		windowUnit: 'days',
		options: {},
	});
	const w = wait(wf, 'Wait 2 Days', [2, 0], 2, 'days');
	const send = sendCampaign(wf, 'Send Survey', [3, 0], {
		campaignId: 'project-survey',
		campaignName: 'Project satisfaction survey',
		subject: 'How did {{ data.projectName | "your project" }} go?',
		html: html(
			'Your project {{ data.projectName | "" }} is finished. Tell us how it went: <a href="https://example.com/survey">3 questions</a>.',
		),
		options: {
			allowResend: true,
			mergeData: '={{ JSON.stringify({ projectName: $json.event.properties.projectName ?? "" }) }}',
		},
	});
	const dup = noOp(wf, 'Survey Already Planned', [2, 1]);
	wf.chain(trigger, once, w, send);
	wf.connect(once, dup, 1);
	return wf;
}

function pricingVisit(): Workflow {
	const wf = new Workflow(
		'10-pricing-page-alert.json',
		'10 Lead visits the pricing page: notify sales',
		'maExample10Pric0',
	);
	note(
		wf,
		'Recipe 10: Key page visited by a lead',
		'On `page_viewed` whose `path` contains `/pricing`, by a contact whose lifecycle stage is `lead` or `qualified_lead`: posts an alert to the sales channel, at most once per contact per day.',
		[
			`*Notify Sales* posts Slack-incoming-webhook JSON (\`{"text": …}\`) to \`${HOOKS}/sales-alert\`: replace it with your Slack incoming webhook, Teams or CRM URL (or swap in n8n's Slack node).`,
			'Record `page_viewed` with `properties.path` from your site.',
			CREDS_NOTE,
		],
		['Loop Guard *Window* (24 hours): keep, or use a fresh contact per test.'],
		6,
	);
	const trigger = contactTrigger(
		wf,
		'On Pricing Page View',
		[0, 0],
		eventTrigger('page_viewed', [{ path: 'path', operator: 'contains', value: '/pricing' }]),
	);
	const isLead = segmentFilter(wf, 'Is a Lead?', [1, 0], filterRows([stageIs('in', 'lead, qualified_lead')]));
	const daily = loopGuard(wf, 'Once a Day per Lead', [2, 0], {
		keyType: 'contact',
		scope: 'workflow',
		maxEntries: 1,
		window: 24,
		windowUnit: 'hours',
		options: {},
	});
	const notify = httpPost(
		wf,
		'Notify Sales',
		[3, 0],
		`${HOOKS}/sales-alert`,
		'{ text: "Lead " + $json.contact.email + " is looking at " + $json.event.properties.path, contactId: $json.contactId, email: $json.contact.email, page: $json.event.properties.path, recipe: "pricing-page" }',
	);
	wf.chain(trigger, isLead, daily, notify);
	return wf;
}

function leadMagnet(): Workflow {
	const wf = new Workflow(
		'11-lead-magnet-series.json',
		'11 Lead magnet downloaded: six-mail topic series ending with an offer',
		'maExample11Magn0',
	);
	note(
		wf,
		'Recipe 11: Lead magnet downloaded',
		'On `lead_magnet_downloaded` (property `topic`): six mails on that topic, two days apart, the last one an offer. The goal, a `purchase`, is checked before every mail: a contact who bought before is kept out; one who buys on the way gets `$goal_reached` recorded and no more mails.',
		[
			'Record `lead_magnet_downloaded` with `properties.topic` (the topic is merged into every mail).',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['Every *Wait 2 Days* node: `unit` to `seconds`.'],
		14,
	);
	const trigger = contactTrigger(wf, 'On Lead Magnet Download', [0, 0], eventTrigger('lead_magnet_downloaded'));
	const topic = '={{ JSON.stringify({ topic: $json.event.properties.topic ?? "this topic" }) }}';
	const subjects = [
		'Your guide on {{ data.topic }} is inside',
		'{{ data.topic }}: the first mistake to avoid',
		'{{ data.topic }}: a checklist',
		'{{ data.topic }}: how others did it',
		'{{ data.topic }}: answers to your questions',
		'{{ data.topic }}: an offer to go further',
	];
	series(
		wf,
		trigger,
		0,
		subjects.map((subject, i) => ({
			name: `Send Topic Mail ${i + 1}`,
			waitDays: i === 0 ? undefined : 2,
			mail: {
				campaignId: `lead-magnet-${i + 1}`,
				campaignName: `Lead magnet series ${i + 1}`,
				subject,
				html: html(
					i === 5
						? 'Ready to go further with {{ data.topic }}? 20% off this week: <b>GUIDE20</b>.'
						: `Part ${i + 1} of 6 on {{ data.topic }}.`,
				),
				options: { mergeData: topic },
			},
		})),
		{ goal: 'purchased', question: 'Bought?', rows: [didAtLeast('purchase', 1)] },
	);
	return wf;
}

function freeTrial(): Workflow {
	const wf = new Workflow('12-free-trial.json', '12 Free trial: thank-you, tutorials, feedback', 'maExample12Tria0');
	note(
		wf,
		'Recipe 12: Free trial started',
		'On `trial_started`: thank-you at once, tutorials after 2 and 5 days, a feedback request at day 10. The goal, `subscription_purchased`, is checked before every mail: a contact who already bought is kept out; one who buys during the trial gets `$goal_reached` recorded and no more mails.',
		['Record `trial_started` and `subscription_purchased` from your app.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		['*Wait 2 Days*, *Wait 3 Days* and *Wait 5 Days*: `unit` to `seconds`.'],
		12,
	);
	const trigger = contactTrigger(wf, 'On Trial Started', [0, 0], eventTrigger('trial_started'));
	series(
		wf,
		trigger,
		0,
		[
			{
				name: 'Send Thank-You',
				mail: {
					campaignId: 'trial-thanks',
					campaignName: 'Trial thank-you',
					subject: 'Your trial has started',
					html: html('Thanks for trying us! Your trial runs 14 days.'),
				},
			},
			{
				name: 'Send Tutorial 1',
				waitDays: 2,
				mail: {
					campaignId: 'trial-tutorial-1',
					campaignName: 'Trial tutorial 1',
					subject: 'Tutorial: your first project',
					html: html('Build your first project in 10 minutes.'),
				},
			},
			{
				name: 'Send Tutorial 2',
				waitDays: 3,
				mail: {
					campaignId: 'trial-tutorial-2',
					campaignName: 'Trial tutorial 2',
					subject: 'Tutorial: working as a team',
					html: html('Invite your team and share your work.'),
				},
			},
			{
				name: 'Send Feedback Request',
				waitDays: 5,
				mail: {
					campaignId: 'trial-feedback',
					campaignName: 'Trial feedback',
					subject: 'How is your trial going?',
					html: html('One question: <a href="https://example.com/feedback">what would make it better?</a>'),
				},
			},
		],
		{ goal: 'subscribed', question: 'Converted?', rows: [didAtLeast('subscription_purchased', 1)] },
	);
	return wf;
}

function engagementTiers(): Workflow {
	const wf = new Workflow(
		'13-engagement-tiers.json',
		'13 Engagement tiers: Engaged, Disengaged, Inactive',
		'maExample13Tier0',
	);
	note(
		wf,
		'Recipe 13: Engagement tiers',
		'Every day at 3:00 (or on `POST /webhook/ma-run-engagement-tiers`), Engagement Tagger re-tiers only the contacts that crossed a boundary since the last run: interacted within 30 days = tag `Engaged`, 30-60 days = `Disengaged`, over 60 = `Inactive`. Each change logs `$tier_changed`, which starts recipe 14.',
		[
			'Tier names and boundaries in *Tier Contacts*.',
			'*Run Now* webhook has no authentication: protect it (Header Auth) or delete it in production.',
			CREDS_NOTE,
		],
		[
			'*Tier Contacts* `boundaryDays` accepts fractions: `0.0002, 0.0004` (about 17 s and 35 s).',
			'Run it with `POST /webhook/ma-run-engagement-tiers`, or set the schedule to `seconds`.',
		],
		6,
	);
	const daily = schedule(wf, 'Every Day at 3:00', [0, 0], { field: 'days', daysInterval: 1, triggerAtHour: 3 });
	const now = webhookTrigger(wf, 'Run Now', [0, 1], 'ma-run-engagement-tiers');
	const tagger = engagementTagger(wf, 'Tier Contacts', [1, 0.5], {
		mode: 'wholeBase',
		tierNames: 'Engaged, Disengaged, Inactive',
		boundaryDays: '30, 60',
		runName: 'daily-tiers',
		output: 'changed',
	});
	const done = noOp(wf, 'Tier Changes', [2, 0.5]);
	wf.chain(daily, tagger, done);
	wf.connect(now, tagger);
	return wf;
}

function inactiveCustomer(): Workflow {
	const wf = new Workflow(
		'14-inactive-customer-reactivation.json',
		'14 Customer becomes Inactive: what is new',
		'maExample14Reac0',
	);
	note(
		wf,
		'Recipe 14: Customer becomes Inactive',
		"When Engagement Tagger (recipe 13) moves a contact to the `Inactive` tier and the contact is a customer (lifecycle stage `customer` or `loyal_customer`): sends the `reactivation` mail with what is new. Recipe 13 tiers at 3:00: set quiet hours in the workspace policy (e.g. 21 → 8) and the mails wait in *Send What Is New: Wait Until sendAt* until the quiet hours end in each contact's time zone, earliest zone first. Recipe 16 acts on reactions to it.",
		['Recipe 13 must run (it produces the tier changes).', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		["Shorten recipe 13's boundaries."],
		6,
	);
	const trigger = contactTrigger(wf, 'On Became Inactive', [0, 0], {
		mode: 'tierChanged',
		tiers: 'Inactive',
		options: {},
	});
	const isCustomer = segmentFilter(
		wf,
		'Is a Customer?',
		[1, 0],
		filterRows([stageIs('in', 'customer, loyal_customer')]),
	);
	const send = sendCampaign(wf, 'Send What Is New', [2, 0], {
		campaignId: 'reactivation',
		campaignName: 'Reactivation: what is new',
		subject: 'We have been busy, {{ firstName | "friend" }}: here is what is new',
		html: html(
			'It has been a while! New this season: <a href="https://shop.example.com/new">new arrivals</a>, faster delivery and a loyalty programme.',
		),
		options: { allowResend: true, trackOpens: true, trackClicks: true },
	});
	wf.chain(trigger, isCustomer, send);
	return wf;
}

function repermission(): Workflow {
	const wf = new Workflow('15-re-permission.json', '15 Re-permission: confirm or be removed', 'maExample15Perm0');
	note(
		wf,
		'Recipe 15: Re-permission',
		"Top, weekly (or on `POST /webhook/ma-run-re-permission`): subscribed `newsletter` contacts who opened nothing for 180 days (and joined over 180 days ago, not already asked) get the re-permission mail and the tag `repermission-pending`. Bottom, per contact from the moment its mail is sent: 30 days later, those who confirmed (clicked the mail's link, or a `subscription_confirmed` event) lose the tag; the others are unsubscribed (removed from the list).",
		[
			'The confirm link in the mail is tracked (Track Clicks): a click is the confirmation. Or record `subscription_confirmed` from your own page.',
			'*Run Now* webhook has no authentication: protect or delete it in production.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
			PAGED_BROADCAST_NOTE,
		],
		[
			'*Not Opened for 6 Months* rows: `days` / `fieldDays` 180 → fractions, e.g. 0.0001 (about 9 s).',
			'*Wait 30 Days*: `unit` to `seconds`.',
			'Run it with `POST /webhook/ma-run-re-permission`.',
		],
		10,
	);
	const weekly = schedule(wf, 'Every Monday at 10:00', [0, 0], {
		field: 'weeks',
		weeksInterval: 1,
		triggerAtDay: [1],
		triggerAtHour: 10,
	});
	const now = webhookTrigger(wf, 'Run Now', [0, 1], 'ma-run-re-permission');
	const list = {
		name: 'Not Opened for 6 Months',
		parameters: listRows([
			{ type: 'subscription', memberOperator: 'is', value: 'subscribed' },
			{ type: 'tags', tagOperator: 'hasAny', tags: 'newsletter' },
			{ type: 'tags', tagOperator: 'hasNone', tags: 'repermission-pending' },
			{ type: 'field', field: 'createdAt', fieldOperator: 'notWithinLastDays', fieldDays: 180 },
			didNot('$email_opened', 180),
		]),
	};
	pagedBroadcast(wf, [weekly, now], [0, 0], list, (contacts, park) => {
		const ask = sendCampaign(wf, 'Send Re-Permission Request', [3, 2], {
			campaignId: 'repermission',
			campaignName: 'Re-permission request',
			subject: 'Do you still want to hear from us?',
			html: html(
				'We have not seen you open our newsletter for a while. If you want to keep receiving it, confirm with one click:',
				'<p><a href="https://example.com/newsletter/confirmed">Yes, keep me subscribed</a></p>',
				'If you do nothing, we will remove you from the list in 30 days.',
			),
			options: { allowResend: true, trackClicks: true },
			deferred: 'handOff',
		});
		const pending = contact(wf, 'Tag Pending', [4, 2], {
			resource: 'tag',
			operation: 'add',
			...contactRef,
			tags: 'repermission-pending',
			options: { createContact: false },
		});
		wf.chain(contacts, ask, pending);
		wf.connect(ask, park, 1);
		return { sends: [ask], resumeInto: ask };
	});
	const asked = contactTrigger(
		wf,
		'On Re-Permission Mail Sent',
		[0, 4.2],
		eventTrigger('$email_sent', [{ path: 'campaignId', operator: 'equals', value: 'repermission' }]),
	);
	const w = wait(wf, 'Wait 30 Days', [1, 4.2], 30, 'days');
	const confirmed = segmentFilter(
		wf,
		'Confirmed?',
		[2, 4.2],
		filterRows(
			[
				{ type: 'email', emailOperator: 'clicked', campaignId: 'repermission', days: 31 },
				didAtLeast('subscription_confirmed', 1, 31),
			],
			'or',
		),
	);
	const keep = contact(wf, 'Keep: Remove Pending Tag', [3, 3.8], {
		resource: 'tag',
		operation: 'remove',
		...contactRef,
		tags: 'repermission-pending',
	});
	const remove = contact(wf, 'Unsubscribe: No Confirmation', [3, 4.8], {
		resource: 'subscription',
		operation: 'unsubscribe',
		...contactRef,
		consentSource: 're-permission not confirmed within 30 days',
		options: { createContact: false },
	});
	wf.chain(asked, w, confirmed);
	wf.connect(confirmed, keep, 0).connect(confirmed, remove, 1);
	return wf;
}

function reactivationReaction(): Workflow {
	const wf = new Workflow(
		'16-reactivation-reaction.json',
		'16 Inactive contact reacts: support or sales reaches out',
		'maExample16Rect0',
	);
	note(
		wf,
		'Recipe 16: Inactive contact reacts to the reactivation e-mail',
		'On an open or click of the `reactivation` campaign (recipe 14) that is not a machine hit: once per contact per 30 days, customers go to the support desk, everyone else to sales, each as an HTTP call.',
		[
			`*Tell Support* posts to \`${HOOKS}/support-task\`, *Tell Sales* to \`${HOOKS}/sales-task\`: replace with your help desk / CRM (or their n8n nodes).`,
			CREDS_NOTE,
		],
		['Loop Guard *Window* (30 days): keep, or use a fresh contact per test.'],
		7,
	);
	const trigger = contactTrigger(
		wf,
		'On Reactivation Mail Reaction',
		[0, 0],
		eventTrigger('$email_opened, $email_clicked', [
			{ path: 'campaignId', operator: 'equals', value: 'reactivation' },
			{ path: 'machine', operator: 'notEquals', value: 'true' },
		]),
	);
	const once = loopGuard(wf, 'Once per 30 Days', [1, 0], {
		keyType: 'contact',
		scope: 'workflow',
		maxEntries: 1,
		window: 30,
		windowUnit: 'days',
		options: {},
	});
	const isCustomer = segmentFilter(wf, 'Customer?', [2, 0], filterRows([stageIs('in', 'customer, loyal_customer')]));
	const body = (team: string) =>
		`{ team: "${team}", contactId: $json.contactId, email: $json.contact.email, reaction: $json.event.name, campaignId: $json.event.properties.campaignId, text: "${team === 'support' ? 'Customer' : 'Lead'} " + $json.contact.email + " reacted to the reactivation mail: reach out" }`;
	const support = httpPost(wf, 'Tell Support', [3, -0.5], `${HOOKS}/support-task`, body('support'));
	const sales = httpPost(wf, 'Tell Sales', [3, 0.8], `${HOOKS}/sales-task`, body('sales'));
	wf.chain(trigger, once, isCustomer);
	wf.connect(isCustomer, support, 0).connect(isCustomer, sales, 1);
	return wf;
}

function remarketing(): Workflow {
	const wf = new Workflow(
		'17-remarketing-audience.json',
		'17 Opened the promotion but did not buy: remarketing audience',
		'maExample17Rema0',
	);
	note(
		wf,
		'Recipe 17: Opened a promotion but did not buy',
		'On the first open of the `spring-promo` campaign (not a machine open): waits 3 days; if no `purchase` came after the open, adds the contact (SHA-256 of the e-mail, as ads platforms want) to a remarketing audience over HTTP and tags `remarketing`.',
		[
			`*Add to Ads Audience* posts to \`${HOOKS}/ads-audience\`: replace with your ads platform's audience API and its credential.`,
			"Change `spring-promo` to your promotion's campaign ID.",
			CREDS_NOTE,
		],
		['*Wait 3 Days*: `unit` to `seconds`.'],
		7,
	);
	const trigger = contactTrigger(
		wf,
		'On Promotion Opened',
		[0, 0],
		eventTrigger('$email_opened', [
			{ path: 'campaignId', operator: 'equals', value: 'spring-promo' },
			// Only the first person open of the send: machine opens are never first, repeat opens neither.
			{ path: 'first', operator: 'equals', value: 'true' },
		]),
	);
	const w = wait(wf, 'Wait 3 Days', [1, 0], 3, 'days');
	const noBuy = segmentFilter(
		wf,
		'Opened but Did Not Buy?',
		[2, 0],
		filterRows([
			{
				type: 'event',
				eventOperator: 'didButNot',
				event: '$email_opened',
				property: 'campaignId',
				propertyOperator: 'equals',
				propertyValue: 'spring-promo',
				otherEvent: 'purchase',
				days: 0,
			},
		]),
	);
	const audience = httpPost(
		wf,
		'Add to Ads Audience',
		[3, 0],
		`${HOOKS}/ads-audience`,
		'{ audience: "spring-promo-openers", hashedEmail: $json.contact.email.trim().toLowerCase().hash("sha256"), contactId: $json.contactId }',
	);
	const tag = contact(wf, 'Tag Remarketing', [4, 0], {
		resource: 'tag',
		operation: 'add',
		identifyBy: 'id',
		contactId: "={{ $('Opened but Did Not Buy?').item.json.contactId }}",
		tags: 'remarketing',
		options: { createContact: false },
	});
	wf.chain(trigger, w, noBuy, audience, tag);
	return wf;
}

function topicSeries(): Workflow {
	const wf = new Workflow(
		'18-topic-series.json',
		'18 Read several articles on one topic: topic series',
		'maExample18Topi0',
	);
	note(
		wf,
		'Recipe 18: Several articles on one topic',
		'On `article_read` (property `topic`): when the contact has read at least 3 articles on that topic within 30 days, starts a three-mail series on it, once per contact and topic.',
		['Record `article_read` with `properties.topic` from your blog.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		[
			'Both *Wait 3 Days* nodes: `unit` to `seconds`.',
			'Loop Guard *Window* (365 days, per contact and topic): keep; use another topic or contact per test.',
		],
		8,
	);
	const trigger = contactTrigger(
		wf,
		'On Article Read',
		[0, 0],
		eventTrigger('article_read', [{ path: 'topic', operator: 'exists', value: '' }]),
	);
	const three = segmentFilter(
		wf,
		'Read 3 on This Topic in 30 Days?',
		[1, 0],
		filterRows([didAtLeast('article_read', 3, 30, ['topic', 'equals', '={{ $json.event.properties.topic }}'])]),
	);
	const once = loopGuard(wf, 'Once per Topic', [2, 0], {
		keyType: 'custom',
		customKey: "={{ $json.contactId + ':' + $json.event.properties.topic }}",
		scope: 'workflow',
		maxEntries: 1,
		window: 365,
		windowUnit: 'days',
		options: {},
	});
	const merge = '={{ JSON.stringify({ topic: $json.event.properties.topic }) }}';
	const mail = (i: number, subject: string) => ({
		campaignId: `=topic-{{ $json.event.properties.topic }}-${i}`,
		campaignName: `Topic series ${i}`,
		subject,
		html: html(
			`More on {{ data.topic }}, part ${i} of 3: <a href="https://example.com/topics/{{ data.topic }}">read on</a>.`,
		),
		options: { mergeData: merge },
	});
	wf.chain(trigger, three, once);
	series(
		wf,
		once,
		0,
		[
			{ name: 'Send Topic 1', mail: mail(1, 'You like {{ data.topic }}: our best pieces') },
			{ name: 'Send Topic 2', waitDays: 3, mail: mail(2, '{{ data.topic }}: going deeper') },
			{ name: 'Send Topic 3', waitDays: 3, mail: mail(3, '{{ data.topic }}: what experts recommend') },
		],
		undefined,
		3,
	);
	const duplicate = noOp(wf, 'Series Already Sent', [3, 1]);
	wf.connect(once, duplicate, 1);
	return wf;
}

function nps(): Workflow {
	const wf = new Workflow('19-nps-split.json', '19 NPS: happy and unhappy branches', 'maExample19Nps00');
	note(
		wf,
		'Recipe 19: NPS',
		'On `nps_submitted` (property `score` 0-10): stores the score in the number field `nps`; 7 or more = happy: exclusive offer and review invitation; below 7 = unhappy: re-engagement series of two mails.',
		['Record `nps_submitted` with `properties.score` from your survey tool.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		['*Wait 3 Days*: `unit` to `seconds`.'],
		8,
	);
	const trigger = contactTrigger(wf, 'On NPS Submitted', [0, 0], eventTrigger('nps_submitted'));
	const store = contact(wf, 'Store NPS Score', [1, 0], {
		resource: 'contact',
		operation: 'upsert',
		contactId: '={{ $json.contactId }}',
		fieldsInput: 'fields',
		fieldsUi: { field: [{ name: 'nps', type: 'number', value: '={{ $json.event.properties.score }}' }] },
		additionalFields: {},
		options: { writeMode: 'update', source: 'nps' },
	});
	const happy = segmentFilter(
		wf,
		'Score 7 or More?',
		[2, 0],
		filterRows([{ type: 'field', field: 'nps', fieldOperator: 'gte', value: '7' }]),
	);
	const offer = sendCampaign(wf, 'Send Offer and Review Invite', [3, -0.5], {
		campaignId: 'nps-happy',
		campaignName: 'NPS happy: offer and review',
		subject: 'Thank you! A little something for you',
		html: html(
			'Thanks for the great score! Here is an exclusive 20% code: <b>THANKS20</b>.',
			'Would you share your experience? <a href="https://example.com/review">Leave a review</a>.',
		),
		options: { allowResend: true },
	});
	const sorry = sendCampaign(wf, 'Send Re-Engagement 1', [3, 0.8], {
		campaignId: 'nps-unhappy-1',
		campaignName: 'NPS unhappy: re-engagement 1',
		subject: 'We hear you, {{ firstName | "there" }}',
		html: html('Thank you for your honest answer. What went wrong? Just reply to this mail: a real person reads it.'),
		options: { allowResend: true },
	});
	const w = wait(wf, 'Wait 3 Days', [4, 0.8], 3, 'days');
	const sorry2 = sendCampaign(wf, 'Send Re-Engagement 2', [5, 0.8], {
		campaignId: 'nps-unhappy-2',
		campaignName: 'NPS unhappy: re-engagement 2',
		subject: 'What we changed after your feedback',
		html: html('Here is what we are changing, and a free month on us to try it.'),
		options: { allowResend: true },
	});
	wf.chain(trigger, store, happy);
	wf.connect(happy, offer, 0).connect(happy, sorry, 1);
	wf.chain(sorry, w, sorry2);
	return wf;
}

function referral(): Workflow {
	const wf = new Workflow(
		'20-referral-reward.json',
		'20 Referral becomes a customer: 25% for the referrer',
		'maExample20Refe0',
	);
	note(
		wf,
		'Recipe 20: Referral',
		"When a contact's lifecycle stage becomes `customer` and it has a `referredBy` field (the referrer's contact ID): if the referrer is a customer, sends the referrer a 25% discount code, once per referred contact, and records `referral_rewarded` on the referrer.",
		[
			"Store `referredBy` (the referrer's contact ID) on referred contacts; create real codes in your shop (the code here is derived from the contact ID).",
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['Nothing time-dependent; Loop Guard *Window* (3650 days, per referred contact) stays.'],
		8,
	);
	const trigger = contactTrigger(wf, 'On Became Customer', [0, 0], {
		mode: 'fieldChanged',
		field: 'lifecycleStage',
		fromValue: '',
		toValue: 'customer',
		options: {},
	});
	const referred = ifNode(wf, 'Was Referred?', [1, 0], '={{ $json.contact.fields.referredBy }}', op.exists);
	const toReferrer = setFields(
		wf,
		'Switch to Referrer',
		[2, 0],
		[
			['referredContactId', 'string', '={{ $json.contactId }}'],
			['referredEmail', 'string', '={{ $json.contact.email }}'],
			['contactId', 'string', '={{ $json.contact.fields.referredBy }}'],
			[
				'discountCode',
				'string',
				"={{ 'REF25-' + $json.contactId.replace(/[^A-Za-z0-9]/g, '').slice(-8).toUpperCase() }}",
			],
		],
	);
	// The item still holds the referred contact's snapshot (contact.id): name the referrer explicitly.
	const isCustomer = segmentFilter(wf, 'Referrer Is a Customer?', [3, 0], {
		...filterRows([stageIs('in', 'customer, loyal_customer')]),
		input: 'define',
		contactId: '={{ $json.contactId }}',
	});
	const once = loopGuard(wf, 'Once per Referred Contact', [4, 0], {
		keyType: 'custom',
		customKey: "={{ 'referral:' + $json.referredContactId }}",
		scope: 'workflow',
		maxEntries: 1,
		window: 3650,
		windowUnit: 'days',
		options: {},
	});
	const send = sendCampaign(wf, 'Send 25% Reward', [5, 0], {
		campaignId: 'referral-reward',
		campaignName: 'Referral reward',
		subject: 'Your friend joined: here is 25% off',
		html: html('Someone you referred just became a customer. Thank you! Your 25% code: <b>{{ data.code }}</b>.'),
		options: { allowResend: true, mergeData: '={{ JSON.stringify({ code: $json.discountCode }) }}' },
	});
	const record = contact(wf, 'Record Reward', [6, 0], {
		resource: 'event',
		operation: 'record',
		...contactRef,
		eventName: 'referral_rewarded',
		properties:
			'={{ JSON.stringify({ referredContactId: $json.referredContactId, code: $json.discountCode, percent: 25 }) }}',
		options: { idempotencyKey: "={{ 'referral-' + $json.referredContactId }}", createContact: false },
	});
	wf.chain(trigger, referred, toReferrer, isCustomer, once, send, record);
	return wf;
}

function hotLead(): Workflow {
	const wf = new Workflow('21-hot-lead.json', '21 Hot lead: score, assign a rep, notify', 'maExample21Hot00');
	note(
		wf,
		'Recipe 21: Hot lead',
		'Top: scores every `page_viewed` (5, pricing +20), `demo_requested` (40), `form_submitted` (15) and `$email_clicked` (5), halving every 30 days; grades cold < 20 <= warm < 50 <= hot. Bottom: when the grade becomes `hot`, assigns a sales rep (round robin by contact ID), stores it in the field `salesRep`, tags `hot-lead` and notifies the rep.',
		[
			`*Notify Rep* posts Slack-incoming-webhook JSON to \`${HOOKS}/hot-lead\`: replace it (or use n8n's Slack node).`,
			'Sales reps: the list in *Assign Rep*.',
			CREDS_NOTE,
		],
		[],
		8,
	);
	const events = contactTrigger(
		wf,
		'On Scored Events',
		[0, 0],
		eventTrigger('page_viewed, demo_requested, form_submitted, $email_clicked'),
	);
	const score = leadScore(wf, 'Score', [1, 0], {
		operation: 'scoreEvent',
		input: 'item',
		model: 'default',
		rulesInput: 'fields',
		rules: {
			rule: [
				{ kind: 'event', name: 'page view', event: 'page_viewed', points: 5, frequency: 'everyTime', decay: 'default' },
				{
					kind: 'event',
					name: 'pricing page',
					event: 'page_viewed',
					property: 'path',
					propertyOperator: 'contains',
					propertyValue: '/pricing',
					points: 20,
					frequency: 'oncePerDay',
					decay: 'default',
				},
				{
					kind: 'event',
					name: 'demo request',
					event: 'demo_requested',
					points: 40,
					frequency: 'everyTime',
					decay: 'default',
				},
				{ kind: 'event', name: 'form', event: 'form_submitted', points: 15, frequency: 'everyTime', decay: 'default' },
				{
					kind: 'event',
					name: 'mail click',
					event: '$email_clicked',
					points: 5,
					frequency: 'everyTime',
					decay: 'default',
				},
			],
		},
		decay: 'halfLife',
		decayDays: 30,
		grades: {
			grade: [
				{ name: 'cold', minScore: 0 },
				{ name: 'warm', minScore: 20 },
				{ name: 'hot', minScore: 50 },
			],
		},
		routeGradeChanges: false,
	});
	wf.chain(events, score);
	const hot = contactTrigger(wf, 'On Grade Hot', [0, 1.5], { mode: 'gradeChanged', grades: 'hot', options: {} });
	const assign = code(
		wf,
		'Assign Rep',
		[1, 1.5],
		[
			'// Round robin by contact ID: the same lead always gets the same rep.',
			"const reps = [{ name: 'Alice', email: 'alice@example.com' }, { name: 'Bob', email: 'bob@example.com' }];",
			'return $input.all().map((item) => {',
			'  const id = String(item.json.contactId);',
			'  let h = 0;',
			'  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;',
			'  return { json: { ...item.json, rep: reps[h % reps.length] } };',
			'});',
		].join('\n'),
	);
	const store = contact(wf, 'Store Rep and Tag', [2, 1.5], {
		resource: 'contact',
		operation: 'upsert',
		contactId: '={{ $json.contactId }}',
		fieldsInput: 'fields',
		fieldsUi: { field: [{ name: 'salesRep', type: 'string', value: '={{ $json.rep.email }}' }] },
		additionalFields: { addTags: 'hot-lead' },
		options: { writeMode: 'update', source: 'hot-lead' },
	});
	const notify = httpPost(
		wf,
		'Notify Rep',
		[3, 1.5],
		`${HOOKS}/hot-lead`,
		"{ text: 'Hot lead for ' + $('Assign Rep').item.json.rep.name + ': ' + ($json.email ?? $json.id), rep: $('Assign Rep').item.json.rep.email, contactId: $json.id, email: $json.email ?? null, grade: $('Assign Rep').item.json.event.properties.to ?? 'hot' }",
	);
	wf.chain(hot, assign, store, notify);
	return wf;
}

function enrichment(): Workflow {
	const wf = new Workflow(
		'22-lead-enrichment.json',
		'22 New lead: enrichment and predictive score',
		'maExample22Enri0',
	);
	note(
		wf,
		'Recipe 22: New lead enrichment',
		"When a contact's lifecycle stage becomes `lead`: posts the e-mail to an enrichment / predictive-scoring service and stores what it answers (`company`, `industry`, `employees`, `predictedScore`) as contact fields.",
		[
			`*Enrich* posts to \`${HOOKS}/enrich\` and expects \`{company, industry, employees, score}\`: replace with your service (Clearbit, Apollo, your model) and add its credential.`,
			CREDS_NOTE,
		],
		[],
		7,
	);
	const trigger = contactTrigger(wf, 'On New Lead', [0, 0], {
		mode: 'fieldChanged',
		field: 'lifecycleStage',
		fromValue: '',
		toValue: 'lead',
		options: {},
	});
	const enrich = httpPost(
		wf,
		'Enrich',
		[1, 0],
		`${HOOKS}/enrich`,
		'{ email: $json.contact.email, contactId: $json.contactId }',
	);
	const store = contact(wf, 'Store Enrichment', [2, 0], {
		resource: 'contact',
		operation: 'upsert',
		contactId: "={{ $('On New Lead').item.json.contactId }}",
		fieldsInput: 'json',
		fieldsJson:
			'={{ JSON.stringify({ company: $json.company ?? null, industry: $json.industry ?? null, employees: $json.employees ?? null, predictedScore: $json.score ?? null }) }}',
		additionalFields: {},
		options: { writeMode: 'update', source: 'enrichment' },
	});
	wf.chain(trigger, enrich, store);
	return wf;
}

function bookshop(): Workflow {
	const wf = new Workflow(
		'23-bookshop-author-recommendation.json',
		'23 Bookshop: best books of the author they keep viewing',
		'maExample23Book0',
	);
	note(
		wf,
		'Recipe 23: Interest-based recommendation',
		"On `page_viewed` with an `author` property: once the contact viewed that author's pages 3 times within 7 days (once per author and month), waits 3 days after that visit, then mails the author's best books, unless the contact already bought a book of that author (`purchase` with the same `author`).",
		[
			'Record `page_viewed` with `properties.author` (and `authorSlug`), and `purchase` with `properties.author`.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['*Wait 3 Days*: `unit` to `seconds`.', 'Loop Guard *Window* (30 days): keep, or use fresh contacts.'],
		8,
	);
	const trigger = contactTrigger(
		wf,
		'On Author Page View',
		[0, 0],
		eventTrigger('page_viewed', [{ path: 'author', operator: 'exists', value: '' }]),
	);
	const keeps = segmentFilter(
		wf,
		'Viewed Author 3 Times in 7 Days?',
		[1, 0],
		filterRows([didAtLeast('page_viewed', 3, 7, ['author', 'equals', '={{ $json.event.properties.author }}'])]),
	);
	const once = loopGuard(wf, 'Once per Author a Month', [2, 0], {
		keyType: 'custom',
		customKey: "={{ $json.contactId + ':' + $json.event.properties.author }}",
		scope: 'workflow',
		maxEntries: 1,
		window: 30,
		windowUnit: 'days',
		options: {},
	});
	const w = wait(wf, 'Wait 3 Days', [3, 0], 3, 'days');
	const notBought = segmentFilter(
		wf,
		'Has Not Bought This Author?',
		[4, 0],
		filterRows([didNot('purchase', 0, ['author', 'equals', '={{ $json.event.properties.author }}'])]),
	);
	const send = sendCampaign(wf, 'Send Best Books', [5, 0], {
		campaignId: 'author-recommendation',
		campaignName: 'Author recommendation',
		subject: 'The best of {{ data.author }}',
		html: html(
			'You seem to like {{ data.author }}. Our readers\' three favourites: <a href="https://books.example.com/authors/{{ data.authorSlug }}">see the books</a>.',
		),
		options: {
			allowResend: true,
			mergeData:
				'={{ JSON.stringify({ author: $json.event.properties.author, authorSlug: $json.event.properties.authorSlug ?? encodeURIComponent($json.event.properties.author) }) }}',
		},
	});
	const bought = noOp(wf, 'Already Bought: Skip', [5, 1]);
	wf.chain(trigger, keeps, once, w, notBought, send);
	wf.connect(notBought, bought, 1);
	return wf;
}

function seasonal(): Workflow {
	const wf = new Workflow(
		'24-seasonal-campaign.json',
		'24 Seasonal campaign with goal and dormant branch',
		'maExample24Xmas0',
	);
	note(
		wf,
		'Recipe 24: Seasonal campaign with a goal',
		'On December 1st at 9:00 (or `POST /webhook/ma-run-christmas`): the Christmas offer to every subscribed contact interested in toys (tag `interest:toys`, or a `page_viewed` with `category` `toys` in the last 90 days) who has not bought in the last 7 days (the goal, checked before the first mail too). Middle, per contact, three days after its offer was sent: bought (`purchase` in the last 7 days) = goal reached, `$goal_reached` recorded, stop; never opened the offer = tag `dormant` (bottom: the dormant-contact workflow); opened but did not reach the purchase page (`page_viewed` `/checkout`) = reminder; reached it = no reminder.',
		[
			'Tag or event for the interest, the purchase event and the checkout path to match your shop.',
			'*Run Now* webhook has no authentication: protect or delete it in production.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
			PAGED_BROADCAST_NOTE,
		],
		['*Wait 3 Days*: `unit` to `seconds`.', 'Start with `POST /webhook/ma-run-christmas` (the cron runs yearly).'],
		11,
	);
	const cron = schedule(wf, 'December 1st at 9:00', [0, 0], { field: 'cronExpression', expression: '0 9 1 12 *' });
	const now = webhookTrigger(wf, 'Run Now', [0, 1], 'ma-run-christmas');
	const toyFans = {
		name: 'Interested in Toys',
		parameters: {
			mode: 'segment',
			conditionsInput: 'json',
			conditionsJson: JSON.stringify(
				{
					combinator: 'and',
					conditions: [
						{ type: 'subscription', operator: 'is', value: 'subscribed' },
						{ type: 'event', operator: 'didNot', event: 'purchase', days: 7 },
						{
							combinator: 'or',
							conditions: [
								{ type: 'tags', operator: 'hasAny', tags: ['interest:toys'] },
								{
									type: 'event',
									operator: 'didAtLeast',
									event: 'page_viewed',
									count: 1,
									days: 90,
									where: [{ property: 'category', operator: 'equals', value: 'toys' }],
								},
							],
						},
					],
				},
				null,
				2,
			),
			pagination: 'page',
			pageSize: 1000,
			options: {},
		},
	};
	pagedBroadcast(wf, [cron, now], [0, 0], toyFans, (contacts, park) => {
		const offer = sendCampaign(wf, 'Send Christmas Offer', [3, 2], {
			campaignId: 'xmas-offer',
			campaignName: 'Christmas toys offer',
			subject: 'Christmas toys: 20% off until the 24th',
			html: html(
				'Our Christmas selection is here, 20% off: <a href="https://shop.example.com/christmas/toys">see the toys</a>.',
			),
			options: { trackOpens: true, trackClicks: true },
			deferred: 'handOff',
		});
		wf.chain(contacts, offer);
		wf.connect(offer, park, 1);
		return { sends: [offer], resumeInto: offer };
	});
	const offerSent = contactTrigger(
		wf,
		'On Offer Sent',
		[0, 4.3],
		eventTrigger('$email_sent', [{ path: 'campaignId', operator: 'equals', value: 'xmas-offer' }]),
	);
	const w = wait(wf, 'Wait 3 Days', [1, 4.3], 3, 'days');
	const bought = segmentFilter(wf, 'Bought?', [2, 4.3], filterRows([didAtLeast('purchase', 1, 7)]));
	const goal = recordGoal(wf, [3, 3.6], 'purchased');
	const opened = segmentFilter(
		wf,
		'Opened the Offer?',
		[3, 4.7],
		filterRows([{ type: 'email', emailOperator: 'opened', campaignId: 'xmas-offer', days: 0 }]),
	);
	const checkout = segmentFilter(
		wf,
		'Did Not Reach Checkout?',
		[4, 4.3],
		filterRows([didNot('page_viewed', 7, ['path', 'startsWith', '/checkout'])]),
	);
	const reminder = sendCampaign(wf, 'Send Reminder', [5, 4], {
		campaignId: 'xmas-reminder',
		campaignName: 'Christmas offer reminder',
		subject: 'Only a few days left for Christmas delivery',
		html: html(
			'Order by the 20th for delivery before Christmas: <a href="https://shop.example.com/christmas/toys">the toys</a>.',
		),
	});
	const reached = noOp(wf, 'Reached Checkout: No Reminder', [5, 4.8]);
	const dormant = contact(wf, 'Move to Dormant', [4, 5.3], {
		resource: 'tag',
		operation: 'add',
		...contactRef,
		tags: 'dormant',
		options: { createContact: false },
	});
	wf.chain(offerSent, w, bought);
	wf.connect(bought, goal, 0).connect(bought, opened, 1);
	wf.connect(opened, checkout, 0).connect(opened, dormant, 1);
	wf.connect(checkout, reminder, 0).connect(checkout, reached, 1);
	// The dormant-contact workflow: contacts tagged dormant (here or anywhere) get one last-chance mail.
	const onDormant = contactTrigger(wf, 'On Tagged Dormant', [0, 6.3], {
		mode: 'tagAdded',
		tags: 'dormant',
		options: {},
	});
	const lastChance = sendCampaign(wf, 'Send Dormant Win-Back', [1, 6.3], {
		campaignId: 'dormant-winback',
		campaignName: 'Dormant contacts win-back',
		subject: 'Should we stay in touch?',
		html: html(
			'We have not heard from you in a while. Tell us what you would like to receive: <a href="https://example.com/preferences">your preferences</a>.',
		),
	});
	wf.chain(onDormant, lastChance);
	return wf;
}

function lifecycle(): Workflow {
	const wf = new Workflow(
		'25-lifecycle-stages.json',
		'25 Lifecycle stages: lead, qualified lead, customer, loyal customer',
		'maExample25Life0',
	);
	note(
		wf,
		'Recipe 25: Lifecycle stage',
		'Keeps the lifecycle stage up to date, never moving a contact backwards: `form_submitted` makes a contact without a stage (or a `subscriber`) a `lead`; `demo_requested` makes a lead a `qualified_lead`; `purchase` makes a `customer`, and a `loyal_customer` from the 3rd purchase. Bottom: on the 1st of each month (or `POST /webhook/ma-run-loyal-perks`), loyal customers get the monthly perks mail: the stage used to target.',
		[
			'Event names to match your sources; stage changes also start recipes 8, 20 and 22.',
			'*Run Now* webhook has no authentication: protect or delete it in production.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
			PAGED_BROADCAST_NOTE,
		],
		['Start the perks mail with `POST /webhook/ma-run-loyal-perks`.'],
		8,
	);
	const stageUpsert = (name: string, cell: [number, number], stage: string) =>
		contact(wf, name, cell, {
			resource: 'contact',
			operation: 'upsert',
			contactId: '={{ $json.contactId }}',
			fieldsInput: 'fields',
			fieldsUi: {},
			additionalFields: { lifecycleStage: stage },
			options: { writeMode: 'update', source: 'lifecycle' },
		});
	const form = contactTrigger(wf, 'On Form Submitted', [0, 0], eventTrigger('form_submitted'));
	const noStage = segmentFilter(
		wf,
		'No Stage or Subscriber?',
		[1, 0],
		filterRows(
			[{ type: 'field', field: 'lifecycleStage', fieldOperator: 'notExists' }, stageIs('is', 'subscriber')],
			'or',
		),
	);
	const toLead = stageUpsert('Set Lead', [2, 0], 'lead');
	wf.chain(form, noStage, toLead);
	const demo = contactTrigger(wf, 'On Demo Requested', [0, 1], eventTrigger('demo_requested'));
	const isLead = segmentFilter(
		wf,
		'Lead (or No Stage)?',
		[1, 1],
		filterRows(
			[{ type: 'field', field: 'lifecycleStage', fieldOperator: 'notExists' }, stageIs('in', 'subscriber, lead')],
			'or',
		),
	);
	const toQualified = stageUpsert('Set Qualified Lead', [2, 1], 'qualified_lead');
	wf.chain(demo, isLead, toQualified);
	const purchase = contactTrigger(wf, 'On Purchase', [0, 2], eventTrigger('purchase'));
	const loyal = segmentFilter(wf, '3 Purchases or More?', [1, 2], filterRows([didAtLeast('purchase', 3)]));
	const toLoyal = stageUpsert('Set Loyal Customer', [2, 1.7], 'loyal_customer');
	const notLoyal = segmentFilter(
		wf,
		'Not Yet Customer?',
		[2, 2.4],
		filterRows([stageIs('notIn', 'customer, loyal_customer')]),
	);
	const toCustomer = stageUpsert('Set Customer', [3, 2.4], 'customer');
	wf.chain(purchase, loyal);
	wf.connect(loyal, toLoyal, 0).connect(loyal, notLoyal, 1);
	wf.connect(notLoyal, toCustomer, 0);
	const monthly = schedule(wf, 'Monthly on the 1st', [0, 3.4], {
		field: 'months',
		monthsInterval: 1,
		triggerAtDayOfMonth: 1,
		triggerAtHour: 10,
	});
	const now = webhookTrigger(wf, 'Run Now', [0, 4.4], 'ma-run-loyal-perks');
	const loyalList = {
		name: 'Loyal Customers',
		parameters: listRows([
			stageIs('is', 'loyal_customer'),
			{ type: 'subscription', memberOperator: 'is', value: 'subscribed' },
		]),
	};
	pagedBroadcast(wf, [monthly, now], [0, 3.4], loyalList, (contacts, park) => {
		const perks = sendCampaign(wf, 'Send Loyal Perks', [3, 5.4], {
			campaignId: "=loyal-perks-{{ $now.toFormat('yyyy-LL') }}",
			campaignName: 'Monthly loyal customer perks',
			subject: 'Your perks this month, {{ firstName | "friend" }}',
			html: html(
				'As one of our most loyal customers: free express delivery all month and early access to the new collection.',
			),
			deferred: 'handOff',
		});
		wf.chain(contacts, perks);
		wf.connect(perks, park, 1);
		return { sends: [perks], resumeInto: perks };
	});
	return wf;
}

function language(): Workflow {
	const wf = new Workflow(
		'26-language-targeting.json',
		"26 Language: newsletter in the contact's language",
		'maExample26Lang0',
	);
	note(
		wf,
		'Recipe 26: Language',
		"Every Thursday at 10:00 (or `POST /webhook/ma-run-newsletter`): every subscribed contact gets this week's newsletter in its language: field `language` starting with `de` gets the German edition, everyone else the English one. One campaign ID per edition and week.",
		[
			'Store the field `language` (e.g. `de`, `de-AT`, `en`). Add a Segment Filter per further language.',
			'*Run Now* webhook has no authentication: protect or delete it in production.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
			PAGED_BROADCAST_NOTE,
		],
		['Start with `POST /webhook/ma-run-newsletter`.'],
		6,
	);
	const weekly = schedule(wf, 'Every Thursday at 10:00', [0, 0], {
		field: 'weeks',
		weeksInterval: 1,
		triggerAtDay: [4],
		triggerAtHour: 10,
	});
	const now = webhookTrigger(wf, 'Run Now', [0, 1], 'ma-run-newsletter');
	const subscribed = {
		name: 'Subscribed Contacts',
		parameters: listRows([{ type: 'subscription', memberOperator: 'is', value: 'subscribed' }]),
	};
	pagedBroadcast(wf, [weekly, now], [0, 0], subscribed, (contacts, park) => {
		const german = segmentFilter(
			wf,
			'German?',
			[3, 2.4],
			filterRows([{ type: 'field', field: 'language', fieldOperator: 'startsWith', value: 'de', ignoreCase: true }]),
		);
		const de = sendCampaign(wf, 'Send German Edition', [4, 2], {
			campaignId: "=newsletter-{{ $now.toFormat('kkkk-WW') }}-de",
			campaignName: 'Newsletter (Deutsch)',
			subject: 'Neu diese Woche bei Example Shop',
			html: [
				'<p>Hallo {{ firstName | "zusammen" }},</p>',
				'<p>das ist neu diese Woche: <a href="https://shop.example.com/de/neu">unsere Neuheiten</a>.</p>',
				'<p>Ihr Example-Shop-Team</p>',
				'<p style="font-size:12px;color:#888"><a href="{{ unsubscribeUrl }}" data-ma-notrack>Abmelden</a></p>',
			].join('\n'),
			deferred: 'handOff',
		});
		const en = sendCampaign(wf, 'Send English Edition', [4, 2.8], {
			campaignId: "=newsletter-{{ $now.toFormat('kkkk-WW') }}-en",
			campaignName: 'Newsletter (English)',
			subject: 'New this week at Example Shop',
			html: html('Here is what is new this week: <a href="https://shop.example.com/new">new arrivals</a>.'),
			deferred: 'handOff',
		});
		// Deferred mail of either edition waits apart, then goes back through the language check.
		wf.connect(de, park, 1).connect(en, park, 1);
		wf.chain(contacts, german);
		wf.connect(german, de, 0).connect(german, en, 1);
		return { sends: [de, en], resumeInto: german };
	});
	return wf;
}

/**
 * Loop pair: the shared guard settings. The real fix is each workflow's own condition (never offer
 * what the contact has); the guard is the safety net: cycle detection and depth for events that
 * carry a workflow chain, at most 3 entries per contact a day for everything, site events included.
 */
const loopGuardParams: Params = {
	keyType: 'contact',
	scope: 'workflow',
	maxEntries: 3,
	window: 24,
	windowUnit: 'hours',
	options: { detectCycles: true, maxDepth: 5 },
};

const LOOP_BLOCKED_NOTE =
	"Blocked items leave on *Blocked* with `loopGuard.reason`: `cycle` (this workflow is already in the event's `$chain`), `maxDepth` (the chain is 5 workflows long) or `rateLimit` (a 4th entry within 24 hours, also for events from your site, which carry no chain).";

function loopA(): Workflow {
	const wf = new Workflow(
		'loop-a-newsletter-whitepaper.json',
		'Loop A: newsletter sign-up -> white paper; white paper -> discount (guarded)',
		'maExampleLoopA00',
	);
	note(
		wf,
		'The loop to prevent, workflow A (guarded)',
		'Newsletter sign-up → white-paper offer, unless the contact already downloaded it; white paper downloaded → discount. With *Loop B* (white paper downloaded → newsletter offer) a contact would go round and round. The fix is the condition in each workflow (never offer what the contact has); *Loop Guard* is the safety net for loops nobody foresaw. The *Contact Accepts* node stands for the contact downloading the white paper from the offer mail (it records the event with the chain); in production that event comes from your site: delete the node.',
		['Activate together with *Loop B*: no redundant offer, and no loop.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		['Loop Guard *Window* (24 hours) / *Max Entries* (3): keep; use a fresh contact per test.'],
		8,
		['', LOOP_BLOCKED_NOTE],
	);
	const trigger = contactTrigger(
		wf,
		'On Sign-Up or Download',
		[0, 0],
		eventTrigger('newsletter_signup, whitepaper_downloaded'),
	);
	const guard = loopGuard(wf, 'Loop Guard', [1, 0], loopGuardParams);
	const blocked = noOp(wf, 'Blocked: Loop Stopped', [2, 1.2]);
	const isSignup = ifNode(
		wf,
		'Newsletter Sign-Up?',
		[2, 0],
		'={{ $json.event.name }}',
		op.stringEquals,
		'newsletter_signup',
	);
	const hasIt = segmentFilter(
		wf,
		'Already Has the White Paper?',
		[3, -0.5],
		filterRows([didAtLeast('whitepaper_downloaded', 1)]),
	);
	const noOffer = noOp(wf, 'Has It: No Offer', [4, -1.3]);
	const offer = sendCampaign(wf, 'Send White-Paper Offer', [4, -0.5], {
		campaignId: 'loop-whitepaper-offer',
		campaignName: 'White-paper offer',
		subject: 'Your free white paper',
		html: html(
			'Thanks for joining the newsletter! <a href="https://example.com/whitepaper.pdf">Download the white paper</a>.',
		),
	});
	const accepts = contact(wf, 'Contact Accepts: White Paper Downloaded', [5, -0.5], {
		resource: 'event',
		operation: 'record',
		...contactRef,
		eventName: 'whitepaper_downloaded',
		properties: '={{ JSON.stringify({ via: "loop-a offer" }) }}',
		options: { source: 'loop-a' },
	});
	const discount = sendCampaign(wf, 'Send Discount', [3, 0.8], {
		campaignId: 'loop-discount',
		campaignName: 'Discount after the white paper',
		subject: 'Thanks for reading: 15% off',
		html: html('Thanks for downloading our white paper. Here is 15% off: <b>READ15</b>.'),
	});
	wf.chain(trigger, guard, isSignup);
	wf.connect(guard, blocked, 1);
	wf.connect(isSignup, hasIt, 0).connect(isSignup, discount, 1);
	wf.connect(hasIt, noOffer, 0).connect(hasIt, offer, 1);
	wf.chain(offer, accepts);
	return wf;
}

function loopB(): Workflow {
	const wf = new Workflow(
		'loop-b-whitepaper-newsletter.json',
		'Loop B: white paper -> newsletter offer, unless subscribed (guarded)',
		'maExampleLoopB00',
	);
	note(
		wf,
		'The loop to prevent, workflow B (guarded)',
		'White paper downloaded → newsletter offer, unless the contact is already on the newsletter (tag `newsletter`, or it signed up before): the condition that breaks the loop with *Loop A* (sign-up → white paper → newsletter → sign-up …). *Loop Guard* is the safety net. The *Contact Accepts* node stands for the contact joining the newsletter from the offer (it records `newsletter_signup` with the chain); in production the sign-up comes from your form: delete the node. Like every marketing mail, the offer goes only to contacts who gave their consent (status `subscribed`: the workspace policy, double opt-in by default).',
		['Activate together with *Loop A*.', CREDS_NOTE, SENDER_NOTE, TRACKING_NOTE],
		['Loop Guard *Window* (24 hours) / *Max Entries* (3): keep; use a fresh contact per test.'],
		7,
		['', LOOP_BLOCKED_NOTE],
	);
	const trigger = contactTrigger(wf, 'On White Paper Downloaded', [0, 0], eventTrigger('whitepaper_downloaded'));
	const guard = loopGuard(wf, 'Loop Guard', [1, 0], loopGuardParams);
	const blocked = noOp(wf, 'Blocked: Loop Stopped', [2, 1.2]);
	const subscribed = segmentFilter(
		wf,
		'Already Subscribed?',
		[2, 0],
		filterRows([{ type: 'tags', tagOperator: 'hasAny', tags: 'newsletter' }, didAtLeast('newsletter_signup', 1)], 'or'),
	);
	const noOffer = noOp(wf, 'Subscribed: No Offer', [3, -0.8]);
	const offer = sendCampaign(wf, 'Send Newsletter Offer', [3, 0], {
		campaignId: 'loop-newsletter-offer',
		campaignName: 'Newsletter offer',
		subject: 'Liked the white paper? Get our newsletter',
		html: html(
			'One e-mail a week with more of the same. <a href="https://example.com/newsletter">Join the newsletter</a>.',
		),
	});
	const accepts = contact(wf, 'Contact Accepts: Newsletter Sign-Up', [4, 0], {
		resource: 'event',
		operation: 'record',
		...contactRef,
		eventName: 'newsletter_signup',
		properties: '={{ JSON.stringify({ form: "loop-b offer" }) }}',
		options: { source: 'loop-b' },
	});
	wf.chain(trigger, guard, subscribed);
	wf.connect(guard, blocked, 1);
	wf.connect(subscribed, noOffer, 0).connect(subscribed, offer, 1);
	wf.chain(offer, accepts);
	return wf;
}

/**
 * GDPR art. 17 beyond the contact store: n8n's own executions keep the address in their data
 * (docs/privacy.md). Erases the contact, then deletes the executions whose data names it.
 */
/**
 * Journey analytics: every Monday, last week's report per journey and campaign (Contact > Journey >
 * Report) as an HTML page with charts, posted as a file to a mail or chat relay.
 */
function weeklyJourneyReport(): Workflow {
	const wf = new Workflow('analytics-weekly-report.json', 'Weekly journey report', 'maExampleJrnRep0');
	note(
		wf,
		'Weekly journey report',
		'Every Monday at 08:00: last week (Monday to Sunday, UTC) per journey (workflow) and per campaign: who entered, reached the goal, and what the mails did, as JSON and as an HTML page with charts (binary property `report`). The counters are kept as the events happen, so the report reads no contact (docs/analytics.md).',
		[
			`Replace \`${HOOKS}/weekly-report\` with where the page should go: a Slack file upload, or swap the HTTP Request for a Send Email node with the attachment \`report\`.`,
			'List journeys (workflow IDs) or campaigns in the Contact node to report on some only.',
			CREDS_NOTE,
		],
		['Run it by hand (Execute workflow): the range is the 7 days before today.'],
		6,
	);
	const monday = schedule(wf, 'Every Monday at 08:00', [0, 0], {
		field: 'weeks',
		weeksInterval: 1,
		triggerAtDay: [1],
		triggerAtHour: 8,
	});
	const report = contact(wf, 'Journey Report', [1, 0], {
		resource: 'journey',
		operation: 'report',
		from: "={{ $today.minus(7, 'days').toISODate() }}",
		to: "={{ $today.minus(1, 'days').toISODate() }}",
		html: true,
	});
	const post = wf.add('Post the Report', 'n8n-nodes-base.httpRequest', 4.2, [2, 0], {
		method: 'POST',
		url: `${HOOKS}/weekly-report`,
		sendBody: true,
		contentType: 'multipart-form-data',
		bodyParameters: { parameters: [{ parameterType: 'formBinaryData', name: 'file', inputDataFieldName: 'report' }] },
		options: {},
	});
	wf.chain(monday, report, post);
	return wf;
}

function gdprErase(): Workflow {
	const wf = new Workflow(
		'gdpr-erase.json',
		'GDPR erase: the contact and the executions that name it',
		'maExampleGdpr000',
	);
	// This run holds the address too: n8n keeps none of it when it succeeds.
	Object.assign(wf.settings, { saveDataSuccessExecution: 'none', saveManualExecutions: false });
	note(
		wf,
		'GDPR erase: contact and executions',
		'`POST /webhook/ma-gdpr-erase` with `{"email": "..."}` erases the contact from the contact store (every key, index and event naming it), then deletes every execution of this n8n whose data contains the address: finished, failed and waiting ones (a Welcome series waiting to resume ends with it). Successful runs of this workflow are not saved; a failed one is found and deleted by the next run.',
		[
			'*Erase Request* has no authentication: protect it (Header Auth) or call it only from inside your network.',
			'Credential **n8n API** (`ma-n8n-api`): an API key of this n8n (Settings > n8n API) and its base URL, e.g. `http://localhost:5678/api/v1`.',
			'Contacts whose ID is not their e-mail: also search for the ID in *Executions Naming the Contact*, if it is long enough not to match unrelated executions.',
			'Keep execution data short-lived anyway (`EXECUTIONS_DATA_PRUNE=true`, `EXECUTIONS_DATA_MAX_AGE` in hours): see docs/privacy.md. Fewer executions also keep *Find Executions* fast, since it reads them all with their data.',
			CREDS_NOTE,
		],
		[],
		7,
	);
	const request = webhookTrigger(wf, 'Erase Request', [0, 0], 'ma-gdpr-erase');
	const erase = contact(wf, 'Erase Contact', [1, 0], {
		resource: 'contact',
		operation: 'erase',
		identifyBy: 'email',
		email: '={{ $json.body.email }}',
	});
	const find = n8nExecutions(wf, 'Find Executions', [2, 0], {
		operation: 'getAll',
		returnAll: true,
		filters: {},
		options: { activeWorkflows: true },
	});
	const match = code(
		wf,
		'Executions Naming the Contact',
		[3, 0],
		[
			"const email = String($('Erase Request').first().json.body.email).trim().toLowerCase();",
			'return $input.all()',
			'  .filter((item) => String(item.json.id) !== String($execution.id) && JSON.stringify(item.json).toLowerCase().includes(email))',
			'  .map((item) => ({ json: { executionId: item.json.id, workflowId: item.json.workflowId, status: item.json.status } }));',
		].join('\n'),
	);
	const remove = n8nExecutions(wf, 'Delete Execution', [4, 0], {
		operation: 'delete',
		executionId: '={{ $json.executionId }}',
	});
	wf.chain(request, erase, find, match, remove);
	return wf;
}

/**
 * Double opt-in: a sign-up (`newsletter_optin_requested`) becomes "pending", the confirmation mail carries the signed {{ confirmUrl }},
 * the Marketing Webhook Trigger's confirm page turns the contact "subscribed", and that change starts
 * the welcome mail under the workspace send policy (Deferred -> Wait until sendAt -> send again).
 */
function doubleOptIn(): Workflow {
	const wf = new Workflow(
		'gdpr-double-opt-in.json',
		'Double opt-in: confirmation mail, then welcome',
		'maExampleDoi0000',
	);
	note(
		wf,
		'Double opt-in: confirmation mail, then welcome',
		'On `newsletter_optin_requested` from a contact not yet subscribed: records the sign-up as **pending** and sends the confirmation mail (transactional: it goes whatever the consent, also at night). Its link `{{ confirmUrl }}` opens a page of *00 Marketing Webhook* with a button: opening the link changes nothing (link scanners open it too), the button confirms, keeps the proof (time, IP, browser) and turns the contact **subscribed**. That change starts the welcome mail. Under the workspace send policy (Contact node > Workspace Policy; double opt-in by default) pending contacts get no marketing mail, so nothing reaches them before they confirm. Mails the policy holds (quiet hours, frequency cap) leave on *Deferred* with `sendAt`; their *Wait Until sendAt* node sends them then.',
		[
			'Record `newsletter_optin_requested` from your sign-up form; `properties.form` becomes the consent source. (Recipe 4 does the same for `newsletter_signup`, with a welcome series: use one of the two for a form.)',
			'Keep *00 Marketing Webhook* active: it serves the confirmation page (`…/confirm/…`). A link works 7 days (its *Confirmation Link Validity*).',
			'Set the workspace policy once (Contact node > Workspace Policy > Set): quiet hours, fallback zone, frequency cap.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
		],
		['Nothing time-dependent; a deferred mail waits until its `sendAt`.'],
		9,
	);
	const signup = contactTrigger(wf, 'On Opt-In Request', [0, 0], eventTrigger('newsletter_optin_requested'));
	const already = alreadySubscribed(wf, [1, 0]);
	const pending = recordPendingSignUp(wf, [2, 0]);
	const confirmMail = sendCampaign(wf, 'Send Confirmation Mail', [3, 0], {
		campaignId: 'double-opt-in-confirmation',
		campaignName: 'Please confirm your subscription',
		subject: 'Please confirm your subscription',
		html: html(
			'Please confirm that you want our newsletter: <a href="{{ confirmUrl }}">Yes, subscribe me</a>.',
			'<p>If you did not sign up, ignore this mail: you will get nothing else from us.</p>',
		),
		// A mail the person asked for: allowed before consent; sent again for a repeated sign-up.
		options: { transactional: true, allowResend: true },
	});
	wf.chain(signup, already);
	wf.connect(already, pending, 1);
	wf.chain(pending, confirmMail);

	const confirmed = contactTrigger(
		wf,
		'On Confirmation',
		[0, 3],
		eventTrigger('$subscription_changed', [
			{ path: 'to', operator: 'equals', value: 'subscribed' },
			{ path: 'from', operator: 'equals', value: 'pending' },
			// This recipe's own confirmations (recipe 4 has its own welcome series).
			{ path: 'source', operator: 'equals', value: 'double-opt-in:double-opt-in-confirmation' },
		]),
	);
	const welcome = sendCampaign(wf, 'Send Welcome', [1, 3], {
		campaignId: 'double-opt-in-welcome',
		campaignName: 'Welcome',
		subject: 'Welcome, {{ firstName | "there" }}: you are subscribed',
		html: html('Thanks for confirming! Every Thursday you get one short e-mail from us.'),
	});
	wf.chain(confirmed, welcome);
	return wf;
}

/** Adds POLICY_NOTE to the Configure list of every example that sends mail. */
function withPolicyNote(wf: Workflow): Workflow {
	if (!wf.nodes.some((n) => n.type.endsWith('.sendCampaign'))) return wf;
	const sticky = wf.nodes.find((n) => n.name === 'Sticky Note');
	if (!sticky) throw new Error(`${wf.file}: no sticky note`);
	const lines = String(sticky.parameters.content).split('\n');
	lines.splice(lines.indexOf('**Short windows for a test**') - 1, 0, `- ${POLICY_NOTE}`);
	sticky.parameters.content = lines.join('\n');
	return wf;
}

/**
 * A/B test with a holdout and a rest (lib/experiments, docs/experiments.md): two subjects on half
 * of the list, 10 % get no mail, and the other 40 % get the winning subject a day later.
 */
function abTestNewsletter(): Workflow {
	const wf = new Workflow(
		'ab-test-newsletter.json',
		'A/B test: newsletter subject with a holdout',
		'maExampleAbTest01',
	);
	note(
		wf,
		'A/B test: newsletter subject, with a holdout',
		"Every Monday at 9:00 (or `POST /webhook/ma-run-ab-newsletter`): every subscribed contact is split by *A/B Split* into variant A (25 %), B (25 %), the holdout (10 %, no mail) or the rest (40 %). The split is the same on every run: a contact keeps its variant, and a rerun sends nobody a second mail. A `purchase` within 7 days of the split is a conversion. The rest is handed off like deferred mail (*Park Deferred Mail*: in an execution of its own, it waits until its `sendAt`, the decision time) and goes back through *A/B Split*, which decides the winner once, 24 hours after the test's first split, by conversion rate, and sends the rest out of the winner's output (campaign `<test ID>:rest`). `POST /webhook/ma-ab-newsletter-report` answers with the report: per variant assigned, sent, opened, clicked, conversions, uplift against the holdout and whether it is significant, in plain words, and the winner decision with its reason.",
		[
			'*Test ID*, variants and weights on *A/B Split* (*Report* lists the same variants). Each variant mails under its own campaign ID, `<test ID>:<variant>`, so Send Campaign counts each one apart.',
			'The goal event (`purchase`, or `$goal_reached` from *Record Goal Reached*) and its window.',
			'*Rest (%)*, *Decide Winner After (Hours)* and *Pick Winner By* (conversion, click or open rate): fixed when the test starts. On a tie or without data the first listed variant wins; the reason is in the report.',
			'Both webhooks have no authentication: protect or delete them in production.',
			CREDS_NOTE,
			SENDER_NOTE,
			TRACKING_NOTE,
			PAGED_BROADCAST_NOTE,
		],
		[],
		9,
	);
	const cron = schedule(wf, 'Every Monday at 9:00', [0, 0], { field: 'cronExpression', expression: '0 9 * * 1' });
	const now = webhookTrigger(wf, 'Run Now', [0, 1], 'ma-run-ab-newsletter');
	const subscribed = {
		name: 'Subscribed Contacts',
		parameters: listRows([{ type: 'subscription', memberOperator: 'is', value: 'subscribed' }]),
	};
	const variants = {
		variant: [
			{ name: 'A', weight: 25 },
			{ name: 'B', weight: 25 },
		],
	};
	pagedBroadcast(wf, [cron, now], [0, 0], subscribed, (contacts, park) => {
		const split = abSplit(wf, 'A/B Split', [3, 2.4], {
			operation: 'split',
			testId: 'newsletter-subject',
			contactId: '={{ $json.contact?.id ?? $json.contactId ?? $json.id }}',
			variants,
			holdout: 10,
			rest: 40,
			decideAfterHours: 24,
			winnerMetric: 'conversion',
			goal: 'purchase',
			windowDays: 7,
		});
		const body = html('This week: <a href="https://shop.example.com/new">what is new in the shop</a>.');
		const mail = (subject: string) => ({
			campaignId: '={{ $json.experiment.campaignId }}',
			campaignName: '={{ "Newsletter subject test, variant " + $json.experiment.variant }}',
			subject,
			html: body,
			options: { trackOpens: true, trackClicks: true },
			deferred: 'handOff' as const,
		});
		const sendA = sendCampaign(wf, 'Send Variant A', [4, 1.8], mail('New this week at Example Shop'));
		const sendB = sendCampaign(
			wf,
			'Send Variant B',
			[4, 2.6],
			mail('{{ firstName | "You" }}, 3 new things we think you will like'),
		);
		const holdout = noOp(wf, 'Holdout: No Mail', [4, 3.4]);
		wf.chain(contacts, split);
		wf.connect(split, sendA, 0).connect(split, sendB, 1).connect(split, holdout, 2);
		// Deferred mail of either variant waits apart and goes back through the split, which gives each
		// contact the variant it already has. So does the rest (its items carry sendAt, the decision
		// time): back in the split after the decision, it leaves by the winner's output.
		wf.connect(sendA, park, 1).connect(sendB, park, 1).connect(split, park, 3);
		return { sends: [sendA, sendB], resumeInto: split };
	});
	const reportNow = webhookTrigger(wf, 'Report Now', [0, 4.4], 'ma-ab-newsletter-report', 'lastNode');
	const report = abSplit(wf, 'A/B Test Report', [1, 4.4], {
		operation: 'report',
		testId: 'newsletter-subject',
		variants,
	});
	wf.chain(reportNow, report);
	return wf;
}

/** Rows per chunk of the CSV import: one sub-workflow execution (and its memory) holds this many. */
const CSV_ROWS_PER_CHUNK = 10000;
const CSV_CHUNK_WORKFLOW_ID = 'maExampleCsvChnk';
/** The chunk's loop state, carried from chunk to chunk (file, header, position, running totals). */
const CSV_STATE = "$('Chunk to Import').first().json";
const csvMemoryNote = [
	'',
	"**Memory stays bounded, whatever the file size**: an n8n execution keeps every node's output until it ends, so one execution never holds more than one chunk. This workflow only loops over chunk numbers; each chunk is a separate execution of *Import Contacts from CSV: One Chunk* (reads the file, extracts its chunk with *Starting Line* / *Max Rows*, upserts it in batches) that returns one summary item. The parent keeps one small item per chunk.",
];

/**
 * A CSV import of any size: the parent loops over chunk numbers and calls the chunk workflow per
 * chunk; each chunk's rows live only in that sub-execution, which returns a one-item summary.
 */
function csvImport(): Workflow {
	const wf = new Workflow('import-csv.json', 'Import contacts from a CSV file (any size)', 'maExampleCsvImpt');
	note(
		wf,
		'Import contacts from a CSV file, any size, in chunks',
		'`POST …/webhook/ma-csv-import` with `{"filePath": "/home/node/.n8n-files/contacts.csv"}` (optional `"rowsPerChunk"`, default 10,000) imports the file: each chunk of rows is upserted by *Import Contacts from CSV: One Chunk* (one Redis round trip per batch). Rows the store refuses (bad e-mail, unknown time zone...) are counted, and listed with their line number and error in the output of *Import One Chunk* for their chunk; the good rows are imported. *Import Report* has the totals. Importing the same file again changes nothing (an upsert per row).',
		[
			'The file must be readable by n8n: in its allowed folder (`N8N_RESTRICT_FILE_ACCESS_TO`, default `~/.n8n-files`), binary data in `filesystem` mode (the default outside queue mode). The first line names the columns; a field must not contain a line break (a chunk starts at a line number).',
			'Columns: map them in *Name Columns* of the chunk workflow (file column -> contact key), types of fields in *Upsert Contacts* > Field Types (here: `id` (the CRM ID; empty: the e-mail finds the contact), `email`, `timezone`, `stage`, `consent`, `firstName`, `lastName`, `city`, `employees` (number), `signupDate` (date), `tags` separated by `;`).',
			'The webhook answers at once; protect it (Webhook > Authentication) or keep it unpublished and run it from the editor.',
			CREDS_NOTE,
		],
		['`rowsPerChunk` in the request: a small file with a few rows per chunk runs several chunks.'],
		8,
		csvMemoryNote,
	);
	const start = webhookTrigger(wf, 'Start Import', [0, 0], 'ma-csv-import');
	const settings = wf.add('Import Settings', 'n8n-nodes-base.set', 3.4, [1, 0], {
		assignments: {
			assignments: [
				{
					id: stableId('import-csv.json/settings/0'),
					name: 'filePath',
					value: '={{ $json.body.filePath }}',
					type: 'string',
				},
				{
					id: stableId('import-csv.json/settings/1'),
					name: 'rowsPerChunk',
					value: `={{ $json.body.rowsPerChunk ?? ${CSV_ROWS_PER_CHUNK} }}`,
					type: 'number',
				},
			],
		},
		options: {},
	});
	const read = readFile(wf, 'Read CSV File', [2, 0], '={{ $json.filePath }}');
	// Only the header line: the chunks read their rows without it (see the chunk workflow).
	const header = extractCsv(wf, 'Read Header Line', [3, 0], { headerRow: false, maxRowCount: 1 });
	const first = wf.add('Start at Chunk 0', 'n8n-nodes-base.set', 3.4, [4, 0], {
		mode: 'raw',
		jsonOutput:
			"={{ { filePath: $('Import Settings').first().json.filePath, rowsPerChunk: $('Import Settings').first().json.rowsPerChunk, columns: $json.row, chunk: 0, imported: 0, failed: 0 } }}",
		options: {},
	});
	const importChunk = wf.add('Import One Chunk', 'n8n-nodes-base.executeWorkflow', 1.2, [5, 0], {
		source: 'database',
		workflowId: { __rl: true, mode: 'id', value: CSV_CHUNK_WORKFLOW_ID },
		workflowInputs: {
			mappingMode: 'defineBelow',
			value: {},
			matchingColumns: [],
			schema: [],
			attemptToConvertTypes: false,
			convertFieldsToString: true,
		},
		mode: 'once',
		options: { waitForSubWorkflow: true },
	});
	// A full chunk may have rows after it; a short (or empty) one was the last.
	const more = ifNode(wf, 'More Rows?', [6, 0], '={{ $json.chunkRows >= $json.rowsPerChunk }}', op.isTrue, '');
	const next = wf.add('Next Chunk', 'n8n-nodes-base.set', 3.4, [6, 1], {
		mode: 'raw',
		jsonOutput:
			'={{ { filePath: $json.filePath, rowsPerChunk: $json.rowsPerChunk, columns: $json.columns, chunk: $json.chunk + 1, imported: $json.imported, failed: $json.failed } }}',
		options: {},
	});
	const report = wf.add('Import Report', 'n8n-nodes-base.set', 3.4, [7, 0], {
		mode: 'raw',
		jsonOutput:
			'={{ { filePath: $json.filePath, chunks: $json.chunk + 1, rows: $json.imported + $json.failed, imported: $json.imported, failed: $json.failed } }}',
		options: {},
	});
	wf.chain(start, settings, read, header, first, importChunk, more);
	wf.connect(more, next, 0);
	wf.connect(next, importChunk);
	wf.connect(more, report, 1);
	return wf;
}

/** One chunk of the CSV import: rows chunk*N+1 ... (chunk+1)*N of the file, upserted, summarized in one item. */
function csvImportChunk(): Workflow {
	const wf = new Workflow('import-csv-chunk.json', 'Import Contacts from CSV: One Chunk', CSV_CHUNK_WORKFLOW_ID);
	wf.settings.saveDataSuccessExecution = 'none';
	note(
		wf,
		'Import Contacts from CSV: One Chunk (called by the CSV import)',
		"Called by *Import contacts from a CSV file* once per chunk, with the loop state (`filePath`, `rowsPerChunk`, `columns`, `chunk`, running totals). Reads the file, extracts only this chunk's rows (*Starting Line* = 2 + chunk × rowsPerChunk, *Max Rows* = rowsPerChunk, no header row: with a header row the starting line itself would be taken as the header), names their columns from the header and turns them into contact keys (*Name Columns*, one Code run for the chunk), upserts them (*Upsert Contacts*, Contact Data: Map Automatically, so no expression is evaluated per row; one Redis round trip per batch) and returns one item: the state with `chunkRows`, the new totals and `rejected` (line, e-mail and error of each row the store refused). *Upsert Contacts* continues on failure, so one bad row does not stop its chunk.",
		[
			'Map your columns in *Name Columns* (`RENAME`: file column -> contact key) and the types of fields that come as text in *Upsert Contacts* > Field Types.',
			"Successful executions are not saved (workflow settings): each would hold its chunk's rows. Failed ones are.",
			CREDS_NOTE,
		],
		['Nothing time-dependent; a test file with a small `rowsPerChunk` runs several chunks.'],
		8,
		csvMemoryNote
			.slice(0, 1)
			.concat([
				"**Memory**: this execution holds one chunk (its rows, their contacts) and ends before the next chunk starts: n8n's memory is bounded by the chunk size, not the file size. Parsing skips the lines before the chunk without keeping them.",
			]),
	);
	const trigger = wf.add('Chunk to Import', 'n8n-nodes-base.executeWorkflowTrigger', 1.1, [0, 0], {
		inputSource: 'passthrough',
	});
	const read = readFile(wf, 'Read CSV File', [1, 0], `={{ ${CSV_STATE}.filePath }}`);
	const rows = extractCsv(
		wf,
		'Extract Chunk Rows',
		[2, 0],
		{
			headerRow: false,
			fromLine: `={{ 2 + ${CSV_STATE}.chunk * ${CSV_STATE}.rowsPerChunk }}`,
			maxRowCount: `={{ ${CSV_STATE}.rowsPerChunk }}`,
		},
		// Past the last line it finds no row: one empty item then, so that the chunk still reports.
		{ alwaysOutputData: true },
	);
	// One run for the whole chunk (not an expression per row): names the cells from the header and
	// turns the file's columns into the keys Upsert Contacts maps automatically. One item out.
	const named = code(
		wf,
		'Name Columns',
		[3, 0],
		[
			"const { columns } = $('Chunk to Import').first().json;",
			'// Column of the file -> key of the contact. Upsert Contacts (Map Automatically) reads id, email,',
			'// timezone, lifecycleStage, subscriptionStatus, consentSource and tags; every other key is a field.',
			"const RENAME = { stage: 'lifecycleStage', consent: 'subscriptionStatus' };",
			'const keys = columns.map((name) => RENAME[name] ?? name);',
			'const rows = [];',
			'for (const { json } of $input.all()) {',
			'  // Past the last line, Extract Chunk Rows gives one empty item.',
			'  if (!Array.isArray(json.row)) continue;',
			'  const contact = {};',
			'  keys.forEach((key, i) => (contact[key] = json.row[i]));',
			"  contact.tags = contact.tags ? contact.tags.split(';') : [];",
			"  contact.consentSource = 'csv import';",
			'  rows.push(contact);',
			'}',
			'return [{ json: { rows } }];',
		].join('\n'),
	);
	const any = ifNode(wf, 'Any Rows?', [4, 0], '={{ $json.rows.length > 0 }}', op.isTrue, '');
	const split = wf.add('One Item per Row', 'n8n-nodes-base.splitOut', 1, [5, 0], {
		fieldToSplitOut: 'rows',
		options: {},
	});
	const upsert = contact(
		wf,
		'Upsert Contacts',
		[6, 0],
		{
			resource: 'contact',
			operation: 'upsert',
			// The keys of each row set the contact: no expression evaluated per row.
			mappingMode: 'autoMapInputData',
			fieldTypes: {
				field: [
					{ name: 'employees', type: 'number' },
					{ name: 'signupDate', type: 'date' },
				],
			},
			options: { source: 'csv-import' },
		},
		// A refused row comes out with `error` in its place; the rest of the chunk goes on.
		{ onError: 'continueRegularOutput' },
	);
	// Runs once over the chunk: Upsert Contacts answers each row in order, failed rows with `error`.
	const summary = wf.add(
		'Chunk Summary',
		'n8n-nodes-base.set',
		3.4,
		[7, 0],
		{
			mode: 'raw',
			jsonOutput: `={{ (() => { const state = ${CSV_STATE}; const results = $input.all(); const rows = $('One Item per Row').all(); const fromLine = 2 + state.chunk * state.rowsPerChunk; const rejected = results.flatMap((r, i) => r.json.error ? [{ line: fromLine + i, email: rows[i].json.email, error: r.json.error }] : []); return { ...state, chunkRows: results.length, imported: state.imported + results.length - rejected.length, failed: state.failed + rejected.length, rejected }; })() }}`,
			options: {},
		},
		{ executeOnce: true },
	);
	const none = wf.add('No Rows Left', 'n8n-nodes-base.set', 3.4, [5, 1], {
		mode: 'raw',
		jsonOutput: `={{ { ...${CSV_STATE}, chunkRows: 0, rejected: [] } }}`,
		options: {},
	});
	wf.chain(trigger, read, rows, named, any, split, upsert, summary);
	wf.connect(any, none, 1);
	return wf;
}

/** Read/Write Files: the file at `filePath` (an expression) into the binary property `data`. */
function readFile(wf: Workflow, name: string, cell: [number, number], filePath: string): string {
	return wf.add(name, 'n8n-nodes-base.readWriteFile', 1, cell, { fileSelector: filePath, options: {} });
}

/** Extract from File, CSV: rows as arrays under `row` when headerRow is false (empty cells kept, so indexes hold). */
function extractCsv(
	wf: Workflow,
	name: string,
	cell: [number, number],
	options: Params,
	extra: Partial<WorkflowNode> = {},
): string {
	return wf.add(
		name,
		'n8n-nodes-base.extractFromFile',
		1,
		cell,
		{ operation: 'csv', options: { includeEmptyCells: true, ...options } },
		extra,
	);
}

export function buildAll(): Workflow[] {
	return [
		marketingWebhook(),
		birthday(),
		anniversary(),
		drip(),
		welcome(),
		abandonedCart(),
		webinar(),
		lostOpportunity(),
		onboarding(),
		projectSurvey(),
		pricingVisit(),
		leadMagnet(),
		freeTrial(),
		engagementTiers(),
		inactiveCustomer(),
		repermission(),
		reactivationReaction(),
		remarketing(),
		topicSeries(),
		nps(),
		referral(),
		hotLead(),
		enrichment(),
		bookshop(),
		seasonal(),
		lifecycle(),
		language(),
		loopA(),
		loopB(),
		gdprErase(),
		doubleOptIn(),
		abTestNewsletter(),
		weeklyJourneyReport(),
		csvImport(),
		csvImportChunk(),
	].map(withPolicyNote);
}

export function serialize(wf: Workflow): string {
	return `${JSON.stringify(wf.toJSON(), null, 2)}\n`;
}

if (require.main === module) {
	mkdirSync(EXAMPLES_DIR, { recursive: true });
	const workflows = buildAll();
	const names = new Set(workflows.map((w) => w.file));
	for (const file of readdirSync(EXAMPLES_DIR))
		if (file.endsWith('.json') && !names.has(file)) unlinkSync(join(EXAMPLES_DIR, file));
	for (const wf of workflows) writeFileSync(join(EXAMPLES_DIR, wf.file), serialize(wf));
	console.log(`wrote ${workflows.length} workflows to ${EXAMPLES_DIR}`);
}
