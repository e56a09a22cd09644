/**
 * The A/B test example (examples/workflows/ab-test-newsletter.json) in real n8n: 2,000 subscribed
 * contacts split by the published workflow (A 25 %, B 25 %, holdout 10 %, rest 40 %) within
 * tolerance, a rerun that moves nobody and sends nothing twice, the report webhook's per-variant
 * counts and verdict once goal events come in, and the rest, kept waiting in both executions, sent
 * the winner once after the decision (SECONDS.abTestDecide after the first split in the test copy).
 * The mails are counted per contact where they arrive, at the SMTP sink, parsed.
 */
import { acquireStore, drawVariant, Experiments, HOLDOUT, REST, restCampaignId } from '../../lib';
import { SECONDS } from './support/tweaks';
import {
	executions,
	expectNoFailedExecutions,
	historyOf,
	mails,
	n8n,
	runNow,
	seedContacts,
	state,
	storeConfig,
	uid,
	waitFor,
	workflow,
} from './support/env';

interface Row {
	variant: string;
	campaignId: string | null;
	assigned: number;
	sent: number;
	conversions: number;
	significant: boolean;
	verdict: string;
}
interface Report {
	test: string;
	startedAt: string;
	variants: Row[];
	holdout: Row;
	rest: Row | null;
	winner: string | null;
	decideAt: string | null;
	decision: { winner: string; decidedAt: string; metric: string; reason: string } | null;
	summary: string;
}

const TEST = 'newsletter-subject';
const COUNT = 2000;
/** The subjects of the example's two mails (B's greets by first name, which the test contacts lack). */
const SUBJECTS = { A: 'New this week at Example Shop', B: 'You, 3 new things we think you will like' };

