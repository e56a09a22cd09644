/** Action- and behaviour-based recipes driven by site / CRM events over the Marketing Webhook Trigger. */
import {
	contactOf,
	executions,
	expectNoFailedExecutions,
	goalsReached,
	expectNoMoreMails,
	mails,
	n8n,
	scoreOf,
	sendEvents,
	state,
	sinkRequests,
	sleep,
	subscribe,
	uid,
	waitFor,
	waitForMails,
	workflow,
} from '../support/env';

const ev = (
	contactId: string,
	event: string,
	properties: Record<string, unknown> = {},
	extra: Record<string, unknown> = {},
) => ({
	contactId,
	email: `${contactId}@example.com`,
	event,
	properties,
	idempotencyKey: `${contactId}-${event}-${JSON.stringify(properties)}-${Math.random()}`,
	...extra,
});

describe('recipe 5: abandoned cart with its goal', () => {
	it('reminds the cart left alone, not the one ordered in the meantime, and reminds a product only viewed', async () => {
		const wf = workflow('05-abandoned-cart');
		const left = uid('cart-left');
		const ordered = uid('cart-ordered');
		const viewed = uid('cart-viewed');
		// Never opted in: under the default policy (double opt-in) no reminder reaches it.
		const unconfirmed = uid('cart-unconfirmed');
		await subscribe(wf, [left, ordered, viewed]);
		// Idempotency keys make a resend after a dropped connection safe.
		const res = await sendEvents(
			wf,
			[
				ev(left, 'cart_item_added', { product: 'Red Shoes' }, { fields: { firstName: 'Lea' } }),
				ev(ordered, 'cart_item_added', { product: 'Green Bag' }),
				ev(viewed, 'product_viewed', { product: 'Blue Hat', url: 'https://shop.example.com/blue-hat' }),
				ev(unconfirmed, 'cart_item_added', { product: 'Grey Scarf' }),
			],
			{ retries: 2 },
		);
		expect(res.body).toMatchObject({ received: 4, recorded: 4 });
		// The goal: the order arrives during the (8 s) wait.
		await sleep(1000);
		expect((await sendEvents(wf, ev(ordered, 'order_completed', { total: 42 }))).status).toBe(200);

		const [cart] = await waitForMails(`${left}@example.com`, 1, { wf, timeoutMs: 40000 });
		expect(cart.parsed.subject).toBe('You left something in your cart');
		expect(String(cart.parsed.html)).toContain('Hi Lea');
		expect(Date.now() - cart.parsed.date!.getTime()).toBeLessThan(30000);
		const [browse] = await waitForMails(`${viewed}@example.com`, 1, { wf, timeoutMs: 20000 });
		expect(browse.parsed.subject).toBe('Still thinking about Blue Hat?');
		await expectNoMoreMails(`${ordered}@example.com`, 0, 3000);
		await expectNoMoreMails(`${left}@example.com`, 1, 0);
		await expectNoMoreMails(`${unconfirmed}@example.com`, 0, 0);
		expect(await goalsReached(wf, ordered)).toEqual([expect.objectContaining({ goal: 'ordered', workflow: wf.id })]);
		expect(await goalsReached(wf, left)).toEqual([]);
		await expectNoFailedExecutions(wf);
	});
});

describe('recipe 19: NPS happy / unhappy split', () => {
	it('stores the score; 7 or more gets the offer and review invite, below 7 the two re-engagement mails', async () => {
		const wf = workflow('19-nps-split');
		const happy = uid('nps-happy');
		const unhappy = uid('nps-unhappy');
		await subscribe(wf, [happy, unhappy]);
		await sendEvents(wf, [
			ev(happy, 'nps_submitted', { score: 9 }, { fields: { firstName: 'Hal' } }),
			ev(unhappy, 'nps_submitted', { score: 4 }, { fields: { firstName: 'Uma' } }),
		]);
		const [offer] = await waitForMails(`${happy}@example.com`, 1, { wf });
		expect(offer.parsed.subject).toBe('Thank you! A little something for you');
		expect(String(offer.parsed.html)).toContain('THANKS20');
		const sad = await waitForMails(`${unhappy}@example.com`, 2, { wf });
		expect(sad.map((m) => m.parsed.subject)).toEqual(['We hear you, Uma', 'What we changed after your feedback']);
		expect((await contactOf(wf, happy))?.fields.nps).toBe(9);
		expect((await contactOf(wf, unhappy))?.fields.nps).toBe(4);
		await expectNoMoreMails(`${happy}@example.com`, 1, 1000);
		await expectNoFailedExecutions(wf);
	});
});

