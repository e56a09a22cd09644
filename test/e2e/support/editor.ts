/**
 * The editor as a person sees it: Debian's Chromium, headless, driven by playwright-core. Logs in,
 * opens a workflow, and for each node of this pack checks that the canvas shows its own icon (an
 * image served from the pack, loaded) rather than n8n's unknown-node placeholder, and that
 * double-clicking it opens the parameter panel. Screenshots go to test-output/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../../scripts/ensure-chromium.js');

export const PACKAGE = 'n8n-nodes-marketing-automation';
export const OUTPUT_DIR = join(__dirname, '..', '..', '..', 'test-output');

export interface NodeCheck {
	name: string;
	type: string;
	iconSrc: string | null;
	iconLoaded: boolean;
	placeholder: boolean;
	panelOpened: boolean;
	panelText: string;
}

/** A fresh profile (--user-data-dir, which playwright sets from launchPersistentContext's first argument). */
export async function launch(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
	const profile = mkdtempSync(join(tmpdir(), 'ma-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: ensureChromium(),
		headless: true,
		viewport: { width: 1600, height: 1000 },
		args: [
			'--headless',
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
		],
	});
	return {
		context,
		close: async () => {
			await context.close();
			rmSync(profile, { recursive: true, force: true });
		},
	};
}

export async function logIn(page: Page, baseUrl: string, email: string, password: string): Promise<void> {
	await page.goto(`${baseUrl}/signin`, { waitUntil: 'domcontentloaded' });
	await page.locator('input[type="email"], input[name="emailOrLdapLoginId"], input[name="email"]').first().fill(email);
	await page.locator('input[type="password"]').first().fill(password);
	await page.locator('button[type="submit"], [data-test-id="form-submit-button"]').first().click();
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 60000 });
}

/** Opens the workflow and checks every node whose type belongs to this pack. */
export async function checkWorkflow(
	page: Page,
	baseUrl: string,
	workflowId: string,
	nodes: Array<{ name: string; type: string }>,
	shot: string,
): Promise<NodeCheck[]> {
	await page.goto(`${baseUrl}/workflow/${workflowId}`, { waitUntil: 'domcontentloaded' });
	await page.locator('[data-test-id="canvas-node"]').first().waitFor({ timeout: 60000 });
	// Let icons load.
	await page.waitForLoadState('networkidle', { timeout: 30000 }).catch(() => undefined);
	mkdirSync(OUTPUT_DIR, { recursive: true });
	await page.screenshot({ path: join(OUTPUT_DIR, `${shot}.png`), fullPage: true });
	const results: NodeCheck[] = [];
	for (const node of nodes.filter((n) => n.type.startsWith(`${PACKAGE}.`))) {
		const el = page.locator(`[data-test-id="canvas-node"][data-node-name="${node.name.replace(/"/g, '\\"')}"]`).first();
		await el.waitFor({ timeout: 20000 });
		const icon = await el.evaluate((root) => {
			const img = root.querySelector('img') as unknown as {
				complete: boolean;
				naturalWidth: number;
				getAttribute(name: string): string | null;
			} | null;
			const text = (root.textContent ?? '').trim();
			return {
				src: img ? img.getAttribute('src') : null,
				loaded: img ? img.complete && img.naturalWidth > 0 : false,
				// n8n draws a "?" icon for a node type it does not know.
				placeholder:
					!!root.querySelector(
						'[data-icon="question"], .fa-question, [data-test-id="canvas-node-status-warning"] svg[data-icon="question"]',
					) || /^\?$/.test(text),
			};
		});
		await el.dblclick();
		const panel = page.locator('[data-test-id="ndv"]').first();
		let panelOpened = false;
		let panelText = '';
		try {
			await page.locator('[data-test-id="node-parameters"]').first().waitFor({ timeout: 15000 });
			panelOpened = true;
			panelText = ((await panel.innerText().catch(() => '')) || '').slice(0, 2000);
			await page.screenshot({ path: join(OUTPUT_DIR, `${shot}--${node.name.replace(/[^\w-]+/g, '_')}.png`) });
		} catch {
			panelOpened = false;
		}
		await page.keyboard.press('Escape');
		await page
			.locator('[data-test-id="node-parameters"]')
			.first()
			.waitFor({ state: 'hidden', timeout: 10000 })
			.catch(() => undefined);
		results.push({
			name: node.name,
			type: node.type,
			iconSrc: icon.src,
			iconLoaded: icon.loaded,
			placeholder: icon.placeholder,
			panelOpened,
			panelText,
		});
	}
	return results;
}