describe('A/B test with a holdout in real n8n', () => {
	const wf = () => workflow('ab-test-newsletter');
	const report = async (): Promise<Report> => {
		const res = await n8n.callWebhook(state().webhookUrl, 'ma-ab-newsletter-report', {}, { timeoutMs: 15000 });
		if (res.status !== 200) throw new Error(`report webhook -> ${res.status}`);
		return res.body as Report;
	};
	const rows = (r: Report) => [...r.variants, r.holdout, ...(r.rest ? [r.rest] : [])];
	const total = (r: Report, key: 'assigned' | 'sent' | 'conversions') =>
		rows(r).reduce((sum, row) => sum + row[key], 0);
	/** Waits until every execution of the workflow so far has finished, and at least `count` exist. */
	const settled = (count: number) =>
		waitFor(
			`${count} finished executions`,
			async () => {
				const list = await executions(wf());
				return list.length >= count && list.every((e) => !['running', 'new', 'waiting'].includes(e.status));
			},
			120000,
			500,
		);

	it('splits 2,000 contacts by the weights, keeps each in its variant on a rerun, reports per variant, and sends the rest the winner once', async () => {
		const run = uid('ab');
		const ids = Array.from({ length: COUNT }, (_, i) => `${run}-${i}`);
		const unsubscribed = `${run}-unsub`;
		await seedContacts(wf(), [
			...ids.map((id) => ({ id, email: `${id}@example.com`, subscription: { status: 'subscribed', source: 'e2e' } })),
			{ id: unsubscribed, email: `${unsubscribed}@example.com`, subscription: { status: 'unsubscribed' } },
		]);

		await runNow('ma-run-ab-newsletter');
		const first = await waitFor(
			'2,000 contacts split and the variants sent',
			async () => {
				const r = await report();
				const tested = r.variants.reduce((sum, row) => sum + row.assigned, 0);
				return total(r, 'assigned') === COUNT && total(r, 'sent') === tested ? r : false;
			},
			180000,
			1000,
		);
		const share = (variant: string) => rows(first).find((r) => r.variant === variant)!.assigned / COUNT;
		// Standard deviation of a share of 2,000: 1.0 points at 25 %, 1.1 at 40 %, 0.7 at 10 %;
		// tolerance about 3.5 of them.
		expect(share('A')).toBeGreaterThan(0.215);
		expect(share('A')).toBeLessThan(0.285);
		expect(share('B')).toBeGreaterThan(0.215);
		expect(share('B')).toBeLessThan(0.285);
		expect(share(HOLDOUT)).toBeGreaterThan(0.075);
		expect(share(HOLDOUT)).toBeLessThan(0.125);
		expect(share(REST)).toBeGreaterThan(0.36);
		expect(share(REST)).toBeLessThan(0.44);
		expect(first.variants.map((r) => [r.variant, r.campaignId, r.sent])).toEqual([
			['A', `${TEST}:A`, first.variants[0].assigned],
			['B', `${TEST}:B`, first.variants[1].assigned],
		]);
		expect(first.holdout.sent).toBe(0);
		// The rest waits for the decision, SECONDS.abTestDecide after the first split.
		expect(first.rest).toMatchObject({ campaignId: restCampaignId(TEST), sent: 0 });
		expect(first.decision).toBeNull();
		const decideAt = Date.parse(first.decideAt!);
		expect(Math.abs(decideAt - Date.parse(first.startedAt) - SECONDS.abTestDecide * 1000)).toBeLessThan(2000);

		// Each contact's stored variant is its keyed-hash draw; the unsubscribed contact was never split.
		const lease = acquireStore(storeConfig(wf().keyPrefix));
		try {
			const { store } = lease;
			const variantsNow = () =>
				Promise.all(ids.map((id) => store.call((r) => r.hget(store.keys.contact(id), `x:${TEST}`))));
			const design = {
				test: TEST,
				variants: [
					{ name: 'A', weight: 25 },
					{ name: 'B', weight: 25 },
				],
				rest: 40,
			};
			const before = (await variantsNow()).map((v) => String(v).split('|')[0]);
			expect(before).toEqual(ids.map((id) => drawVariant(design, id)));
			expect(await store.call((r) => r.hget(store.keys.contact(unsubscribed), `x:${TEST}`))).toBeNull();

			// Goal events: 30 % of B, 10 % of A and of the holdout buy.
			const of = (variant: string) => ids.filter((_, i) => before[i] === variant);
			const buyers = [
				...of('B').slice(0, Math.round(of('B').length * 0.3)),
				...of('A').slice(0, Math.round(of('A').length * 0.1)),
				...of(HOLDOUT).slice(0, Math.round(of(HOLDOUT).length * 0.1)),
			];
			const recorded = await store.events.record(buyers.map((contactId) => ({ contactId, name: 'purchase' })));
			expect(recorded.every((r) => r.ok)).toBe(true);
			if (Date.now() >= decideAt)
				throw new Error(
					`The goal events were recorded ${Date.now() - decideAt} ms after the decision: raise SECONDS.abTestDecide`,
				);
			const last = await report();
			expect(Object.fromEntries(rows(last).map((r) => [r.variant, r.conversions]))).toEqual({
				A: Math.round(of('A').length * 0.1),
				B: Math.round(of('B').length * 0.3),
				[HOLDOUT]: Math.round(of(HOLDOUT).length * 0.1),
				[REST]: 0,
			});
			const b = last.variants.find((r) => r.variant === 'B')!;
			expect(b.significant).toBe(true);
			// The rates are rounded shares of variants whose sizes vary with the contact ids: 30 % and 10 %
			// within half a contact.
			const verdict =
				/^B converts \d+% better than holdout \((\d+(?:\.\d)?)% vs (\d+(?:\.\d)?)%\); this is significant at 95%/.exec(
					b.verdict,
				);
			expect(verdict).not.toBeNull();
			expect(Math.abs(Number(verdict![1]) - 30)).toBeLessThanOrEqual(0.3);
			expect(Math.abs(Number(verdict![2]) - 10)).toBeLessThanOrEqual(0.5);
			expect(last.winner).toBe('B');

			// Rerun while the rest of the first run waits (parked in executions of its own, which cannot
			// finish before decideAt): nobody moves, nothing is counted or sent twice, and the rerun's
			// rest waits too.
			const finished = async () => (await executions(wf())).filter((e) => e.status === 'success').length;
			const firstRun = await waitFor('the first run to finish', finished);
			const done = (await executions(wf())).length;
			await runNow('ma-run-ab-newsletter');
			await waitFor('the rerun to finish', async () => (await finished()) > firstRun, 120000);
			if (Date.now() >= decideAt) throw new Error('The rerun ended after the decision: raise SECONDS.abTestDecide');
			const again = await report();
			expect(rows(again).map((r) => [r.variant, r.assigned, r.sent])).toEqual(
				rows(first).map((r) => [r.variant, r.assigned, r.sent]),
			);
			expect((await variantsNow()).map((v) => String(v).split('|')[0])).toEqual(before);
			const assignedEvents = (await historyOf(wf(), ids[0])).filter((e) => e.name === '$experiment_assigned');
			expect(assignedEvents).toHaveLength(1);

			// At decideAt both executions bring the rest back through the split: B is decided once, by
			// conversion rate, and every rest contact gets B's mail once, under the rest's campaign.
			const rest = of(REST);
			const decided = await waitFor(
				'the rest sent the winner',
				async () => {
					const r = await report();
					return r.rest && r.rest.sent >= rest.length ? r : false;
				},
				// Within the test's own timeout, so that a failure says what did not happen.
				Math.max(0, decideAt - Date.now()) + 45000,
				1000,
			);
			await settled(done + 1);
			// Sent once: a second mail to a rest contact (from the rerun's execution) shows here as 2x.
			const final = await report();
			expect(final.decision).toMatchObject({ winner: 'B', metric: 'conversion' });
			expect(final.decision!.reason).toMatch(/^B has the best conversion rate \(.*\); the lead is significant at 95%/);
			expect(Date.parse(final.decision!.decidedAt)).toBeGreaterThanOrEqual(decideAt);
			expect(rows(final).map((r) => [r.variant, r.assigned, r.sent])).toEqual(
				rows(first).map((r) => [r.variant, r.assigned, r.variant === REST ? rest.length : r.sent]),
			);
			expect(final).toEqual(decided);
			const records = await Promise.all(
				rest.map((id) => store.call((r) => r.hget(store.keys.contactKey(id, 'campaigns'), restCampaignId(TEST)))),
			);
			expect(records.every((record) => record !== null)).toBe(true);
			const sentEvents = (await historyOf(wf(), rest[0])).filter((e) => e.name === '$email_sent');
			expect(sentEvents.map((e) => (e.properties as { campaignId: string }).campaignId)).toEqual([
				restCampaignId(TEST),
			]);
			// The rest's items carried the winner (the campaign's name is built from experiment.variant).
			expect(await store.call((r) => r.hget(store.keys.global('campaign', restCampaignId(TEST)), 'name'))).toBe(
				'Newsletter subject test, variant B',
			);
			// Where the mails arrive: each A and B contact got its variant's mail once, each rest contact
			// B's mail once under the rest's campaign, the holdout and the unsubscribed contact none.
			const email = (id: string) => `${id}@example.com`;
			const received = new Map<string, string[]>();
			for (const mail of await mails(new Set([...ids, unsubscribed].map(email))))
				for (const to of mail.envelope.to) {
					const campaign = decodeURIComponent(String(mail.parsed.headers.get('x-ma-campaign')));
					received.set(to, [...(received.get(to) ?? []), `${campaign} / ${mail.parsed.subject}`]);
				}
			const expected: Record<string, string[]> = {
				A: [`${TEST}:A / ${SUBJECTS.A}`],
				B: [`${TEST}:B / ${SUBJECTS.B}`],
				[REST]: [`${restCampaignId(TEST)} / ${SUBJECTS.B}`],
				[HOLDOUT]: [],
			};
			const wrong = [...ids, unsubscribed]
				.map((id, i) => ({ id, variant: before[i] ?? 'unsubscribed', got: received.get(email(id)) ?? [] }))
				.filter(({ variant, got }) => JSON.stringify(got) !== JSON.stringify(expected[variant] ?? []));
			expect({ wrong: wrong.length, first: wrong.slice(0, 5) }).toEqual({ wrong: 0, first: [] });
			expect(Math.max(...[...received.values()].map((got) => got.length))).toBe(1);
			expect(received.size).toBe(of('A').length + of('B').length + rest.length);
			// The report node reads what lib reads.
			const [direct] = await new Experiments(store).report([{ test: TEST, variants: ['A', 'B'] }]);
			expect(direct.ok && direct.value).toEqual(final);
		} finally {
			lease.release();
		}
		await expectNoFailedExecutions(wf());
	});
});
