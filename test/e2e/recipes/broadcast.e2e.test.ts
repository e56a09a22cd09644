/**
 * Broadcasts and stages: recipe 26 (newsletter per language) and recipe 25 (lifecycle stages, then
 * the monthly perks to loyal customers). The test copies list 2 contacts per page (TEST_PAGE_SIZE),
 * so each audience spans several pages: every matching contact must still get its mail, and the
 * scheduled run itself must hold cursor items only (each page is an execution of its own).
 */
import {
	contactOf,
	executions,
	expectNoFailedExecutions,
	expectNoMoreMails,
	n8n,
	record,
	runNow,
	seedContacts,
	siteEvent,
	state,
	subjectsOf,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from '../support/env';
import type { PreparedWorkflow } from '../support/prepare';
import { TEST_PAGE_SIZE } from '../support/tweaks';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parse } = require('flatted') as { parse: (text: string) => any };

/** The newest execution of the workflow started by its Run Now webhook, once it has ended. */
async function finishedRunNow(wf: PreparedWorkflow, afterId: number) {
	return await waitFor(
		'the Run Now execution to end',
		async () => {
			const run = (await executions(wf)).find((e) => e.mode === 'webhook' && Number(e.id) > afterId);
			return run && !['new', 'running', 'waiting'].includes(run.status) ? run : undefined;
		},
		60000,
	);
}

/** Every item of every node's runs in an execution's saved run data: node name -> items per run. */
async function savedItems(id: string): Promise<Record<string, Array<Array<Record<string, unknown>>>>> {
	const s = state();
	const { resultData } = parse((await n8n.getExecution(s.baseUrl, s.cookie, id)).data);
	return Object.fromEntries(
		Object.entries(resultData.runData as Record<string, any[]>).map(([name, runs]) => [
			name,
			runs.map((run) => (run.data?.main ?? []).flatMap((items: any[] | null) => (items ?? []).map((i) => i.json))),
		]),
	);
}

const email = (id: string) => `${id}@example.com`;
const subscribed = { status: 'subscribed', source: 'e2e form' };

describe('recipe 26: newsletter in the contact language, to a base larger than one page', () => {
	it('every subscribed contact gets its edition (German for de*, English otherwise) across pages; the unsubscribed none', async () => {
		const wf = workflow('26-language');
		const german = ['lang-de', 'lang-de-at', 'lang-de-upper'].map(uid);
		const english = ['lang-en', 'lang-none', 'lang-fr'].map(uid);
		const unsubscribed = uid('lang-unsub');
		const languages = ['de', 'de-AT', 'DE', 'en', undefined, 'fr'];
		await seedContacts(wf, [
			...[...german, ...english].map((id, i) => ({
				id,
				email: email(id),
				subscription: subscribed,
				fields: languages[i] ? { language: languages[i] } : {},
			})),
			{
				id: unsubscribed,
				email: email(unsubscribed),
				subscription: { status: 'unsubscribed' },
				fields: { language: 'de' },
			},
		]);
		expect(german.length + english.length).toBeGreaterThan(2 * TEST_PAGE_SIZE);
		const before = Math.max(0, ...(await executions(wf)).map((e) => Number(e.id)));
		await runNow('ma-run-newsletter');
		for (const id of german) {
			const [mail] = await waitForMails(email(id), 1, { wf, timeoutMs: 30000 });
			expect(mail.parsed.subject).toBe('Neu diese Woche bei Example Shop');
		}
		for (const id of english) {
			const [mail] = await waitForMails(email(id), 1, { wf, timeoutMs: 30000 });
			expect(mail.parsed.subject).toBe('New this week at Example Shop');
		}
		await expectNoMoreMails(email(unsubscribed), 0, 2000);
		for (const id of [...german, ...english]) await expectNoMoreMails(email(id), 1, 0);

		// The run Run Now started holds cursor items only: no node of it listed or sent a contact.
		const run = await finishedRunNow(wf, before);
		expect(run.status).toBe('success');
		const saved = await savedItems(run.id);
		expect(Object.keys(saved).sort()).toEqual([
			'Audience Done',
			'More Pages?',
			'Run Now',
			'Send One Page',
			'Start at First Page',
		]);
		const pages = saved['Send One Page'];
		for (const [name, runs] of Object.entries(saved))
			if (name !== 'Run Now')
				for (const items of runs) {
					expect(items).toHaveLength(1);
					expect(Object.keys(items[0]).sort()).toEqual(['contacts', 'cursor', 'deferred', 'pages', 'sent', 'skipped']);
				}
		// One execution per page, each returning its Page Summary: the next cursor and running counts.
		const last = pages[pages.length - 1][0] as Record<string, number | null>;
		expect(last.pages).toBe(pages.length);
		expect(pages.length).toBeGreaterThanOrEqual(Math.ceil((german.length + english.length) / TEST_PAGE_SIZE));
		expect(last.cursor).toBeNull();
		expect(pages.slice(0, -1).every(([item]) => typeof item.cursor === 'string' && item.cursor !== '')).toBe(true);
		expect(last.contacts).toBeGreaterThanOrEqual(german.length + english.length);
		expect(last.sent).toBeGreaterThanOrEqual(german.length + english.length);
		expect(Number(last.sent) + Number(last.deferred) + Number(last.skipped)).toBe(last.contacts);
		const called = (await executions(wf)).filter((e) => Number(e.id) > before && e.mode === 'integrated');
		expect(called.length).toBeGreaterThanOrEqual(pages.length);
		await expectNoFailedExecutions(wf);
	});
});

