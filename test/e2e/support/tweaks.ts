/**
 * Shortens an example workflow's time windows to seconds by editing its parameter values before
 * import (what the sticky notes tell a user to configure), and points outbound HTTP at the local
 * sink. Generic rules first, then per-recipe edits keyed by the file's slug.
 */
import type { Workflow } from './prepare';

type Node = Workflow['nodes'][number];
type Tweak = (wf: Workflow, ctx: { sinkUrl: string }) => void;

const LONG_UNITS = new Set(['minutes', 'hours', 'days', 'weeks', 'months']);

/** Wait nodes: "N days" becomes at most 3 seconds, so a series runs in seconds. */
function shortenWaits(wf: Workflow): void {
	for (const n of wf.nodes) {
		if (n.type !== 'n8n-nodes-base.wait') continue;
		const p = n.parameters;
		if (LONG_UNITS.has(p.unit)) {
			p.unit = 'seconds';
			p.amount = Math.min(Number(p.amount ?? 1), 3);
		}
	}
}

function setWait(wf: Workflow, name: string, seconds: number): void {
	const n = wf.nodes.find((x) => x.name === name);
	if (!n || n.type !== 'n8n-nodes-base.wait') throw new Error(`${wf.name}: no Wait node "${name}"`);
	n.parameters.unit = 'seconds';
	n.parameters.amount = seconds;
}

function node(wf: Workflow, name: string): Node {
	const n = wf.nodes.find((x) => x.name === name);
	if (!n) throw new Error(`${wf.name}: no node "${name}"`);
	return n;
}

/** HTTP Request nodes post to the local sink instead of a CRM / Slack / ads API. */
function httpToSink(wf: Workflow, sinkUrl: string, slug: string): void {
	for (const n of wf.nodes) {
		if (n.type === 'n8n-nodes-base.httpRequest') n.parameters.url = `${sinkUrl}/${slug}/${encodeURIComponent(n.name)}`;
	}
}

/**
 * Recipes with an end-to-end test, each with a key prefix (and hub copy) of its own; several
 * slugs with the same group name share one (the loop pair, tiers and the inactive mail).
 * Recipes whose test needs tracking hits (unsubscribe, opens, clicks) stay on the shared prefix
 * and the original hub: n8n 2.41 serves the dynamic tracking paths (u/:token, t/o/:token...) of
 * only one Marketing Webhook Trigger per instance (see the node's comment).
 */
export const ISOLATED: Record<string, string> = {
	'fixture-pipeline': 'pipeline',
	'01-birthday': 'birthday',
	'02-customer-anniversary': 'anniversary',
	'03-drip-series': 'drip',
	'05-abandoned-cart': 'cart',
	'06-webinar': 'webinar',
	'07-lost-opportunity-nurture': 'lost',
	'08-customer-onboarding': 'onboarding',
	'09-project-survey': 'survey',
	'10-pricing-page-alert': 'pricing',
	'11-lead-magnet-series': 'magnet',
	'12-free-trial': 'trial',
	'13-engagement-tiers': 'tiers',
	'14-inactive-customer-reactivation': 'tiers',
	'15-re-permission': 'repermission',
	'18-topic-series': 'topics',
	'19-nps-split': 'nps',
	'20-referral-reward': 'referral',
	'21-hot-lead': 'hotlead',
	'22-lead-enrichment': 'enrichment',
	'23-bookshop-author-recommendation': 'bookshop',
	'25-lifecycle-stages': 'lifecycle',
	'26-language-targeting': 'language',
	'loop-a-newsletter-whitepaper': 'loop',
	'loop-b-whitepaper-newsletter': 'loop',
	'ab-test-newsletter': 'abtest',
};

