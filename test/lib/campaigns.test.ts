import { closeAllStores } from '../../lib/redis/pool';
import {
	Campaigns,
	acquireMailer,
	closeAllMailers,
	SEND_IN_PROGRESS_RETRY_MS,
	SmtpError,
	type CampaignSpec,
	type SendOutcome,
} from '../../lib/campaigns';
import { verifyToken } from '../../lib/tracking/tokens';
import { scripts } from '../../lib/redis/scripts';
import { ContactStore, createClient, ValidationError, type Result } from '../../lib';
import { openStore, topologies } from '../harness/store';
import { startSmtp, type SmtpSink } from '../harness/smtp';
import { freePort } from '../../tools/ports';

const SECRET = 'test-signing-secret-0123456789';
const DAY = 86_400_000;
const BASE = 'https://n8n.example.com/webhook/abc/marketing';

let smtp: SmtpSink;
beforeAll(async () => {
	smtp = await startSmtp();
});
afterAll(async () => {
	closeAllMailers();
	await smtp.stop();
	await closeAllStores();
});
beforeEach(() => {
	smtp.mails.length = 0;
	smtp.rejectRecipient = undefined;
	smtp.failData = undefined;
	smtp.holdData = undefined;
});

const spec = (over: Partial<CampaignSpec> = {}): CampaignSpec => ({
	id: 'spring',
	name: 'Spring sale',
	fromEmail: 'news@shop.example',
	fromName: 'Shop News',
	subject: 'Hi {{ firstName | "there" }}, spring is here',
	preheader: '20% off for {{ contact.email }}',
	html: '<html><body><p>Hello {{ firstName | "there" }}!</p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a> <a href="{{ unsubscribeUrl }}">Unsubscribe</a></body></html>',
	trackingBaseUrl: BASE,
	signingSecret: SECRET,
	unsubscribeMailto: 'unsubscribe@shop.example',
	...over,
});

function value<T>(result: Result<T>): T {
	if (!result.ok) throw result.error;
	return result.value;
}