describe('recipe 25: lifecycle stages, and the perks mail to loyal customers', () => {
	it('moves a contact lead -> qualified lead -> customer -> loyal customer from events, never backwards', async () => {
		const wf = workflow('25-lifecycle');
		const id = uid('stage');
		const customer = uid('stage-customer');
		await seedContacts(wf, [{ id: customer, email: email(customer), lifecycleStage: 'customer' }]);
		const stageOf = async (who: string) => (await contactOf(wf, who))?.lifecycleStage;
		const step = async (event: string, expected: string) => {
			await record(wf, [siteEvent(id, event)]);
			await waitFor(`${event} -> ${expected}`, async () => (await stageOf(id)) === expected, 30000);
		};
		await step('form_submitted', 'lead');
		await step('demo_requested', 'qualified_lead');
		await step('purchase', 'customer');
		await step('purchase', 'customer');
		await step('purchase', 'loyal_customer');
		// Backwards never: a form from a customer, a demo request from a loyal customer.
		await record(wf, [siteEvent(customer, 'form_submitted'), siteEvent(id, 'demo_requested')]);
		await record(wf, [siteEvent(id, 'form_submitted')]);
		await new Promise((r) => setTimeout(r, 3000));
		expect(await stageOf(customer)).toBe('customer');
		expect(await stageOf(id)).toBe('loyal_customer');
		await expectNoFailedExecutions(wf);
	});

	it('the perks broadcast reaches every subscribed loyal customer across pages, and no one else', async () => {
		const wf = workflow('25-lifecycle');
		const loyal = ['perks-1', 'perks-2', 'perks-3', 'perks-4', 'perks-5'].map(uid);
		const others = ['perks-customer', 'perks-unsubscribed'].map(uid);
		await seedContacts(wf, [
			...loyal.map((id) => ({
				id,
				email: email(id),
				lifecycleStage: 'loyal_customer',
				subscription: subscribed,
				fields: { firstName: 'Lo' },
			})),
			{ id: others[0], email: email(others[0]), lifecycleStage: 'customer', subscription: subscribed },
			{
				id: others[1],
				email: email(others[1]),
				lifecycleStage: 'loyal_customer',
				subscription: { status: 'unsubscribed' },
			},
		]);
		await runNow('ma-run-loyal-perks');
		for (const id of loyal) {
			const [mail] = await waitForMails(email(id), 1, { wf, timeoutMs: 30000 });
			expect(mail.parsed.subject).toBe('Your perks this month, Lo');
		}
		for (const id of others) expect(await subjectsOf(email(id))).toEqual([]);
		await expectNoFailedExecutions(wf);
	});
});
