/**
 * Turns the example workflows (and test/e2e/fixtures) into what the e2e run imports:
 * - windows shortened to seconds by editing parameter values (tweaks.ts), as the sticky notes say;
 * - outbound HTTP (sales notifications, audiences) pointed at the local HTTP sink;
 * - Tracking Base URLs pointed at this n8n;
 * - one Contact Store key prefix per workflow (per group of workflows that belong together:
 *   the loop pair, or a workflow and the one holding the tracking trigger it links to), so
 *   whole-base recipes (tiers, re-permission) only see their own test contacts.
 */
import { createHash } from 'crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { tweakWorkflow } from './tweaks';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../../scripts/examples.js');

export const SHARED_SECRET = 'e2e-shared-secret';
export const SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef0123456789';

export interface Workflow {
	id?: string;
	name: string;
	active?: boolean;
	nodes: Array<{ name: string; type: string; typeVersion: number; parameters: Record<string, any>; webhookId?: string; credentials?: Record<string, { id: string; name: string }> }>;
	connections: Record<string, unknown>;
	[key: string]: unknown;
}

export interface PreparedWorkflow {
	slug: string;
	file: string;
	source: 'example' | 'fixture';
	id: string;
	name: string;
	group: string;
	keyPrefix: string;
	credentialId: string;
	/** Marketing Webhook Trigger webhook ids (events at <baseUrl>/webhook/<id>/events). */
	triggerWebhookIds: string[];
	webhooks: Array<{ path: string; method: string }>;
	nodeTypes: string[];
}

export interface E2EState {
	root: string;
	userFolder: string;
	baseUrl: string;
	port: number;
	cookie: string;
	redisPort: number;
	smtpPort: number;
	mailDir: string;
	sinkUrl: string;
	sharedSecret: string;
	signingSecret: string;
	workflows: PreparedWorkflow[];
	publishErrors: Record<string, string>;
}

const FIXTURES_DIR = join(__dirname, '..', 'fixtures');

function idFor(slug: string): string {
	const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
	return Array.from(createHash('sha256').update(`e2e:${slug}`).digest().subarray(0, 16), (b) => abc[b % abc.length]).join('');
}

function loadFixtures(): Array<{ file: string; slug: string; workflow: Workflow }> {
	if (!existsSync(FIXTURES_DIR)) return [];
	return readdirSync(FIXTURES_DIR)
		.filter((f) => f.endsWith('.json'))
		.sort()
		.map((file) => ({ file, slug: `fixture-${file.replace(/\.json$/, '')}`, workflow: JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) }));
}

/** Groups: the loop pair together; a workflow together with the one whose trigger its mails link to. */
function groupOf(all: Array<{ slug: string; workflow: Workflow }>): Map<string, string> {
	const parent = new Map(all.map((w) => [w.slug, w.slug]));
	const find = (s: string): string => (parent.get(s) === s ? s : find(parent.get(s)!));
	const union = (a: string, b: string) => parent.set(find(a), find(b));
	const owner = new Map<string, string>();
	for (const w of all) for (const id of examples.triggerWebhookIds(w.workflow)) owner.set(id, w.slug);
	const loops = all.filter((w) => /loop/i.test(w.slug));
	for (const w of loops.slice(1)) union(w.slug, loops[0].slug);
	for (const w of all) {
		for (const n of w.workflow.nodes) {
			const url = n.parameters?.trackingBaseUrl;
			const m = typeof url === 'string' ? /\/webhook\/([^/?#]+)/.exec(url) : null;
			if (m && owner.has(m[1])) union(w.slug, owner.get(m[1])!);
		}
	}
	return new Map(all.map((w) => [w.slug, find(w.slug)]));
}

export function prepareWorkflows({ baseUrl, sinkUrl, workDir }: { baseUrl: string; sinkUrl: string; workDir: string }) {
	mkdirSync(workDir, { recursive: true });
	const all = [
		...examples.loadExamples().map((e: { file: string; slug: string; workflow: Workflow }) => ({ ...e, source: 'example' as const })),
		...loadFixtures().map((e) => ({ ...e, source: 'fixture' as const })),
	];
	const groupBySlug = groupOf(all);
	const groupNames = [...new Set(groupBySlug.values())];
	const groups = groupNames.map((name, i) => ({
		name,
		keyPrefix: `e2e${i}:`,
		credentialId: `e2eContactStore${String(i).padStart(3, '0')}`,
	}));
	const workflows: PreparedWorkflow[] = [];
	for (const { file, slug, workflow, source } of all) {
		const group = groups.find((g) => g.name === groupBySlug.get(slug))!;
		const wf: Workflow = JSON.parse(JSON.stringify(workflow));
		wf.id = wf.id || idFor(slug);
		wf.active = false;
		examples.remapCredentials(wf, { [examples.CREDENTIAL_IDS.contactStore]: { id: group.credentialId, name: `Contact Store (${group.name})` } });
		examples.localizeTrackingUrls(wf, baseUrl);
		tweakWorkflow(slug, wf, { sinkUrl });
		writeFileSync(join(workDir, `${source}-${file}`), JSON.stringify(wf, null, 2));
		const hooks = [
			...examples.triggerWebhookIds(wf).map((id: string) => ({ path: `${id}/events`, method: 'POST' })),
			...examples.coreWebhookPaths(wf),
		];
		workflows.push({
			slug,
			file,
			source,
			id: wf.id,
			name: wf.name,
			group: group.name,
			keyPrefix: group.keyPrefix,
			credentialId: group.credentialId,
			triggerWebhookIds: examples.triggerWebhookIds(wf),
			webhooks: hooks,
			nodeTypes: [...new Set(wf.nodes.map((n) => n.type))],
		});
	}
	return { dir: workDir, groups, workflows };
}