describe.each(topologies)('Send Campaign on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const campaigns = new Campaigns(store);
	const mailer = () =>
		acquireMailer({ host: '127.0.0.1', port: smtp.port, secure: false, starttls: 'never', poolSize: 3 }).mailer;
	let n = 0;
	const fresh = async (fields: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => {
		const id = `c${++n}-${topology}`;
		value(
			(
				await store.contacts.upsert([
					{
						id,
						email: `${id}@example.com`,
						timezone: 'Europe/Berlin',
						fields,
						subscription: { status: 'subscribed', source: 'form' },
						...extra,
					},
				])
			)[0],
		);
		return id;
	};
	const sendOne = async (
		id: string,
		over: Partial<CampaignSpec> = {},
		delivery = { mode: 'smtp' as const, mailer: mailer() },
	): Promise<SendOutcome> => value((await campaigns.send(spec(over), [{ contactId: id }], delivery))[0]);

	it('records each send as soon as the SMTP server accepts its mail, not once the whole batch has left', async () => {
		const [first, second, held] = [await fresh(), await fresh(), await fresh()];
		let release!: () => void;
		const holding = new Promise<void>((resolve) => (release = resolve));
		smtp.holdData = (to) => (to.includes(`${held}@example.com`) ? holding : undefined);
		const sending = campaigns.send(
			spec({ id: `batch-${topology}` }),
			[first, second, held].map((contactId) => ({ contactId })),
			{ mode: 'smtp', mailer: mailer() },
		);
		await smtp.waitFor(2);
		// A crash now would send these two again unless their sends are recorded already.
		const recorded = async () =>
			Promise.all([first, second].map(async (id) => (await campaigns.sendRecord(id, `batch-${topology}`))?.sends));
		const deadline = Date.now() + 5000;
		while ((await recorded()).some((sends) => sends !== 1) && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 20));
		expect(await recorded()).toEqual([1, 1]);
		expect(await campaigns.sendRecord(held, `batch-${topology}`)).toBeNull();
		release();
		expect((await sending).map((r) => value(r).status)).toEqual(['sent', 'sent', 'sent']);
		expect(await campaigns.sendRecord(held, `batch-${topology}`)).toMatchObject({ sends: 1 });
	});

	it('sends a personalised, escaped mail with List-Unsubscribe, Message-ID and signed tracking links', async () => {
		const id = await fresh({ firstName: 'Ada <b>&</b>' });
		const out = await sendOne(id, { trackOpens: true, trackClicks: true });
		expect(out).toMatchObject({ status: 'sent', contactId: id, email: `${id}@example.com`, trackedLinks: 1 });
		const [mail] = await smtp.waitFor(1);
		const { parsed, headerLines } = mail;
		expect(mail.envelope).toEqual({ from: 'news@shop.example', to: [`${id}@example.com`] });
		expect(parsed.subject).toBe('Hi Ada <b>&</b>, spring is here');
		expect(parsed.from?.value[0]).toEqual({ address: 'news@shop.example', name: 'Shop News' });
		expect(parsed.messageId).toBe((out as { messageId: string }).messageId);
		expect(parsed.messageId).toMatch(/^<[0-9a-f-]{36}@shop\.example>$/);
		expect(headerLines['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
		const lu = /^<(https:\/\/[^>]+)>, <mailto:unsubscribe@shop\.example\?subject=unsubscribe>$/.exec(
			headerLines['list-unsubscribe'],
		);
		expect(lu).not.toBeNull();
		const unsubToken = (lu as RegExpExecArray)[1].slice(`${BASE}/u/`.length);
		expect(verifyToken(SECRET, unsubToken, 'u')).toMatchObject({
			contactId: id,
			campaignId: 'spring',
			messageId: parsed.messageId,
		});

		const html = String(parsed.html);
		expect(html).toContain('Hello Ada &lt;b&gt;&amp;&lt;/b&gt;!');
		expect(html).toContain(`20% off for ${id}@example.com`);
		const click = new RegExp(`href="${BASE}/t/c/([^"]+)"`).exec(html);
		expect(verifyToken(SECRET, click?.[1], 'c')).toMatchObject({
			url: 'https://shop.example/sale?a=1&b=2',
			contactId: id,
		});
		// The unsubscribe link stays direct; the pixel carries an open token.
		expect(html).toContain(`href="${BASE}/u/${unsubToken}"`);
		const pixel = new RegExp(`<img src="${BASE}/t/o/([^"]+)" width="1"`).exec(html);
		expect(verifyToken(SECRET, pixel?.[1], 'o')).toMatchObject({ contactId: id, campaignId: 'spring' });
		expect(parsed.text).toContain('Hello Ada <b>&</b>!');

		const history = await store.events.history(id, 10);
		expect(history.filter((e) => e.name === '$email_sent')).toHaveLength(1);
		expect(history.find((e) => e.name === '$email_sent')).toMatchObject({
			name: '$email_sent',
			properties: { campaignId: 'spring', messageId: parsed.messageId, transactional: false },
		});
		expect(await campaigns.sendRecord(id, 'spring')).toMatchObject({
			messageId: parsed.messageId,
			sentAt: clock.ms,
			sends: 1,
		});
		expect(value((await campaigns.lookupMessages([String(parsed.messageId)]))[0])).toEqual({
			contactId: id,
			campaignId: 'spring',
		});
		expect(value((await campaigns.report(['spring']))[0])).toMatchObject({
			sent: expect.any(Number),
			lastSentAt: new Date(clock.ms).toISOString(),
		});
	});

	it("keeps a Message-ID lookup in the contact's shard, registered with it until it expires", async () => {
		const id = await fresh();
		const render = { mode: 'render' as const };
		const first = await sendOne(id, { id: 'lookup-1' }, render as never);
		const messages = store.keys.contactKey(id, 'messages');
		const key = campaigns.messageKey((first as { messageId: string }).messageId);
		expect(key.startsWith(`${store.keys.shard(store.keys.shardOfContact(id))}:`)).toBe(true);
		expect(await store.call((r) => r.zrange(messages, 0, -1))).toEqual([key]);
		expect(await store.call((r) => r.pttl(key))).toBeGreaterThan(89 * DAY);
		clock.advance(91 * DAY);
		const second = await sendOne(id, { id: 'lookup-2' }, render as never);
		// The first lookup expired: the send that follows drops it from the contact's list.
		expect(await store.call((r) => r.zrange(messages, 0, -1))).toEqual([
			campaigns.messageKey((second as { messageId: string }).messageId),
		]);
	});

	it('never sends the same campaign twice unless resend is allowed', async () => {
		const id = await fresh();
		expect((await sendOne(id)).status).toBe('sent');
		expect(await sendOne(id)).toMatchObject({ status: 'skipped', reason: 'already_sent' });
		clock.advance(1000);
		expect(await sendOne(id, { allowResend: true })).toMatchObject({ status: 'sent' });
		expect(await campaigns.sendRecord(id, 'spring')).toMatchObject({ sends: 2 });
		expect(smtp.mails).toHaveLength(2);
	});

	it('reports each check as the skip reason, in order', async () => {
		const missing = await campaigns.send(spec(), [{ contactId: 'nobody' }, { email: 'nobody@example.com' }], {
			mode: 'render',
		});
		expect(missing.map((r) => value(r))).toEqual([
			{ status: 'skipped', contactId: 'nobody', campaignId: 'spring', reason: 'no_contact' },
			{ status: 'skipped', campaignId: 'spring', reason: 'no_contact' },
		]);
		value((await store.contacts.upsert([{ id: `noemail-${topology}`, fields: { a: 1 } }]))[0]);
		expect(await sendOne(`noemail-${topology}`)).toMatchObject({ status: 'skipped', reason: 'invalid_email' });
		for (const status of ['unsubscribed', 'bounced', 'complained'] as const) {
			const id = await fresh({}, { subscription: { status, source: 'test' } });
			expect(await sendOne(id)).toMatchObject({ status: 'skipped', reason: status });
			expect(await sendOne(id, { transactional: true })).toMatchObject({ status: 'sent' });
		}
		const pending = await fresh({}, { subscription: { status: 'pending', source: 'form' } });
		expect(await sendOne(pending)).toMatchObject({ status: 'sent' });
		expect(await sendOne(pending, { id: 'consent', requireConsent: true })).toMatchObject({
			status: 'skipped',
			reason: 'no_consent',
		});
		// Suppression wins over the later checks (already sent, cap, window).
		const unsub = await fresh();
		await sendOne(unsub);
		value(
			(
				await store.contacts.change([{ id: unsub, subscription: { status: 'unsubscribed', source: 'x' } }], 'update')
			)[0],
		);
		expect(
			await sendOne(unsub, { frequencyCap: { max: 1, windowMs: DAY }, sendWindow: { startHour: 3, endHour: 4 } }),
		).toMatchObject({ reason: 'unsubscribed' });
		// Three transactional mails, the pending contact's, and the first mail to `unsub`.
		expect(smtp.mails).toHaveLength(5);
	});

	it('defers at the frequency cap until the oldest send leaves the rolling window', async () => {
		const id = await fresh();
		const cap = { max: 2, windowMs: 7 * DAY };
		const t0 = clock.ms;
		expect(await sendOne(id, { id: 'd1', frequencyCap: cap })).toMatchObject({ status: 'sent' });
		clock.advance(DAY);
		expect(await sendOne(id, { id: 'd2', frequencyCap: cap })).toMatchObject({ status: 'sent' });
		clock.advance(DAY);
		expect(await sendOne(id, { id: 'd3', frequencyCap: cap })).toEqual({
			status: 'deferred',
			contactId: id,
			campaignId: 'd3',
			reason: 'frequency_cap',
			until: new Date(t0 + 7 * DAY).toISOString(),
			sendAt: new Date(t0 + 7 * DAY).toISOString(),
		});
		// Transactional mail is neither capped nor counted.
		expect(await sendOne(id, { id: 'receipt', transactional: true, frequencyCap: cap })).toMatchObject({
			status: 'sent',
		});
		clock.ms = t0 + 7 * DAY - 1;
		expect(await sendOne(id, { id: 'd3', frequencyCap: cap })).toMatchObject({
			status: 'deferred',
			reason: 'frequency_cap',
		});
		clock.ms = t0 + 7 * DAY;
		expect(await sendOne(id, { id: 'd3', frequencyCap: cap })).toMatchObject({ status: 'sent' });
		// Now d2 (t0+1d) and d3 (t0+7d) are in the window: the next slot is t0+8d.
		expect(await sendOne(id, { id: 'd4', frequencyCap: cap })).toMatchObject({
			reason: 'frequency_cap',
			until: new Date(t0 + 8 * DAY).toISOString(),
		});
	});

	it('defers outside the send window in the contact time zone, to the next opening', async () => {
		// 2026-01-15 is a Thursday; 12:00 UTC = 13:00 Berlin = 04:00 Los Angeles.
		clock.ms = Date.UTC(2026, 0, 15, 12, 0);
		const window = { startHour: 9, endHour: 18, weekdays: [1, 2, 3, 4, 5] };
		const berlin = await fresh();
		const la = await fresh({}, { timezone: 'America/Los_Angeles' });
		const noZone = await fresh({}, { timezone: null });
		expect(await sendOne(berlin, { id: 'w1', sendWindow: window })).toMatchObject({ status: 'sent' });
		expect(await sendOne(la, { id: 'w1', sendWindow: window })).toMatchObject({
			status: 'deferred',
			reason: 'outside_send_window',
			until: '2026-01-15T17:00:00.000Z',
		});
		expect(await sendOne(noZone, { id: 'w1', sendWindow: { ...window, fallbackZone: 'Asia/Tokyo' } })).toMatchObject({
			reason: 'outside_send_window',
			until: '2026-01-16T00:00:00.000Z',
		});
		// Friday 18:30 Berlin -> Monday 09:00 Berlin.
		clock.ms = Date.UTC(2026, 0, 16, 17, 30);
		expect(await sendOne(berlin, { id: 'w2', sendWindow: window })).toMatchObject({
			until: '2026-01-19T08:00:00.000Z',
		});
		// Capped until Saturday: deferred to when both the cap and the window allow it (Monday 09:00).
		const capped = await fresh();
		clock.ms = Date.UTC(2026, 0, 16, 9, 0);
		await sendOne(capped, { id: 'w3', sendWindow: window, frequencyCap: { max: 1, windowMs: DAY } });
		expect(
			await sendOne(capped, { id: 'w4', sendWindow: window, frequencyCap: { max: 1, windowMs: DAY } }),
		).toMatchObject({ reason: 'frequency_cap', until: '2026-01-19T08:00:00.000Z' });
	});

	it('sends exactly one mail when 4 executions send the same campaign to the same contact at once', async () => {
		const id = await fresh();
		const runs = await Promise.all(
			[1, 2, 3, 4].map(() =>
				campaigns.send(spec({ id: 'race' }), [{ contactId: id }], { mode: 'smtp', mailer: mailer() }),
			),
		);
		const outcomes = runs.map((r) => value(r[0]));
		expect(outcomes.filter((o) => o.status === 'sent')).toHaveLength(1);
		expect(
			outcomes
				.filter((o) => o.status === 'skipped')
				.map((o) => (o as { reason: string }).reason)
				.sort(),
		).toEqual(expect.arrayContaining([expect.stringMatching(/send_in_progress|already_sent/)]));
		await new Promise((r) => setTimeout(r, 200));
		expect(smtp.mails.filter((m) => m.envelope.to[0] === `${id}@example.com`)).toHaveLength(1);
		expect((await store.events.history(id, 20)).filter((e) => e.name === '$email_sent')).toHaveLength(1);
	});

	it('an attempt with the key of a reservation whose attempt died takes it over; another attempt still waits for it', async () => {
		const id = await fresh();
		// Attempt 1 reserves, then its worker dies before the mail leaves (its SMTP send never returns).
		const dead = { send: () => new Promise(() => undefined) } as unknown as ReturnType<typeof mailer>;
		void campaigns.send(spec({ id: 'takeover' }), [{ contactId: id, attemptKey: 'event:1-0' }], {
			mode: 'smtp',
			mailer: dead,
		});
		await new Promise((r) => setTimeout(r, 300));
		// Another event's attempt: the send is still someone else's.
		const other = await campaigns.send(spec({ id: 'takeover' }), [{ contactId: id, attemptKey: 'event:2-0' }], {
			mode: 'smtp',
			mailer: mailer(),
		});
		expect(value(other[0])).toMatchObject({ status: 'skipped', reason: 'send_in_progress' });
		// The same event delivered again: it takes the reservation over and sends, once.
		const retry = await campaigns.send(spec({ id: 'takeover' }), [{ contactId: id, attemptKey: 'event:1-0' }], {
			mode: 'smtp',
			mailer: mailer(),
		});
		expect(value(retry[0])).toMatchObject({ status: 'sent' });
		const again = await campaigns.send(spec({ id: 'takeover' }), [{ contactId: id, attemptKey: 'event:1-0' }], {
			mode: 'smtp',
			mailer: mailer(),
		});
		expect(value(again[0])).toMatchObject({ status: 'skipped', reason: 'already_sent' });
		await new Promise((r) => setTimeout(r, 200));
		expect(smtp.mails.filter((m) => m.envelope.to[0] === `${id}@example.com`)).toHaveLength(1);
	});

	it("with Allow Resend, another event's send waits (deferred) while one is under way, then sends its own mail", async () => {
		const id = await fresh();
		// The send for event 1 is under way (its SMTP answer has not come yet).
		let release!: () => void;
		const held = new Promise<void>((r) => (release = r));
		const slow = mailer();
		const slowMailer = {
			send: async (...args: Parameters<typeof slow.send>) => {
				await held;
				return slow.send(...args);
			},
		} as unknown as ReturnType<typeof mailer>;
		const first = campaigns.send(
			spec({ id: 'resend', allowResend: true }),
			[{ contactId: id, attemptKey: 'event:1-0' }],
			{
				mode: 'smtp',
				mailer: slowMailer,
			},
		);
		await new Promise((r) => setTimeout(r, 300));
		// Event 2 (a second project finished) is a mail of its own: deferred, not skipped.
		const other = await campaigns.send(
			spec({ id: 'resend', allowResend: true }),
			[{ contactId: id, attemptKey: 'event:2-0' }],
			{ mode: 'smtp', mailer: mailer() },
		);
		expect(value(other[0])).toMatchObject({ status: 'deferred', reason: 'send_in_progress' });
		const sendAt = Date.parse(String((value(other[0]) as { sendAt: string }).sendAt));
		expect(sendAt - store.now()).toBeGreaterThan(SEND_IN_PROGRESS_RETRY_MS - 5000);
		expect(sendAt - store.now()).toBeLessThanOrEqual(SEND_IN_PROGRESS_RETRY_MS);
		release();
		expect(value((await first)[0])).toMatchObject({ status: 'sent' });
		// Sent again when it comes back after the wait.
		const again = await campaigns.send(
			spec({ id: 'resend', allowResend: true }),
			[{ contactId: id, attemptKey: 'event:2-0' }],
			{ mode: 'smtp', mailer: mailer() },
		);
		expect(value(again[0])).toMatchObject({ status: 'sent' });
		await new Promise((r) => setTimeout(r, 200));
		expect(smtp.mails.filter((m) => m.envelope.to[0] === `${id}@example.com`)).toHaveLength(2);
	});

	it("one event sent to several contacts: its retry takes over each contact's dead reservation; a contact twice in the call sends once", async () => {
		const [a, b] = [await fresh(), await fresh()];
		const dead = { send: () => new Promise(() => undefined) } as unknown as ReturnType<typeof mailer>;
		void campaigns.send(
			spec({ id: 'fanout' }),
			[a, b].map((contactId) => ({ contactId, attemptKey: 'event:7-0' })),
			{ mode: 'smtp', mailer: dead },
		);
		await new Promise((r) => setTimeout(r, 300));
		const retry = await campaigns.send(
			spec({ id: 'fanout' }),
			[a, b, a].map((contactId) => ({ contactId, attemptKey: 'event:7-0' })),
			{ mode: 'smtp', mailer: mailer() },
		);
		expect(retry.map((r) => value(r).status)).toEqual(['sent', 'sent', 'skipped']);
		await new Promise((r) => setTimeout(r, 200));
		for (const id of [a, b]) expect(smtp.mails.filter((m) => m.envelope.to[0] === `${id}@example.com`)).toHaveLength(1);
	});

	it('sends one mail when 4 workers with their own Redis connections race for the same contact and campaign', async () => {
		const id = await fresh();
		const workers = [1, 2, 3, 4].map(() => {
			const client = createClient(ctx.config);
			client.on('error', () => undefined);
			return { client, campaigns: new Campaigns(new ContactStore(client, ctx.config.keyPrefix, { now: clock.now })) };
		});
		try {
			const runs = await Promise.all(
				workers.map((w) =>
					w.campaigns.send(spec({ id: 'race-workers' }), [{ contactId: id }], { mode: 'smtp', mailer: mailer() }),
				),
			);
			expect(runs.map((r) => value(r[0]).status).sort()).toEqual(['sent', 'skipped', 'skipped', 'skipped']);
			await new Promise((r) => setTimeout(r, 200));
			expect(smtp.mails.filter((m) => m.envelope.to[0] === `${id}@example.com`)).toHaveLength(1);
			expect(value((await campaigns.report(['race-workers']))[0]).sent).toBe(1);
		} finally {
			await Promise.all(workers.map((w) => w.client.quit()));
		}
	});

	it("counts a send and a first outcome with the contact's record: a worker dying right after loses no count", async () => {
		// A worker whose connection is gone for good once the script that records the send (or the
		// outcome) has answered: what it would write after that never arrives, as when it is killed.
		const dying = () => {
			const client = createClient(ctx.config);
			client.on('error', () => undefined);
			const doomed = new ContactStore(client, ctx.config.keyPrefix, { now: clock.now });
			const run = doomed.run.bind(doomed);
			doomed.run = (async (script: Parameters<typeof run>[0], keys: string[], args: Array<string | number>) => {
				const answer = await run(script, keys, args);
				if (script === scripts.confirmSend || script === scripts.recordOutcome) client.disconnect();
				return answer;
			}) as typeof doomed.run;
			return new Campaigns(doomed);
		};
		const ids = [await fresh(), await fresh(), await fresh()];
		for (const id of ids) {
			await dying()
				.send(spec({ id: 'dying' }), [{ contactId: id }], { mode: 'smtp', mailer: mailer() })
				.catch(() => undefined);
		}
		await dying()
			.recordOutcomes([{ contactId: ids[0], campaignId: 'dying', kind: 'clicked', url: 'https://shop.example/' }])
			.catch(() => undefined);
		for (const id of ids) expect(await campaigns.sendRecord(id, 'dying')).toMatchObject({ sends: 1 });
		expect(value((await campaigns.report(['dying']))[0])).toMatchObject({ sent: 3, clicked: 1 });
		// Each shard holds its contacts' counts; the report adds them up.
		const shards = new Set(ids.map((id) => store.keys.shardOfContact(id)));
		for (const shard of shards) {
			const sent = await store.call((r) => r.hget(store.keys.campaignTotals(shard, 'dying'), 'sent'));
			expect(Number(sent)).toBe(ids.filter((id) => store.keys.shardOfContact(id) === shard).length);
		}
	});

	it("reports the counts an earlier release kept in the campaign's own key, with the new ones", async () => {
		await store.call((r) => r.hset(campaigns.campaignKey('older'), 'sent', 5, 'opened', 2, 'firstSentAt', 1000));
		const id = await fresh();
		await sendOne(id, { id: 'older' });
		expect(value((await campaigns.report(['older']))[0])).toMatchObject({
			sent: 6,
			opened: 2,
			firstSentAt: new Date(1000).toISOString(),
			lastSentAt: new Date(clock.ms).toISOString(),
		});
	});

	it('SMTP unreachable: a clear error, nothing recorded as sent, and a later send works', async () => {
		const id = await fresh();
		const port = await freePort();
		const down = acquireMailer({
			host: '127.0.0.1',
			port,
			secure: false,
			starttls: 'never',
			poolSize: 1,
			timeoutMs: 2000,
		});
		const [result] = await campaigns.send(spec({ id: 'down' }), [{ contactId: id }], {
			mode: 'smtp',
			mailer: down.mailer,
		});
		down.release();
		if (result.ok) throw new Error('the send did not fail');
		const error = result.error as SmtpError;
		expect(error).toBeInstanceOf(SmtpError);
		expect(error.kind).toBe('connection');
		expect(error.message).toContain(`Cannot reach the SMTP server (127.0.0.1:${port})`);
		expect(await campaigns.sendRecord(id, 'down')).toBeNull();
		expect((await store.events.history(id)).some((e) => e.name === '$email_sent')).toBe(false);
		expect(value((await campaigns.report(['down']))[0]).sent).toBe(0);
		expect(await sendOne(id, { id: 'down' })).toMatchObject({ status: 'sent' });
	});

	it('4xx: deferred for a retry, nothing recorded; 5xx recipient: hard bounce and suppression', async () => {
		const soft = await fresh();
		smtp.rejectRecipient = (address) =>
			address === `${soft}@example.com` ? { code: 451, message: '4.7.1 Greylisted, try later' } : undefined;
		const deferred = await sendOne(soft, { id: 'codes' });
		expect(deferred).toMatchObject({
			status: 'deferred',
			reason: 'smtp_temporary_failure',
			until: new Date(clock.ms + 15 * 60_000).toISOString(),
		});
		expect((deferred as { detail: string }).detail).toContain('4.7.1 Greylisted');
		expect(await campaigns.sendRecord(soft, 'codes')).toBeNull();
		smtp.rejectRecipient = undefined;
		expect(await sendOne(soft, { id: 'codes' })).toMatchObject({ status: 'sent' });

		const hard = await fresh();
		smtp.rejectRecipient = () => ({ code: 550, message: '5.1.1 User unknown' });
		expect(await sendOne(hard, { id: 'codes' })).toMatchObject({ status: 'skipped', reason: 'recipient_rejected' });
		const contact = await store.contacts.getOne(hard);
		expect(contact?.subscription?.status).toBe('bounced');
		const bounce = (await store.events.history(hard)).find((e) => e.name === '$email_bounced');
		expect(bounce?.properties).toMatchObject({ campaignId: 'codes', type: 'hard', status: '550' });
		expect(String((bounce?.properties as { diagnostic: string }).diagnostic)).toContain('5.1.1 User unknown');
		expect(await campaigns.sendRecord(hard, 'codes')).toBeNull();
		expect(value((await campaigns.report(['codes']))[0])).toMatchObject({ sent: 1, bounced: 1 });
		// A refused resend to a contact the campaign reached before counts one bounce, not two.
		smtp.rejectRecipient = undefined;
		const resent = await fresh();
		expect(await sendOne(resent, { id: 'codes-again', allowResend: true })).toMatchObject({ status: 'sent' });
		smtp.rejectRecipient = () => ({ code: 550, message: '5.1.1 User unknown' });
		expect(await sendOne(resent, { id: 'codes-again', allowResend: true })).toMatchObject({
			reason: 'recipient_rejected',
		});
		expect(value((await campaigns.report(['codes-again']))[0])).toMatchObject({ sent: 1, bounced: 1 });

		// A 4xx at the end of DATA is retryable too.
		smtp.rejectRecipient = undefined;
		smtp.failData = () => ({ code: 452, message: '4.3.1 Insufficient storage' });
		expect(await sendOne(await fresh(), { id: 'codes' })).toMatchObject({
			status: 'deferred',
			reason: 'smtp_temporary_failure',
		});
	});

	it('refuses or neutralises header injection in subject, names and addresses', async () => {
		const id = await fresh({ firstName: 'Eve\r\nBcc: victim@evil.test' });
		const out = await sendOne(id, {
			id: 'inject',
			subject: 'Hello {{ firstName }}\r\nX-Injected: 1',
			fromName: 'Shop\r\nBcc: other@evil.test',
		});
		expect(out.status).toBe('sent');
		const [mail] = await smtp.waitFor(1);
		expect(mail.envelope.to).toEqual([`${id}@example.com`]);
		expect(mail.headerLines['bcc']).toBeUndefined();
		expect(mail.headerLines['x-injected']).toBeUndefined();
		expect(mail.parsed.subject).toBe('Hello Eve Bcc: victim@evil.test X-Injected: 1');
		expect(mail.parsed.from?.value[0].address).toBe('news@shop.example');
		for (const [over, field] of [
			[{ fromEmail: 'news@shop.example\r\nBcc: x@evil.test' }, 'fromEmail'],
			[{ replyTo: 'a@b.example\nBcc: x@evil.test' }, 'replyTo'],
			[{ unsubscribeMailto: 'x@y.z>\r\nX: y' }, 'unsubscribeMailto'],
		] as const) {
			await expect(campaigns.send(spec(over), [{ contactId: id }], { mode: 'render' })).rejects.toMatchObject({
				field,
			});
		}
	});

	it('a missing required merge field fails the item, naming the field, and frees the reservation', async () => {
		const id = await fresh();
		const [result] = await campaigns.send(spec({ id: 'merge', subject: 'For {{ lastName }}' }), [{ contactId: id }], {
			mode: 'smtp',
			mailer: mailer(),
		});
		if (result.ok) throw new Error('the send did not fail');
		expect(result.error).toMatchObject({ field: 'subject', message: expect.stringContaining('"lastName"') });
		value((await store.contacts.upsert([{ id, fields: { lastName: 'Lovelace' } }]))[0]);
		expect(await sendOne(id, { id: 'merge', subject: 'For {{ lastName }}' })).toMatchObject({ status: 'sent' });
	});

	it('validates the campaign: tracking URL for marketing mail, https, cap and window', async () => {
		const id = await fresh();
		const cases: Array<[Partial<CampaignSpec>, string]> = [
			[{ trackingBaseUrl: undefined }, 'trackingBaseUrl'],
			[{ trackingBaseUrl: 'http://n8n.example.com/webhook' }, 'trackingBaseUrl'],
			[{ signingSecret: 'short' }, 'signingSecret'],
			[{ frequencyCap: { max: 0, windowMs: DAY } }, 'frequencyCap.max'],
			[{ frequencyCap: { max: 1, windowMs: 10 } }, 'frequencyCap.window'],
			[{ sendWindow: { startHour: 9, endHour: 9 } }, 'endHour'],
			[{ id: '' }, 'campaignId'],
			[{ html: ' ' }, 'html'],
		];
		for (const [over, field] of cases) {
			await expect(campaigns.send(spec(over), [{ contactId: id }], { mode: 'render' })).rejects.toBeInstanceOf(
				ValidationError,
			);
			await expect(campaigns.send(spec(over), [{ contactId: id }], { mode: 'render' })).rejects.toMatchObject({
				field,
			});
		}
		// Transactional mail may go without a tracking URL (and then has no List-Unsubscribe), but
		// not with an {{ unsubscribeUrl }} it cannot fill.
		await expect(
			sendOne(id, { id: 'tx', transactional: true, trackingBaseUrl: undefined }, { mode: 'render' } as never),
		).rejects.toMatchObject({
			field: 'html',
			message: expect.stringContaining('"unsubscribeUrl"'),
		});
		const out = await sendOne(
			id,
			{ id: 'tx', transactional: true, trackingBaseUrl: undefined, html: '<p>Your receipt</p>' },
			{ mode: 'render' } as never,
		);
		expect(out).toMatchObject({ status: 'sent', message: { headers: { 'Message-ID': expect.any(String) } } });
		expect(
			(out as { message: { headers: Record<string, string> } }).message.headers['List-Unsubscribe'],
		).toBeUndefined();
	});

	it('render-only mode returns the finished message and records it like a send', async () => {
		const id = await fresh({ firstName: 'Bo' });
		const out = await sendOne(id, { id: 'render' }, { mode: 'render' } as never);
		expect(out).toMatchObject({
			status: 'sent',
			message: {
				from: '"Shop News" <news@shop.example>',
				to: `${id}@example.com`,
				subject: 'Hi Bo, spring is here',
				headers: {
					'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
					'List-Unsubscribe': expect.stringContaining(`${BASE}/u/`),
				},
			},
		});
		expect((out as { message: { text: string } }).message.text).toContain('Hello Bo!');
		expect(smtp.mails).toHaveLength(0);
		expect(await sendOne(id, { id: 'render' }, { mode: 'render' } as never)).toMatchObject({ reason: 'already_sent' });
	});

	it('records outcomes: unique counts, machine hits not counted as engagement, suppression', async () => {
		const id = await fresh();
		await sendOne(id, { id: 'out' });
		const before = (await store.contacts.getOne(id))?.lastActivityAt;
		clock.advance(60_000);
		const results = await campaigns.recordOutcomes([
			{ contactId: id, campaignId: 'out', kind: 'delivered', provider: 'sendgrid' },
			{ contactId: id, campaignId: 'out', kind: 'delivered', provider: 'sendgrid' },
			{ contactId: id, campaignId: 'out', kind: 'opened', machine: true },
		]);
		expect(results.map((r) => value(r)).map((r) => [r.recorded, r.first])).toEqual([
			[true, true],
			[false, false],
			[true, false],
		]);
		expect((await store.contacts.getOne(id))?.lastActivityAt).toBe(before);
		clock.advance(60_000);
		await campaigns.recordOutcomes([{ contactId: id, campaignId: 'out', kind: 'opened' }]);
		await campaigns.recordOutcomes([{ contactId: id, campaignId: 'out', kind: 'opened' }]);
		await campaigns.recordOutcomes([
			{ contactId: id, campaignId: 'out', kind: 'clicked', url: 'https://shop.example/' },
		]);
		expect((await store.contacts.getOne(id))?.lastActivityAt).toBe(new Date(clock.ms).toISOString());
		// The first person open is marked in the event (the machine open before it is not first).
		const opened = (await store.events.history(id, 50)).filter((e) => e.name === '$email_opened').reverse();
		expect(
			opened
				.map((e) => e.properties as { machine?: boolean; first?: boolean })
				.map((p) => [p.machine ?? false, p.first ?? false]),
		).toEqual([
			[true, false],
			[false, true],
			[false, false],
		]);
		await campaigns.recordOutcomes([
			{
				contactId: id,
				campaignId: 'out',
				kind: 'bounced',
				bounceType: 'soft',
				status: '4.2.2',
				diagnostic: 'mailbox full',
			},
		]);
		expect((await store.contacts.getOne(id))?.subscription?.status).toBe('subscribed');
		const [unsub] = await campaigns.recordOutcomes([{ contactId: id, campaignId: 'out', kind: 'unsubscribed' }]);
		expect(value(unsub)).toMatchObject({ first: true, suppressed: 'unsubscribed' });
		expect((await store.contacts.getOne(id))?.subscription).toMatchObject({
			status: 'unsubscribed',
			source: 'campaign:out',
		});
		expect(value((await campaigns.report(['out']))[0])).toMatchObject({
			sent: 1,
			delivered: 1,
			opened: 1,
			clicked: 1,
			softBounced: 1,
			unsubscribed: 1,
			machineOpens: 1,
			bounced: 0,
			rates: { open: 1, click: 1, unsubscribe: 1 },
		});
		expect(await campaigns.sendRecord(id, 'out')).toMatchObject({
			openedAt: clock.ms,
			clickedAt: clock.ms,
			deliveredAt: expect.any(Number),
		});
		const names = (await store.events.history(id, 20)).map((e) => e.name);
		expect(names.filter((x) => x === '$email_opened')).toHaveLength(3);
		expect(names.filter((x) => x === '$email_delivered')).toHaveLength(1);
		const [missing] = await campaigns.recordOutcomes([{ contactId: 'ghost', campaignId: 'out', kind: 'opened' }]);
		expect(value(missing).recorded).toBe(false);
	});

	it('treats opens and clicks within the machine window of the send as machine hits, whoever reports them', async () => {
		const id = await fresh();
		await sendOne(id, { id: 'window' });
		const sentAt = clock.ms;
		const [early] = await campaigns.recordOutcomes([
			{
				contactId: id,
				campaignId: 'window',
				kind: 'opened',
				time: sentAt + 2000,
				machineWindowMs: 5000,
				provider: 'sendgrid',
			},
		]);
		expect(value(early)).toMatchObject({ recorded: true, first: false, machine: true });
		const [late] = await campaigns.recordOutcomes([
			{
				contactId: id,
				campaignId: 'window',
				kind: 'clicked',
				url: 'https://x.example/',
				time: sentAt + 6000,
				machineWindowMs: 5000,
			},
		]);
		expect(value(late)).toMatchObject({ first: true, machine: false });
		expect(value((await campaigns.report(['window']))[0])).toMatchObject({ opened: 0, machineOpens: 1, clicked: 1 });
		const opened = (await store.events.history(id, 20)).find((e) => e.name === '$email_opened');
		expect(opened?.properties).toMatchObject({ campaignId: 'window', machine: true, provider: 'sendgrid' });
	});

	it('erase removes the campaign records, reservations and send times of a contact', async () => {
		const id = await fresh();
		await sendOne(id, { id: 'erase', frequencyCap: { max: 5, windowMs: DAY } });
		const base = store.keys.contact(id);
		expect(await store.redis.exists(`${base}:cmp`, `${base}:snd`)).toBe(2);
		value((await store.contacts.erase([id]))[0]);
		expect(await store.redis.exists(`${base}:cmp`, `${base}:snd`, `${base}:cmpr`)).toBe(0);
	});
});

describe('SMTP transport', () => {
	it('keeps to the rate limit per second and reuses pooled connections', async () => {
		const sink = await startSmtp({ parse: false });
		try {
			const lease = acquireMailer({
				host: '127.0.0.1',
				port: sink.port,
				secure: false,
				starttls: 'never',
				poolSize: 2,
				ratePerSecond: 4,
			});
			const mail = {
				from: { address: 'a@shop.example' },
				to: 'b@example.com',
				subject: 's',
				html: '<p>x</p>',
				text: 'x',
				messageId: '<m@shop.example>',
				headers: {},
			};
			const start = Date.now();
			await Promise.all(Array.from({ length: 9 }, () => lease.mailer.send(mail)));
			const elapsed = Date.now() - start;
			lease.release();
			expect(sink.mails).toHaveLength(9);
			// 9 mails at 4 per second need at least two full rate windows after the first four.
			expect(elapsed).toBeGreaterThanOrEqual(1900);
			expect(sink.connections).toBeLessThanOrEqual(2);
		} finally {
			closeAllMailers();
			await sink.stop();
		}
	});

	it('speaks implicit TLS and STARTTLS, and refuses plain text when STARTTLS is required', async () => {
		const mail = {
			from: { address: 'a@shop.example' },
			to: 'b@example.com',
			subject: 's',
			html: '<p>x</p>',
			text: 'x',
			messageId: '<t@shop.example>',
			headers: {},
		};
		const tls = await startSmtp({ parse: false, implicitTls: true });
		const starttls = await startSmtp({ parse: false, tls: true });
		const plain = await startSmtp({ parse: false });
		try {
			const implicit = acquireMailer({
				host: '127.0.0.1',
				port: tls.port,
				secure: true,
				tlsSkipVerify: true,
				poolSize: 1,
			});
			await implicit.mailer.send(mail);
			implicit.release();
			expect(tls.mails).toHaveLength(1);
			const upgraded = acquireMailer({
				host: '127.0.0.1',
				port: starttls.port,
				secure: false,
				starttls: 'require',
				tlsSkipVerify: true,
				poolSize: 1,
			});
			await upgraded.mailer.send(mail);
			upgraded.release();
			expect(starttls.mails).toHaveLength(1);
			const strict = acquireMailer({
				host: '127.0.0.1',
				port: plain.port,
				secure: false,
				starttls: 'require',
				poolSize: 1,
			});
			await expect(strict.mailer.send(mail)).rejects.toMatchObject({
				kind: 'connection',
				message: expect.stringContaining('TLS could not be started'),
			});
			strict.release();
			expect(plain.mails).toHaveLength(0);
			// A self-signed certificate is refused unless told otherwise.
			const verified = acquireMailer({ host: '127.0.0.1', port: tls.port, secure: true, poolSize: 1, timeoutMs: 3000 });
			await expect(verified.mailer.send(mail)).rejects.toMatchObject({
				kind: 'connection',
				message: expect.stringContaining('TLS failed'),
			});
			verified.release();
		} finally {
			closeAllMailers();
			await Promise.all([tls.stop(), starttls.stop(), plain.stop()]);
		}
	});

	it('refuses a bad SMTP configuration naming the field', () => {
		expect(() => acquireMailer({ host: 'smtp example', port: 25, secure: false })).toThrow(
			expect.objectContaining({ field: 'host' }),
		);
		expect(() => acquireMailer({ host: 'smtp.example', port: 70000, secure: false })).toThrow(
			expect.objectContaining({ field: 'port' }),
		);
		expect(() => acquireMailer({ host: 'smtp.example', port: 25, secure: false, poolSize: 0 })).toThrow(
			expect.objectContaining({ field: 'poolSize' }),
		);
		expect(() => acquireMailer({ host: 'smtp.example', port: 25, secure: false, ratePerSecond: -1 })).toThrow(
			expect.objectContaining({ field: 'ratePerSecond' }),
		);
	});
});