describe('recipe 21: hot lead', () => {
	it('scores events; reaching the hot grade assigns a rep, tags the lead and notifies the rep (HTTP); a warm lead is left alone', async () => {
		const wf = workflow('21-hot-lead');
		const hot = uid('lead-hot');
		const warm = uid('lead-warm');
		await sendEvents(wf, [ev(hot, 'page_viewed', { path: '/pricing' }), ev(warm, 'page_viewed', { path: '/pricing' })]);
		await sleep(500);
		await sendEvents(wf, ev(hot, 'demo_requested', { product: 'Pro' }));
		const [note] = await waitFor('the hot-lead notification', async () => {
			const got = (await sinkRequests('/21-hot-lead/')).filter((r) => r.body?.contactId === hot);
			return got.length > 0 && got;
		});
		expect(note.method).toBe('POST');
		expect(note.body).toMatchObject({ contactId: hot, email: `${hot}@example.com`, grade: 'hot' });
		expect(['alice@example.com', 'bob@example.com']).toContain(note.body.rep);
		expect(note.body.text).toMatch(/^Hot lead for (Alice|Bob): /);
		const contact = await contactOf(wf, hot);
		expect(contact?.tags).toContain('hot-lead');
		expect(contact?.fields.salesRep).toBe(note.body.rep);
		// 5 + 20 (pricing) + 40 (demo) = 65 points (halving every 30 days: no visible decay here); the warm lead has 25.
		expect(await scoreOf(wf, hot)).toBeCloseTo(65, 1);
		expect(await scoreOf(wf, warm)).toBeCloseTo(25, 1);
		await sleep(2000);
		expect((await sinkRequests('/21-hot-lead/')).filter((r) => r.body?.contactId === hot)).toHaveLength(1);
		expect((await sinkRequests('/21-hot-lead/')).filter((r) => r.body?.contactId === warm)).toHaveLength(0);
		expect((await contactOf(wf, warm))?.tags ?? []).not.toContain('hot-lead');
		await expectNoFailedExecutions(wf);
	});
});

describe('recipe 23: bookshop author recommendation', () => {
	it('mails the best books of an author viewed 3 times (once), skips a buyer of that author and a visitor with 2 views', async () => {
		const wf = workflow('23-bookshop');
		const fan = uid('book-fan');
		const buyer = uid('book-buyer');
		const browser = uid('book-browser');
		const author = 'Ursula K. Le Guin';
		const view = (id: string, n: number) => ev(id, 'page_viewed', { author, n, path: `/authors/le-guin/${n}` });
		await subscribe(wf, [fan, buyer, browser]);
		await sendEvents(wf, [ev(buyer, 'purchase', { author, title: 'The Dispossessed' })]);
		await sendEvents(wf, [
			view(fan, 1),
			view(fan, 2),
			view(fan, 3),
			view(fan, 4),
			view(buyer, 1),
			view(buyer, 2),
			view(buyer, 3),
			view(browser, 1),
			view(browser, 2),
		]);
		const [mail] = await waitForMails(`${fan}@example.com`, 1, { wf, timeoutMs: 30000 });
		expect(mail.parsed.subject).toBe(`The best of ${author}`);
		expect(String(mail.parsed.html)).toContain(`https://books.example.com/authors/${encodeURIComponent(author)}`);
		await expectNoMoreMails(`${fan}@example.com`, 1, 5000);
		expect(await mails(`${buyer}@example.com`)).toHaveLength(0);
		expect(await mails(`${browser}@example.com`)).toHaveLength(0);
		await expectNoFailedExecutions(wf);
	});
});

