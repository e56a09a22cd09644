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
	'05-abandoned-cart': 'cart',
	'13-engagement-tiers': 'tiers',
	'14-inactive-customer-reactivation': 'tiers',
	'19-nps-split': 'nps',
	'21-hot-lead': 'hotlead',
	'22-lead-enrichment': 'enrichment',
	'23-bookshop-author-recommendation': 'bookshop',
	'loop-a-newsletter-whitepaper': 'loop',
	'loop-b-whitepaper-newsletter': 'loop',
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
};

const PER_RECIPE: Record<string, Tweak> = {
	'05-abandoned-cart': (wf) => setWait(wf, 'Wait 4 Hours', SECONDS.cartWait),
	'13-engagement-tiers': (wf) => {
		node(wf, 'Tier Contacts').parameters.boundaryDays = SECONDS.tierBoundaryDays;
	},
	'15-re-permission': (wf) => {
		for (const c of node(wf, 'Not Opened for 6 Months').parameters.conditions.condition) {
			if (c.fieldDays !== undefined) c.fieldDays = SECONDS.repermissionDays;
			if (c.days !== undefined) c.days = SECONDS.repermissionDays;
		}
		setWait(wf, 'Wait 30 Days', SECONDS.repermissionWait);
	},
	'17-remarketing-audience': (wf) => setWait(wf, 'Wait 3 Days', SECONDS.remarketingWait),
	'24-seasonal-campaign': (wf) => setWait(wf, 'Wait 3 Days', SECONDS.seasonalWait),
};

export function tweakWorkflow(slug: string, wf: Workflow, ctx: { sinkUrl: string }): void {
	shortenWaits(wf);
	httpToSink(wf, ctx.sinkUrl, slug);
	PER_RECIPE[slug]?.(wf, ctx);
}
