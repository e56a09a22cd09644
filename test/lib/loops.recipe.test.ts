/**
 * The guarded loop pair of docs/examples.md (Loop A and Loop B), in lib form: workflow A (newsletter
 * sign-up -> white-paper offer; white paper downloaded -> discount) and workflow B (white paper
 * downloaded -> newsletter offer) react to each other's events through the real event log (consumer
 * groups), the simulated contact accepting every offer. Each workflow passes the chain on as the
 * Contact node does (chain + itself).
 */
import { closeAllStores } from '../../lib/redis/pool';
import { LoopGuard } from '../../lib/loops';
import { compileFilter, EventLogConsumer, type LogEvent } from '../../lib/triggers';
import type { ChainLink } from '../../lib/results';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(topologies)('two workflows triggering each other on %s Redis', (topology) => {
	const { store } = openStore(topology);

	async function runRecipe(contactId: string, guarded: boolean, cap: number) {
		const guard = new LoopGuard(store);
		let sends = 0;
		let maxDepth = 0;
		const consumers: EventLogConsumer[] = [];
		const workflow = (
			workflowId: string,
			names: string[],
			react: (e: LogEvent, chain: ChainLink[]) => Promise<void>,
		) => {
			const consumer = new EventLogConsumer(store, {
				group: `recipe-${workflowId}-${contactId}`,
				blockMs: 200,
				filter: (e) => e.contactId === contactId && compileFilter({ kind: 'event', names })(e),
				handler: async ([e]) => {
					maxDepth = Math.max(maxDepth, e.chain.length);
					if (sends >= cap) return; // the test's own brake on the unguarded run
					if (guarded) {
						const [decision] = await guard.check([
							{
								key: e.contactId,
								scope: { kind: 'workflow' },
								workflowId,
								chain: e.chain,
								rules: { maxEntries: 3, windowMs: 86_400_000, maxDepth: 5 },
							},
						]);
						if (!decision.ok || !decision.value.allowed) return;
					}
					await react(e, [...e.chain, { workflowId, executionId: String(Math.random()) }]);
				},
			});
			consumers.push(consumer);
			return consumer;
		};
		const send = async (campaign: string, chain: ChainLink[]) => {
			sends++;
			await store.events.record([{ contactId, name: 'email_sent', properties: { campaign }, chain }]);
		};
		// The contact accepts every offer: the accepted action carries the chain of the mail it answers.
		const A = workflow('A', ['newsletter_signup', 'whitepaper_downloaded'], async (e, chain) => {
			if (e.name === 'newsletter_signup') {
				await send('whitepaper_offer', chain);
				await store.events.record([{ contactId, name: 'whitepaper_downloaded', chain }]);
			} else await send('discount', chain);
		});
		const B = workflow('B', ['whitepaper_downloaded'], async (_e, chain) => {
			await send('newsletter_offer', chain);
			await store.events.record([{ contactId, name: 'newsletter_signup', chain }]);
		});
		await A.start();
		await B.start();
		try {
			await store.events.record([{ contactId, name: 'newsletter_signup' }]);
			// Run until nothing new happens for a while, or the cap is hit.
			let last = -1;
			const deadline = Date.now() + 15_000;
			while (Date.now() < deadline && sends < cap) {
				await sleep(400);
				if (sends === last) break;
				last = sends;
			}
			return { sends, maxDepth, sentLogged: await store.events.countSince(contactId, 'email_sent', 0) };
		} finally {
			await Promise.all(consumers.map((c) => c.stop()));
		}
	}

	it('without Loop Guard the chain never ends (stopped by the test after 40 mails)', async () => {
		const result = await runRecipe(`loop-free-${topology}`, false, 40);
		expect(result.sends).toBeGreaterThanOrEqual(40);
		expect(result.maxDepth).toBeGreaterThan(20);
	});

	it('with Loop Guard the contact gets a bounded number of mails and the system goes quiet', async () => {
		const result = await runRecipe(`loop-guarded-${topology}`, true, 40);
		// A: white-paper offer + discount; B: newsletter offer; then A sees itself in the chain.
		expect(result.sends).toBeLessThanOrEqual(4);
		expect(result.sends).toBeGreaterThanOrEqual(2);
		expect(result.sentLogged).toBe(result.sends);
		expect(result.maxDepth).toBeLessThanOrEqual(5);
	});
});
