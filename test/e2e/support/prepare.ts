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
import { ISOLATED, tweakWorkflow } from './tweaks';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../../examples/index.js');

export const SHARED_SECRET = 'e2e-shared-secret';
export const SIGNING_SECRET = 'e2e-signing-secret-0123456789abcdef0123456789';

export interface Workflow {
	id?: string;
	name: string;
	active?: boolean;
	nodes: Array<{
		name: string;
		type: string;
		typeVersion: number;
		parameters: Record<string, any>;
		webhookId?: string;
		credentials?: Record<string, { id: string; name: string }>;
	}>;
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
	/** The Marketing Webhook Trigger this workflow's events go in by: its webhook id, and its Path if it has one (<baseUrl>/webhook/<eventsHook>/events). */
	eventsHook: string;
	webhooks: Array<{ path: string; method: string }>;
	nodeTypes: string[];
}

export interface E2EState {
	root: string;
	userFolder: string;
	/** The main instance: editor and REST API. */
	baseUrl: string;
	/** Where production webhooks (events, tracking links) are served: baseUrl, or in queue mode the webhook processor. */
	webhookUrl: string;
	port: number;
	cookie: string;
	/** The contact store's Redis: a standalone server, or in queue mode the first node of a Redis Cluster. */
	redisPort: number;
	/** The contact store's Redis Cluster nodes (host:port), in queue mode. */
	clusterNodes?: string[];
	smtpPort: number;
	mailDir: string;
	/** The folder n8n's Read/Write Files node may read (N8N_RESTRICT_FILE_ACCESS_TO). */
	filesDir: string;
	sinkUrl: string;
	sharedSecret: string;
	signingSecret: string;
	workflows: PreparedWorkflow[];
	publishErrors: Record<string, string>;
	/** Queue mode: each process's user folder (main, workers, webhook processor) and the workers' concurrency. */
	queue?: {
		folders: { main: string; workers: string[]; webhook: string };
		concurrency: number;
		env: Record<string, string>;
	};
}

const FIXTURES_DIR = join(__dirname, '..', 'fixtures');

function idFor(slug: string): string {
	const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
	return Array.from(
		createHash('sha256').update(`e2e:${slug}`).digest().subarray(0, 16),
		(b) => abc[b % abc.length],
	).join('');
}

function loadFixtures(dirs: string[]): Array<{ file: string; slug: string; workflow: Workflow }> {
	return dirs
		.filter((dir) => existsSync(dir))
		.flatMap((dir) =>
			readdirSync(dir)
				.filter((f) => f.endsWith('.json'))
				.sort()
				.map((file) => ({
					file,
					slug: `fixture-${file.replace(/\.json$/, '')}`,
					workflow: JSON.parse(readFileSync(join(dir, file), 'utf8')),
				})),
		);
}

/** The shared hub: the Marketing Webhook Trigger every example's events and tracking links go to. */
const HUB_WEBHOOK_ID = 'ma-tracking';

const isHub = (wf: Workflow) => examples.triggerWebhookIds(wf).includes(HUB_WEBHOOK_ID);

/** Points a workflow's tracking links (and any other use of the hub URL) at another hub. */
function retargetHub(wf: Workflow, hookPath: string): Workflow {
	return JSON.parse(JSON.stringify(wf).replace(/\/webhook\/ma-tracking(?![-\w])/g, `/webhook/${hookPath}`));
}

/**
 * Every example and fixture, ready to import. Recipes with an e2e test (ISOLATED in tweaks.ts)
 * get a key prefix of their own and a copy of the hub workflow (00) with its own webhook id on that
 * prefix, so whole-base runs (tiers, re-permission, seasonal) only ever see their test's contacts.
 * The rest share the default credential and the original hub.
 * `fixtureDirs`: more fixture folders (queue mode's); `only`: keep just the examples and fixtures
 * whose slug it accepts (the hub is always kept).
 */