describe('the loop pair (A: sign-up -> white paper; B: white paper -> newsletter)', () => {
	const counts = async (id: string) => {
		const c = await contactOf(workflow('loop-a'), id);
		return { signups: c?.events.newsletter_signup?.count ?? 0, downloads: c?.events.whitepaper_downloaded?.count ?? 0 };
	};
	const subjects = async (email: string) => (await mails(email)).map((m) => m.parsed.subject).sort();
	/** Loop Guard's block reasons in a workflow's executions that name the contact (one item per execution here). */
	const blockReasons = async (slug: string, id: string) => {
		const s = state();
		const reasons: string[] = [];
		for (const e of await executions(workflow(slug))) {
			const data = String((await n8n.getExecution(s.baseUrl, s.cookie, e.id)).data);
			if (!data.includes(id)) continue;
			for (const reason of ['cycle', 'maxDepth', 'rateLimit', 'cooldown'])
				if (data.includes(`"${reason}"`)) reasons.push(reason);
		}
		return reasons.sort();
	};

	it('both active together: no redundant offer (B checks "already subscribed?", A "already has the white paper?") and no loop', async () => {
		const a = workflow('loop-a');
		const b = workflow('loop-b');
		const signedUp = uid('loop-signup');
		const downloaded = uid('loop-download');
		await subscribe(a, [signedUp, downloaded]);
		await sendEvents(a, [
			ev(signedUp, 'newsletter_signup', { form: 'footer' }, { fields: { firstName: 'Lou' } }),
			ev(downloaded, 'whitepaper_downloaded', { via: 'site' }, { fields: { firstName: 'Dee' } }),
		]);
		// Sign-up: A offers the white paper and (demo node) records the download; B sees a contact who
		// signed up and offers nothing more.
		await waitForMails(`${signedUp}@example.com`, 1, { wf: a, timeoutMs: 30000 });
		// Download from the site: A sends the discount, B the newsletter offer; B's sign-up reaches A,
		// which sees a contact who has the white paper and offers nothing more.
		await waitForMails(`${downloaded}@example.com`, 2, { wf: b, timeoutMs: 30000 });
		await waitFor('the loop pair settled', async () => (await counts(downloaded)).signups === 1, 20000);
		const before = [await counts(signedUp), await counts(downloaded)];
		await sleep(5000);
		expect([await counts(signedUp), await counts(downloaded)]).toEqual(before);
		expect(before).toEqual([
			{ signups: 1, downloads: 1 },
			{ signups: 1, downloads: 1 },
		]);
		expect(await subjects(`${signedUp}@example.com`)).toEqual(['Your free white paper']);
		expect(await subjects(`${downloaded}@example.com`)).toEqual([
			'Liked the white paper? Get our newsletter',
			'Thanks for reading: 15% off',
		]);
		// The workflows' own conditions ended it. Loop Guard only stopped A's demo download coming back
		// to A itself (its chain names A): the discount is for downloads from the site.
		expect(await blockReasons('loop-a', signedUp)).toEqual(['cycle']);
		expect(await blockReasons('loop-b', signedUp)).toEqual([]);
		expect(await blockReasons('loop-a', downloaded)).toEqual([]);
		expect(await blockReasons('loop-b', downloaded)).toEqual([]);
		await expectNoFailedExecutions(a);
		await expectNoFailedExecutions(b);
	});

	it('downloads from the site (no $chain, through the Marketing Webhook): Loop Guard lets 3 per contact a day in and blocks the rest as rateLimit', async () => {
		const a = workflow('loop-a');
		const b = workflow('loop-b');
		const reader = uid('loop-reader');
		await subscribe(a, [reader]);
		for (let n = 1; n <= 5; n++) {
			const res = await sendEvents(a, ev(reader, 'whitepaper_downloaded', { via: 'site', n }));
			expect(res.body).toMatchObject({ recorded: 1 });
			await sleep(700);
		}
		// A: 5 downloads + the sign-up B's offer led to = 6 entries, 3 allowed; B: 5 downloads, 3 allowed.
		await waitFor(
			'every entry decided',
			async () =>
				(await blockReasons('loop-a', reader)).length === 3 && (await blockReasons('loop-b', reader)).length === 2,
			30000,
			1000,
		);
		await sleep(2000);
		expect(await blockReasons('loop-a', reader)).toEqual(['rateLimit', 'rateLimit', 'rateLimit']);
		expect(await blockReasons('loop-b', reader)).toEqual(['rateLimit', 'rateLimit']);
		// One discount (never the same campaign twice) and one newsletter offer (then it has signed up).
		expect(await subjects(`${reader}@example.com`)).toEqual([
			'Liked the white paper? Get our newsletter',
			'Thanks for reading: 15% off',
		]);
		await expectNoFailedExecutions(a);
		await expectNoFailedExecutions(b);
	});
});
