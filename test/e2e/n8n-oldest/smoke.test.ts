/**
 * Smoke test on the oldest n8n the pack supports (engines.n8n in package.json, docs/compatibility.md),
 * run by `npm run test:n8n-oldest` with N8N_VERSION set to it: the pack installed as a community
 * package loads all its nodes and credentials, and the welcome recipe (with the hub workflow its
 * sign-up events come in by) sends its three mails to a real SMTP server.
 */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { basename, join } from 'path';
import { startRedis, type RedisServer } from '../../harness/redis';
import { startSmtp, type ReceivedMail, type SmtpSink } from '../../harness/smtp';
import { freePort } from '../../../tools/ports';
import { prepareWorkflows, SHARED_SECRET, SIGNING_SECRET, type PreparedWorkflow } from '../support/prepare';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../../../tools/n8n/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const examples = require('../../../examples/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../../package.json');

const RECIPES = ['00-marketing-webhook', '04-welcome'];

/**
 * n8n's type name for each file the package declares: dist/nodes/X/FooBar.node.js -> <package>.fooBar
 * (n8n's linter holds file names to the description's name).
 */
function declaredTypes(files: string[], suffix: string, prefix = ''): string[] {
	return files.map((f) => {
		const name = basename(f, suffix);
		return `${prefix}${name[0].toLowerCase()}${name.slice(1)}`;
	});
}

describe(`n8n ${process.env.N8N_VERSION} (oldest supported)`, () => {
	let root: string;
	let redis: RedisServer | undefined;
	let smtp: SmtpSink | undefined;
	let instance: { stop(): Promise<void> } | undefined;
	let baseUrl: string;
	let cookie: string;
	let hub: PreparedWorkflow;
	let welcome: PreparedWorkflow;

	beforeAll(
		async () => {
			// Without it the harness would drive the pinned n8n instead.
			if (!process.env.N8N_VERSION)
				throw new Error('run through npm run test:n8n-oldest (sets N8N_VERSION to the oldest supported n8n)');
			root = mkdtempSync(join(tmpdir(), 'ma-n8n-oldest-'));
			const userFolder = join(root, 'n8n');
			const tarball = n8n.packPackage(n8n.REPO_DIR, {
				outDir: join(root, 'pack'),
				build: !process.env.MA_E2E_NO_BUILD,
			});
			redis = await startRedis();
			smtp = await startSmtp();
			n8n.prepareUserFolder({ userFolder, tarball });

			const port = await freePort();
			baseUrl = `http://127.0.0.1:${port}`;
			// Neither workflow makes HTTP calls, so no sink listens behind sinkUrl.
			const prepared = prepareWorkflows({ baseUrl, sinkUrl: 'http://127.0.0.1:9', workDir: join(root, 'prepared') });
			[hub, welcome] = RECIPES.map((slug) => prepared.workflows.find((w) => w.slug === slug)!);
			n8n.importCredentials(
				userFolder,
				examples.credentials({
					redis: { port: redis.port, keyPrefix: hub.keyPrefix },
					smtp: { port: smtp.port },
					webhook: { sharedSecret: SHARED_SECRET },
					signingSecret: SIGNING_SECRET,
				}),
			);
			// Both ways the harness activates a workflow on 1.x: the hub with n8n's CLI before start, the recipe over REST.
			const file = (wf: PreparedWorkflow) => join(root, 'prepared', `${wf.source}-${wf.file}`);
			n8n.importWorkflows(userFolder, file(hub), { publish: true });
			n8n.importWorkflows(userFolder, file(welcome), { publish: false });

			instance = await n8n.start({ userFolder, port });
			cookie = await n8n.ensureOwner(baseUrl);
			for (const hook of hub.webhooks) await n8n.waitForWebhook(baseUrl, hook.path, { method: hook.method });
			await n8n.publishWorkflowRest(baseUrl, cookie, welcome.id);
		},
		20 * 60 * 1000,
	);

	afterAll(async () => {
		await instance?.stop();
		await smtp?.stop();
		await redis?.stop();
		if (root && !process.env.KEEP_E2E_TMP) rmSync(root, { recursive: true, force: true });
	});

	it('is the n8n version under test', async () => {
		const settings = await n8n.rest(baseUrl, cookie, 'GET', '/rest/settings');
		expect(settings.versionCli).toBe(process.env.N8N_VERSION);
	});

	it(`loads every node and credential ${pkg.name} declares`, async () => {
		const nodeTypes = new Set((await n8n.getNodeTypes(baseUrl, cookie)).map((t: { name: string }) => t.name));
		const declaredNodes = declaredTypes(pkg.n8n.nodes, '.node.js', `${pkg.name}.`);
		expect(declaredNodes).toHaveLength(9);
		expect(declaredNodes.filter((t) => !nodeTypes.has(t))).toEqual([]);

		const res = await n8n.http(baseUrl, 'GET', '/types/credentials.json', { cookie });
		expect(res.status).toBe(200);
		const credentialTypes = new Set((res.body as Array<{ name: string }>).map((c) => c.name));
		const declaredCredentials = declaredTypes(pkg.n8n.credentials, '.credentials.js');
		expect(declaredCredentials).toHaveLength(3);
		expect(declaredCredentials.filter((t) => !credentialTypes.has(t))).toEqual([]);
	});

	it('runs the welcome recipe: a sign-up brings the confirmation mail, its confirmation the three welcome mails, in order', async () => {
		const id = `oldest-${Date.now().toString(36)}`;
		const email = `${id}@example.com`;
		const signUp = {
			contactId: id,
			email,
			event: 'newsletter_signup',
			properties: { form: 'footer-form' },
			fields: { firstName: 'Ada' },
			idempotencyKey: `${id}-signup`,
		};
		const res = await n8n.callWebhook(baseUrl, `${welcome.eventsHook}/events`, signUp, {
			headers: { 'x-webhook-secret': SHARED_SECRET },
		});
		expect(res.status).toBe(200);

		const to = (m: ReceivedMail) => m.envelope.to.includes(email);
		const waitForMails = async (count: number) => {
			const deadline = Date.now() + 60_000;
			while (smtp!.mails.filter(to).length < count && Date.now() < deadline)
				await new Promise((r) => setTimeout(r, 250));
			return smtp!.mails.filter(to);
		};
		// Double opt-in (the default policy): the sign-up is pending until its confirmation link is
		// POSTed, as the button of the confirmation page does; then the welcome series starts.
		const [confirmation] = await waitForMails(1);
		expect(confirmation?.parsed.subject).toBe('Please confirm your newsletter subscription');
		const link = /href="([^"]+\/confirm\/[^"]+)"/.exec(String(confirmation.parsed.html))?.[1];
		expect(link).toBeDefined();
		const confirmed = await fetch(link!, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: 'confirm=yes',
		});
		expect(confirmed.status).toBe(200);
		const got = (await waitForMails(4)).slice(1);
		expect(got.map((m) => m.parsed.subject)).toEqual([
			'Welcome to our newsletter, Ada',
			'The story behind Example Shop',
			'Your first-order gift',
		]);
		for (const m of got) {
			expect(m.envelope.to).toEqual([email]);
			expect(m.parsed.from?.value[0]).toMatchObject({ address: 'news@example.com', name: 'Example Shop' });
		}
		const runs = await n8n.waitForExecutions(baseUrl, cookie, { workflowId: welcome.id });
		expect(runs.length).toBeGreaterThan(0);
		expect(runs.filter((e: { status: string }) => e.status !== 'success')).toEqual([]);
	});
});