export function prepareWorkflows({
	baseUrl,
	sinkUrl,
	workDir,
	fixtureDirs = [],
	only,
}: {
	baseUrl: string;
	sinkUrl: string;
	workDir: string;
	fixtureDirs?: string[];
	only?: (slug: string) => boolean;
}) {
	mkdirSync(workDir, { recursive: true });
	const sources = [
		...examples
			.loadExamples()
			.map((e: { file: string; slug: string; workflow: Workflow }) => ({ ...e, source: 'example' as const })),
		...loadFixtures([FIXTURES_DIR, ...fixtureDirs]).map((e) => ({ ...e, source: 'fixture' as const })),
	].filter((w) => !only || only(w.slug) || isHub(w.workflow));
	const hub = sources.find((w) => isHub(w.workflow));
	const groupNames = [...new Set(sources.map((w) => ISOLATED[w.slug]).filter(Boolean))] as string[];
	const groups = groupNames.map((name, i) => ({
		name,
		keyPrefix: `e2e${i}:`,
		credentialId: `e2eContactStore${String(i).padStart(3, '0')}`,
		hookId: `ma-tracking-${name}`,
		// n8n keeps one trigger per path pattern (t/c/:token...) whatever the webhook id: each hub copy
		// gets a Path of its own, or only one of them would answer its tracking links.
		hookPath: `ma-tracking-${name}/${name}`,
	}));
	const entries = sources.map((src) => ({ ...src, group: groups.find((g) => g.name === ISOLATED[src.slug]) }));
	// One hub copy per isolated group (fixtures bring their own trigger).
	if (hub) {
		for (const g of groups) {
			if (entries.some((e) => e.group === g && examples.triggerWebhookIds(e.workflow).length > 0)) continue;
			const copy: Workflow = JSON.parse(JSON.stringify(hub.workflow));
			delete copy.id;
			copy.name = `${hub.workflow.name} [e2e ${g.name}]`;
			for (const n of copy.nodes)
				if (n.webhookId === HUB_WEBHOOK_ID) {
					n.webhookId = g.hookId;
					n.parameters.path = g.name;
				}
			entries.push({
				file: `hub-${g.name}.json`,
				slug: `hub-${g.name}`,
				workflow: copy,
				source: 'fixture' as const,
				group: g,
			});
		}
	}
	const workflows: PreparedWorkflow[] = [];
	for (const { file, slug, workflow, source, group } of entries) {
		let wf: Workflow = JSON.parse(JSON.stringify(workflow));
		wf.id = wf.id || idFor(slug);
		wf.active = false;
		if (group) {
			examples.remapCredentials(wf, {
				[examples.CREDENTIAL_IDS.contactStore]: { id: group.credentialId, name: `Contact Store (${group.name})` },
			});
			wf = retargetHub(wf, group.hookPath);
		}
		examples.localizeTrackingUrls(wf, baseUrl);
		tweakWorkflow(slug, wf, { sinkUrl });
		writeFileSync(join(workDir, `${source}-${file}`), JSON.stringify(wf, null, 2));
		const own = examples.triggerWebhookIds(wf);
		// A trigger's Path parameter (several triggers per instance) follows its id: <id>/<path>/events.
		const ownHooks = wf.nodes
			.filter((n) => own.includes(n.webhookId))
			.map((n) => (n.parameters.path ? `${n.webhookId}/${n.parameters.path}` : n.webhookId!));
		const eventsPaths = ownHooks.map((hook) => `${hook}/events`);
		const hooks = [...eventsPaths.map((path) => ({ path, method: 'POST' })), ...examples.coreWebhookPaths(wf)];
		workflows.push({
			slug,
			file,
			source,
			id: wf.id!,
			name: wf.name,
			group: group?.name ?? 'shared',
			keyPrefix: group?.keyPrefix ?? 'ma:',
			credentialId: group?.credentialId ?? examples.CREDENTIAL_IDS.contactStore,
			eventsHook: ownHooks[0] ?? group?.hookPath ?? HUB_WEBHOOK_ID,
			webhooks: hooks,
			nodeTypes: [...new Set(wf.nodes.map((n) => n.type))],
		});
	}
	return { dir: workDir, groups, workflows };
}
