/**
 * Shortens an example workflow's time windows to seconds by editing its parameter values before
 * import (what the sticky notes tell a user to configure), and points outbound HTTP at the local
 * sink. Generic rules first, then per-recipe edits keyed by the file's slug.
 */
import type { Workflow } from './prepare';

type Node = Workflow['nodes'][number];
type Tweak = (wf: Workflow, ctx: { sinkUrl: string }) => void;

const LONG_UNITS = new Set(['minutes', 'hours', 'days', 'weeks', 'months']);

/** Wait nodes: "N days" becomes "N seconds" (capped), so a series runs in seconds. */
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

/** HTTP Request nodes post to the local sink instead of a CRM / Slack / ads API. */
function httpToSink(wf: Workflow, sinkUrl: string, slug: string): void {
	for (const n of wf.nodes) {
		if (n.type === 'n8n-nodes-base.httpRequest') n.parameters.url = `${sinkUrl}/${slug}/${encodeURIComponent(n.name)}`;
	}
}

export const nodeByType = (wf: Workflow, suffix: string): Node[] => wf.nodes.filter((n) => n.type.endsWith(suffix));

const PER_RECIPE: Record<string, Tweak> = {};

export function tweakWorkflow(slug: string, wf: Workflow, ctx: { sinkUrl: string }): void {
	shortenWaits(wf);
	httpToSink(wf, ctx.sinkUrl, slug);
	PER_RECIPE[slug]?.(wf, ctx);
}
