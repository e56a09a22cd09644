/** The editor in headless Chromium: our nodes show their own icons and open their parameter panels. */
import { checkWorkflow, launch, logIn, OUTPUT_DIR, PACKAGE } from './support/editor';
import { n8n, state, workflow } from './support/env';

// Together these hold all nine node types of the pack.
const WORKFLOWS = [
	'00-marketing-webhook',
	'05-abandoned-cart',
	'13-engagement-tiers',
	'21-hot-lead',
	'24-seasonal-campaign',
	'ab-test-newsletter',
];

describe('editor (headless Chromium)', () => {
	let session: Awaited<ReturnType<typeof launch>>;
	beforeAll(async () => {
		session = await launch();
	});
	afterAll(async () => {
		await session?.close();
	});

	it(`logs in, opens example workflows, every ${PACKAGE} node has its icon and opens its parameters (screenshots in test-output/)`, async () => {
		const s = state();
		const page = await session.context.newPage();
		await logIn(page, s.baseUrl, n8n.DEFAULT_OWNER.email, n8n.DEFAULT_OWNER.password);
		const seen = new Set<string>();
		for (const slug of WORKFLOWS) {
			const wf = workflow(slug);
			const stored = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/workflows/${wf.id}`);
			const results = await checkWorkflow(page, s.baseUrl, wf.id, stored.nodes, `editor-${slug}`);
			expect(results.length).toBeGreaterThan(0);
			for (const r of results) {
				const folder = r.type.split('.')[1].replace(/^./, (c) => c.toUpperCase());
				expect({ node: r.name, src: r.iconSrc, loaded: r.iconLoaded, placeholder: r.placeholder }).toEqual({
					node: r.name,
					src: `/icons/${PACKAGE}/dist/nodes/${folder}/${r.type.split('.')[1]}.svg`,
					loaded: true,
					placeholder: false,
				});
				expect({ node: r.name, panelOpened: r.panelOpened }).toEqual({ node: r.name, panelOpened: true });
				expect(r.panelText).toContain('Parameters');
				seen.add(r.type);
			}
		}
		expect(seen.size).toBe(9);
		process.stdout.write(`editor screenshots in ${OUTPUT_DIR}\n`);
		// A Chromium walk through six workflows: minutes on a loaded 2-core machine.
	}, 480_000);
});