/** Windows in seconds, as the sticky notes of each example describe. */
export const SECONDS = {
	cartWait: 8,
	// Engagement boundaries 0.0001 and 0.0002 days: about 8.6 s and 17.3 s of inactivity.
	tierBoundaryDays: '0.0001, 0.0002',
	repermissionDays: 0.0001,
	repermissionWait: 15,
	seasonalWait: 14,
	remarketingWait: 8,
	/** Series with a goal or an unsubscribe on the way (3, 7, 11, 12): the Waits between mails, long enough for a goal event sent after a mail to land first. */
	goalWait: 6,
	/** Webinar Timing, in minutes before / after `startsAt` (the test registers for 40 s ahead), as the note says. */
	webinar: { dayReminderMinutes: 0.5, hourReminderMinutes: 0.25, surveyAfterMinutes: 0.2 },
	/** The A/B test's Decide Winner After: long enough to split 2,000 contacts and record goal events first. */
	abTestDecide: 75,
};

/** Broadcast audiences list this many contacts per page in the test copy, so every test base spans pages. */
export const TEST_PAGE_SIZE = 2;

function smallPages(wf: Workflow): void {
	for (const n of wf.nodes)
		if (n.type.endsWith('.segmentFilter') && n.parameters.mode === 'segment') n.parameters.pageSize = TEST_PAGE_SIZE;
}

function setWaits(wf: Workflow, seconds: number): void {
	for (const n of wf.nodes) if (n.type === 'n8n-nodes-base.wait' && n.parameters.unit) setWait(wf, n.name, seconds);
}

const PER_RECIPE: Record<string, Tweak> = {
	'05-abandoned-cart': (wf) => setWait(wf, 'Wait 4 Hours', SECONDS.cartWait),
	'06-webinar': (wf) => {
		for (const a of node(wf, 'Timing').parameters.assignments.assignments)
			a.value = SECONDS.webinar[a.name as keyof typeof SECONDS.webinar];
	},
	'03-drip-series': (wf) => setWaits(wf, SECONDS.goalWait),
	'07-lost-opportunity-nurture': (wf) => setWaits(wf, SECONDS.goalWait),
	'11-lead-magnet-series': (wf) => setWaits(wf, SECONDS.goalWait),
	'12-free-trial': (wf) => setWaits(wf, SECONDS.goalWait),
	'13-engagement-tiers': (wf) => {
		node(wf, 'Tier Contacts').parameters.boundaryDays = SECONDS.tierBoundaryDays;
	},
	'15-re-permission': (wf) => {
		for (const c of node(wf, 'Not Opened for 6 Months').parameters.conditions.condition) {
			if (c.fieldDays !== undefined) c.fieldDays = SECONDS.repermissionDays;
			if (c.days !== undefined) c.days = SECONDS.repermissionDays;
		}
		setWait(wf, 'Wait 30 Days', SECONDS.repermissionWait);
		smallPages(wf);
	},
	'17-remarketing-audience': (wf) => setWait(wf, 'Wait 3 Days', SECONDS.remarketingWait),
	'24-seasonal-campaign': (wf) => {
		setWait(wf, 'Wait 3 Days', SECONDS.seasonalWait);
		smallPages(wf);
	},
	'25-lifecycle-stages': smallPages,
	'26-language-targeting': smallPages,
	'ab-test-newsletter': (wf) => {
		node(wf, 'A/B Split').parameters.decideAfterHours = SECONDS.abTestDecide / 3600;
	},
};

/**
 * The e2e test site (browser.e2e.test.ts serves its pages there), on loopback like n8n: Chromium
 * refuses requests from a page it counts as public to a loopback address.
 */
export const E2E_SITE_PORT = 8765;
export const E2E_SITE_ORIGIN = `http://127.0.0.1:${E2E_SITE_PORT}`;
/** Requests per visitor and minute in the test copy, so that a flood is a few requests. */
export const E2E_VISITOR_RATE = 6;

/** Browser events from the test site only. */
function browserSite(wf: Workflow): void {
	for (const n of wf.nodes)
		if (n.parameters.browserEvents)
			n.parameters.browserEvents = {
				...n.parameters.browserEvents,
				allowedOrigins: E2E_SITE_ORIGIN,
				perVisitorPerMinute: E2E_VISITOR_RATE,
			};
}

export function tweakWorkflow(slug: string, wf: Workflow, ctx: { sinkUrl: string }): void {
	browserSite(wf);
	shortenWaits(wf);
	httpToSink(wf, ctx.sinkUrl, slug);
	PER_RECIPE[slug]?.(wf, ctx);
}
