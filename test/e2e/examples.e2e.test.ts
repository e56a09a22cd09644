/** Every example workflow imports into a real n8n and publishes (activates) without error. */
import { readdirSync } from 'fs';
import { join } from 'path';
import { n8n, state } from './support/env';

const files = readdirSync(join(__dirname, '..', '..', 'examples', 'workflows')).filter((f) => f.endsWith('.json'));

describe('example workflows in a real n8n', () => {
	it('there is one example per recipe plus the loop pair and the hub', () => {
		const numbered = files.filter((f) => /^\d\d-/.test(f)).map((f) => Number(f.slice(0, 2)));
		for (let recipe = 1; recipe <= 26; recipe++) expect(numbered).toContain(recipe);
		expect(files.filter((f) => f.startsWith('loop-'))).toHaveLength(2);
	});

	it.each(files)('%s imports and is published, with its webhooks registered', async (file) => {
		const s = state();
		const wf = s.workflows.find((w) => w.source === 'example' && w.file === file)!;
		expect(wf).toBeDefined();
		expect(s.publishErrors[wf.slug]).toBeUndefined();
		const stored = await n8n.rest(s.baseUrl, s.cookie, 'GET', `/rest/workflows/${wf.id}`);
		expect(stored.active).toBe(true);
		expect(stored.activeVersionId).toBe(stored.versionId);
		for (const hook of wf.webhooks)
			await n8n.waitForWebhook(s.baseUrl, hook.path, { method: hook.method, timeoutMs: 5000 });
	});

	it('n8n knows every node type the examples use (no unknown nodes)', async () => {
		const s = state();
		const known = new Set((await n8n.getNodeTypes(s.baseUrl, s.cookie)).map((t: { name: string }) => t.name));
		const used = new Set(s.workflows.filter((w) => w.source === 'example').flatMap((w) => w.nodeTypes));
		const unknown = [...used].filter((t) => !known.has(t));
		expect(unknown).toEqual([]);
		expect([...used].filter((t) => t.startsWith('n8n-nodes-marketing-automation.')).length).toBeGreaterThanOrEqual(8);
	});
});
