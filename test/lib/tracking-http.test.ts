/**
 * The webhook / tracking handler over real HTTP (a node:http server wrapping lib/tracking), with
 * real payloads of each ESP format from test/fixtures/esp, bad signatures, tampered tokens, bots.
 */
import { createHmac, createSign, generateKeyPairSync, sign as ecSign } from 'crypto';
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { createServer, type Server } from 'http';
import { tmpdir } from 'os';
import { join } from 'path';
import { closeAllStores } from '../../lib/redis/pool';
import { Campaigns, type CampaignSpec } from '../../lib/campaigns';
import {
	PIXEL_GIF,
	ROUTES,
	routeOfParams,
	routePattern,
	WebhookHandler,
	type Route,
	type WebhookConfig,
} from '../../lib/tracking';
import { openStore, topologies } from '../harness/store';
import { legacyToken } from '../harness/tokens';

const SECRET = 'tracking-signing-secret-0123456789';

/**
 * The trigger's routes below its base URL, as n8n serves them: the patterns the node registers
 * (routePattern) fill in the path parameter, and routeOfParams picks the route, as the node does.
 */
function routeOf(path: string): { route: Route; params: Record<string, string> } | null {
	for (const route of Object.keys(ROUTES) as Route[]) {
		const [prefix, param] = routePattern(route).split('/:');
		const m = new RegExp(`^/${prefix}${param ? '/([^/]+)' : ''}$`).exec(path);
		if (m) return routeOfParams(param ? { [param]: decodeURIComponent(m[1]) } : {});
	}
	return null;
}

const fixture = (name: string) => JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'esp', name), 'utf8'));

// SendGrid signs with ECDSA P-256; the verification key is the base64 DER public key.
const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const SENDGRID_PUBLIC = (sendgridKeys.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');

// A self-signed certificate standing in for the SNS signing certificate (offline tests cannot
// fetch Amazon's); the handler receives it through its fetchSnsCertificate hook.
const certDir = mkdtempSync(join(tmpdir(), 'ma-sns-'));
execFileSync(
	'openssl',
	[
		'req',
		'-x509',
		'-newkey',
		'rsa:2048',
		'-nodes',
		'-keyout',
		join(certDir, 'key.pem'),
		'-out',
		join(certDir, 'cert.pem'),
		'-days',
		'2',
		'-subj',
		'/CN=sns.amazonaws.com',
	],
	{ stdio: 'ignore' },
);
const SNS_KEY = readFileSync(join(certDir, 'key.pem'), 'utf8');
const SNS_CERT = readFileSync(join(certDir, 'cert.pem'), 'utf8');
rmSync(certDir, { recursive: true, force: true });
const CERT_URL = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-events';

function snsEnvelope(message: unknown, over: Record<string, string> = {}, version: '1' | '2' = '2') {
	const m: Record<string, string> = {
		Type: 'Notification',
		MessageId: 'b7e6a7c4-5a2f-5f3e-9f4d-1a2b3c4d5e6f',
		TopicArn: TOPIC,
		Message: typeof message === 'string' ? message : JSON.stringify(message),
		Timestamp: '2026-01-15T12:00:06.000Z',
		SignatureVersion: version,
		SigningCertURL: CERT_URL,
		UnsubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x',
		...over,
	};
	const fields =
		m.Type === 'Notification'
			? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
			: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
	const text = fields
		.filter((f) => m[f] !== undefined)
		.map((f) => `${f}\n${m[f]}\n`)
		.join('');
	m.Signature = createSign(version === '2' ? 'RSA-SHA256' : 'RSA-SHA1')
		.update(text)
		.sign(SNS_KEY, 'base64');
	return m;
}

interface Reply {
	status: number;
	headers: Record<string, string>;
	body: Buffer;
	text: string;
}

afterAll(() => closeAllStores());

describe.each(topologies)('webhook and tracking over HTTP on %s Redis', (topology) => {
	const ctx = openStore(topology);
	const { store, clock } = ctx;
	const campaigns = new Campaigns(store);
	const certificateRequests: string[] = [];
	const confirmed: string[] = [];
	const config: WebhookConfig = {
		signingSecret: SECRET,
		secrets: {
			sharedSecret: 'crm-shared-secret',
			hmacSecret: 'crm-hmac-secret',
			sendgridPublicKey: SENDGRID_PUBLIC,
			mailgunSigningKey: 'mailgun-signing-key',
			postmarkUser: 'postmark',
			postmarkPassword: 'pm-pass',
			brevoToken: 'brevo-token',
			snsTopicArns: [TOPIC],
		},
		senderName: 'Shop <News>',
		fetchSnsCertificate: async (url) => {
			certificateRequests.push(url);
			return SNS_CERT;
		},
		confirmSnsSubscription: async (url) => void confirmed.push(url),
	};
	const handler = new WebhookHandler(store, config);
	let server: Server;
	let base = '';

	beforeAll(async () => {
		server = createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on('data', (c: Buffer) => chunks.push(c));
			req.on('end', async () => {
				const url = new URL(req.url ?? '/', 'http://x');
				const match = routeOf(url.pathname);
				if (!match) {
					res.writeHead(404).end();
					return;
				}
				try {
					const out = await handler.handle(match.route, {
						method: req.method ?? 'GET',
						headers: req.headers,
						rawBody: Buffer.concat(chunks),
						params: match.params,
						query: Object.fromEntries(url.searchParams),
					});
					res.writeHead(out.status, out.headers).end(out.body);
				} catch (error) {
					res.writeHead(500).end(String(error));
				}
			});
		});
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
		base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
		await store.contacts.upsert(
			['recipient', 'bounced', 'blocked', 'complainer', 'leaver', 'soft'].map((name) => ({
				id: name,
				email: `${name}@example.com`,
				subscription: { status: 'subscribed' as const, source: 'form' },
			})),
		);
	});
	afterAll(() => new Promise<void>((r) => server.close(() => r())));

	async function call(
		method: string,
		path: string,
		body?: string | Buffer,
		headers: Record<string, string> = {},
	): Promise<Reply> {
		const res = await fetch(base + path, { method, body, headers, redirect: 'manual' });
		const buf = Buffer.from(await res.arrayBuffer());
		return {
			status: res.status,
			headers: Object.fromEntries(res.headers.entries()),
			body: buf,
			text: buf.toString('utf8'),
		};
	}

	const spec = (id: string): CampaignSpec => ({
		id,
		fromEmail: 'news@shop.example',
		subject: 'Hi',
		html: '<body><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a></body>',
		trackingBaseUrl: base,
		signingSecret: SECRET,
		trackOpens: true,
		trackClicks: true,
	});

	/** Sends (render only) and returns the tracking tokens and Message-ID of the mail. */
	async function sent(contactId: string, campaignId: string) {
		const [r] = await campaigns.send(spec(campaignId), [{ contactId }], { mode: 'render' });
		if (!r.ok || r.value.status !== 'sent' || !r.value.message) throw new Error(`send failed: ${JSON.stringify(r)}`);
		const { html, headers } = r.value.message;
		const token = (kind: string) =>
			(
				new RegExp(`${base}/${kind}/([\\w.-]+)`).exec(
					kind === 'u' ? headers['List-Unsubscribe'] : html,
				) as RegExpExecArray
			)[1];
		return { open: token('t/o'), click: token('t/c'), unsubscribe: token('u'), messageId: r.value.messageId };
	}

	const report = async (id: string) => {
		const [r] = await campaigns.report([id]);
		if (!r.ok) throw r.error;
		return r.value;
	};
	const HUMAN =
		'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';

	describe('open pixel', () => {
		it('answers a 1x1 GIF, counts a human open once and moves last activity', async () => {
			const t = await sent('recipient', `open-${topology}`);
			clock.advance(60_000);
			const first = await call('GET', `/t/o/${t.open}`, undefined, { 'user-agent': HUMAN });
			expect(first.status).toBe(200);
			expect(first.headers['content-type']).toBe('image/gif');
			expect(first.headers['cache-control']).toContain('no-store');
			expect(first.body.equals(PIXEL_GIF)).toBe(true);
			expect(first.body.subarray(0, 6).toString()).toBe('GIF89a');
			await call('GET', `/t/o/${t.open}`, undefined, { 'user-agent': HUMAN });
			expect(await report(`open-${topology}`)).toMatchObject({ opened: 1, machineOpens: 0 });
			expect((await store.contacts.getOne('recipient'))?.lastActivityAt).toBe(new Date(clock.ms).toISOString());
			const opens = (await store.events.history('recipient', 50)).filter(
				(e) => e.name === '$email_opened' && (e.properties as { campaignId: string }).campaignId === `open-${topology}`,
			);
			expect(opens).toHaveLength(2);
			expect(opens[0].properties).toEqual({ campaignId: `open-${topology}`, messageId: t.messageId });
		});

		it('flags scanners, HEAD requests and opens within seconds of the send as machine, not engagement', async () => {
			const id = `bots-${topology}`;
			const t = await sent('soft', id);
			const before = (await store.contacts.getOne('soft'))?.lastActivityAt;
			clock.advance(1000);
			expect((await call('GET', `/t/o/${t.open}`, undefined, { 'user-agent': HUMAN })).status).toBe(200);
			clock.advance(60_000);
			expect((await call('HEAD', `/t/o/${t.open}`, undefined, { 'user-agent': HUMAN })).status).toBe(200);
			expect((await call('GET', `/t/o/${t.open}`, undefined, { 'user-agent': 'Barracuda Sentinel (EE)' })).status).toBe(
				200,
			);
			expect(
				(
					await call('GET', `/t/c/${t.click}`, undefined, {
						'user-agent': 'Mozilla/5.0 (compatible; Microsoft Office Existence Discovery)',
					})
				).status,
			).toBe(302);
			expect(await report(id)).toMatchObject({ opened: 0, clicked: 0, machineOpens: 3, machineClicks: 1 });
			expect((await store.contacts.getOne('soft'))?.lastActivityAt).toBe(before);
			const machine = (await store.events.history('soft', 50)).filter(
				(e) => (e.properties as { campaignId?: string }).campaignId === id && e.name !== '$email_sent',
			);
			expect(machine.every((e) => (e.properties as { machine?: boolean }).machine === true)).toBe(true);
			expect(await campaigns.sendRecord('soft', id)).not.toHaveProperty('openedAt');
		});

		it('counts a hit without a User-Agent as a machine', async () => {
			const id = `noua-${topology}`;
			const t = await sent('recipient', id);
			clock.advance(60_000);
			// Straight to the handler: fetch would add its own User-Agent.
			const open = await handler.handle('open', { method: 'GET', headers: {}, rawBody: '', params: { token: t.open } });
			const click = await handler.handle('click', {
				method: 'GET',
				headers: {},
				rawBody: '',
				params: { token: t.click },
			});
			expect([open.status, click.status]).toEqual([200, 302]);
			expect(await report(id)).toMatchObject({ opened: 0, clicked: 0, machineOpens: 1, machineClicks: 1 });
		});

		it('refuses a tampered or wrong-kind token with 400 and records nothing', async () => {
			const t = await sent('leaver', `badopen-${topology}`);
			clock.advance(60_000);
			const tampered = (t.open[5] === 'A' ? 'B' : 'A').padStart(1);
			const bad = await call('GET', `/t/o/${t.open.slice(0, 5)}${tampered}${t.open.slice(6)}`);
			expect(bad.status).toBe(400);
			expect((await call('GET', `/t/o/${t.click}`)).status).toBe(400);
			expect((await call('GET', '/t/o/garbage')).status).toBe(400);
			expect((await call('POST', `/t/o/${t.open}`)).status).toBe(405);
			expect(await report(`badopen-${topology}`)).toMatchObject({ opened: 0, machineOpens: 0 });
		});
	});

	describe('click redirect', () => {
		it('redirects (302) only to the signed target and counts a unique click', async () => {
			const id = `click-${topology}`;
			const t = await sent('recipient', id);
			clock.advance(60_000);
			const r = await call('GET', `/t/c/${t.click}?url=${encodeURIComponent('https://evil.example/')}`, undefined, {
				'user-agent': HUMAN,
			});
			expect(r.status).toBe(302);
			expect(r.headers.location).toBe('https://shop.example/sale?x=1&y=2');
			await call('GET', `/t/c/${t.click}`, undefined, { 'user-agent': HUMAN });
			expect(await report(id)).toMatchObject({ clicked: 1 });
			const click = (await store.events.history('recipient', 50)).find(
				(e) => e.name === '$email_clicked' && (e.properties as { campaignId: string }).campaignId === id,
			);
			expect(click?.properties).toMatchObject({ url: 'https://shop.example/sale?x=1&y=2' });
		});

		it('never redirects on a bad, tampered or forged token (400, no Location)', async () => {
			const t = await sent('recipient', `forge-${topology}`);
			const middle = t.click.length >> 1;
			const flipped = `${t.click.slice(0, middle)}${t.click[middle] === 'A' ? 'B' : 'A'}${t.click.slice(middle + 1)}`;
			const old = legacyToken(SECRET, {
				k: 'c',
				c: 'recipient',
				m: `forge-${topology}`,
				u: 'https://shop.example/',
				t: 1,
			});
			const [payload, sig] = old.split('.');
			const forged = Buffer.from(
				JSON.stringify({ k: 'c', c: 'recipient', m: `forge-${topology}`, u: 'https://evil.example/', t: 1 }),
			).toString('base64url');
			for (const token of [
				flipped,
				t.click.slice(0, -3),
				`${forged}.${sig}`,
				`${payload}.${sig.slice(0, -2)}xx`,
				t.open,
				t.unsubscribe,
				'x.y',
				forged,
			]) {
				const r = await call('GET', `/t/c/${token}`);
				expect(r.status).toBe(400);
				expect(r.headers.location).toBeUndefined();
			}
		});

		it('follows a link signed before tokens were encrypted (mails already sent keep working)', async () => {
			const id = `legacy-${topology}`;
			await sent('recipient', id);
			clock.advance(60_000);
			const old = legacyToken(SECRET, {
				k: 'c',
				c: 'recipient',
				m: id,
				u: 'https://shop.example/old',
				t: clock.ms - 60_000,
			});
			const r = await call('GET', `/t/c/${old}`, undefined, { 'user-agent': HUMAN });
			expect(r.status).toBe(302);
			expect(r.headers.location).toBe('https://shop.example/old');
			expect(await report(id)).toMatchObject({ clicked: 1 });
		});
	});

	describe('unsubscribe (RFC 8058)', () => {
		it('GET shows a confirmation page and changes nothing; POST unsubscribes and answers 200', async () => {
			await store.contacts.change([{ id: 'leaver', subscription: { status: 'subscribed', source: 'form' } }], 'update');
			const id = `unsub-${topology}`;
			const t = await sent('leaver', id);
			const page = await call('GET', `/u/${t.unsubscribe}`, undefined, { 'user-agent': 'Mimecast link scanner' });
			expect(page.status).toBe(200);
			expect(page.headers['content-type']).toContain('text/html');
			expect(page.text).toContain('<form method="post">');
			expect(page.text).toContain('from Shop &#60;News&#62;');
			expect((await call('HEAD', `/u/${t.unsubscribe}`)).status).toBe(200);
			expect((await store.contacts.getOne('leaver'))?.subscription?.status).toBe('subscribed');

			const post = await call('POST', `/u/${t.unsubscribe}`, 'List-Unsubscribe=One-Click', {
				'content-type': 'application/x-www-form-urlencoded',
			});
			expect(post.status).toBe(200);
			expect(post.text).toContain('You are unsubscribed');
			expect((await store.contacts.getOne('leaver'))?.subscription).toMatchObject({
				status: 'unsubscribed',
				source: `campaign:${id}`,
			});
			await call('POST', `/u/${t.unsubscribe}`, 'List-Unsubscribe=One-Click');
			expect(await report(id)).toMatchObject({ unsubscribed: 1 });
			expect((await store.events.history('leaver', 50)).filter((e) => e.name === '$email_unsubscribed')).toHaveLength(
				1,
			);
		});

		it('unsubscribes only on a POST that says List-Unsubscribe=One-Click (form or multipart)', async () => {
			const subscribe = (id: string) =>
				store.contacts.change([{ id, subscription: { status: 'subscribed', source: 'form' } }], 'update');
			const status = async (id: string) => (await store.contacts.getOne(id))?.subscription?.status;
			await subscribe('leaver');
			const t = await sent('leaver', `oneclick-${topology}`);
			for (const [body, type] of [
				['', 'application/x-www-form-urlencoded'],
				['List-Unsubscribe=Other', 'application/x-www-form-urlencoded'],
				['{}', 'application/json'],
			]) {
				const r = await call('POST', `/u/${t.unsubscribe}`, body, { 'content-type': type });
				expect(r.status).toBe(400);
				expect(r.text).toContain('<form method="post">');
			}
			expect(await status('leaver')).toBe('subscribed');
			const form = new FormData();
			form.append('List-Unsubscribe', 'One-Click');
			const multipart = await fetch(`${base}/u/${t.unsubscribe}`, { method: 'POST', body: form });
			expect(multipart.status).toBe(200);
			expect(await status('leaver')).toBe('unsubscribed');
		});

		it('answers 400 with a page for a bad token, and never unsubscribes anyone', async () => {
			const t = await sent('recipient', `unsubbad-${topology}`);
			const [, sig] = legacyToken(SECRET, { k: 'u', c: 'recipient', m: `unsubbad-${topology}`, t: 1 }).split('.');
			const other = Buffer.from(JSON.stringify({ k: 'u', c: 'bounced', m: `unsubbad-${topology}`, t: 1 })).toString(
				'base64url',
			);
			const r = await call('POST', `/u/${other}.${sig}`, 'List-Unsubscribe=One-Click');
			expect(r.status).toBe(400);
			expect(r.text).toContain('not valid');
			expect((await store.contacts.getOne('bounced'))?.subscription?.status).not.toBe('unsubscribed');
			expect((await call('PUT', `/u/${t.unsubscribe}`)).status).toBe(405);
		});
	});

	describe('events from a CRM, site or form', () => {
		const post = (body: unknown, headers: Record<string, string>) =>
			call('POST', '/events', typeof body === 'string' ? body : JSON.stringify(body), {
				'content-type': 'application/json',
				...headers,
			});

		it('reads a text/plain body as JSON (navigator.sendBeacon sends that, with no CORS preflight)', async () => {
			const r = await post(
				{ contactId: `beacon-${topology}`, event: 'page_viewed' },
				{ 'content-type': 'text/plain;charset=UTF-8', 'x-webhook-secret': 'crm-shared-secret' },
			);
			expect(r.status).toBe(200);
			expect(JSON.parse(r.text)).toMatchObject({ recorded: 1 });
		});

		it('needs the shared secret header or a valid HMAC of the raw body', async () => {
			const body = JSON.stringify({ email: 'lead@example.com', event: 'form_submitted' });
			expect((await post(body, {})).status).toBe(401);
			expect((await post(body, { 'x-webhook-secret': 'wrong' })).status).toBe(401);
			const hmac = createHmac('sha256', 'crm-hmac-secret').update(body).digest('hex');
			expect((await post(body, { 'x-signature': `sha256=${hmac}` })).status).toBe(200);
			expect((await post(body.replace('form', 'from'), { 'x-signature': `sha256=${hmac}` })).status).toBe(401);
			const open = new WebhookHandler(store, { signingSecret: '', secrets: {} });
			const tracking = await open.handle('click', {
				method: 'GET',
				headers: {},
				rawBody: '',
				params: { token: 'x.y' },
			});
			expect(tracking.status).toBe(500);
			expect(String(tracking.body)).toContain('Signing Secret');
			const r = await open.handle('events', { method: 'POST', headers: {}, rawBody: body, params: {} });
			expect(r.status).toBe(401);
			expect(String(r.body)).toContain('not configured');
		});

		it('records single and batched events (contacts by id or e-mail, with fields and tags) and emits each', async () => {
			const r = await post(
				[
					{
						email: 'New.Lead@Example.com',
						event: 'whitepaper_downloaded',
						properties: { topic: 'seo' },
						timestamp: 1768478400,
						fields: { company: 'ACME' },
						tags: ['lead'],
					},
					{ contactId: 'recipient', name: 'page_viewed', properties: { path: '/pricing' }, idempotencyKey: 'pv-1' },
					{ contactId: 'recipient', name: 'page_viewed', properties: { path: '/pricing' }, idempotencyKey: 'pv-1' },
					{ event: 'no_contact' },
					{ contactId: 'recipient', event: '$email_opened' },
					'not an object',
				],
				{ 'x-webhook-secret': 'crm-shared-secret' },
			);
			expect(r.status).toBe(200);
			const body = JSON.parse(r.text);
			expect(body).toMatchObject({ received: 6, recorded: 2, duplicates: 1 });
			expect(body.errors.map((e: { index: number; field: string }) => [e.index, e.field])).toEqual([
				[3, 'events[3].contactId'],
				[4, 'name'],
				[5, 'events[5]'],
			]);
			const lead = await store.contacts.getOne('new.lead@example.com');
			expect(lead).toMatchObject({ email: 'new.lead@example.com', fields: { company: 'ACME' }, tags: ['lead'] });
			const [downloaded] = (await store.events.history('new.lead@example.com')).filter(
				(e) => e.name === 'whitepaper_downloaded',
			);
			expect(downloaded).toMatchObject({
				time: '2026-01-15T12:00:00.000Z',
				properties: { topic: 'seo' },
				source: 'webhook',
			});
			expect(await store.events.countSince('recipient', 'page_viewed', 0)).toBe(1);
		});

		it('accepts {events: [...]} and refuses bad JSON, empty and oversized batches', async () => {
			const auth = { 'x-webhook-secret': 'crm-shared-secret' };
			expect(
				JSON.parse(
					(
						await post(
							{
								events: [
									{ contactId: 'recipient', event: 'a' },
									{ contactId: 'recipient', event: 'b' },
								],
							},
							auth,
						)
					).text,
				),
			).toMatchObject({ recorded: 2 });
			expect((await post('{oops', auth)).status).toBe(400);
			expect((await post([], auth)).status).toBe(400);
			expect(
				(
					await post(
						Array.from({ length: 1001 }, () => ({ contactId: 'x', event: 'y' })),
						auth,
					)
				).status,
			).toBe(413);
			expect((await call('GET', '/events')).status).toBe(405);
		});

		it('hands the emitted events to the trigger', async () => {
			const out = await handler.handle('events', {
				method: 'POST',
				headers: { 'x-webhook-secret': 'crm-shared-secret' },
				rawBody: JSON.stringify({ contactId: 'recipient', event: 'cart_abandoned', properties: { value: 42 } }),
				params: {},
			});
			expect(out.events).toEqual([
				{
					source: 'events',
					contactId: 'recipient',
					event: 'cart_abandoned',
					properties: { value: 42 },
					time: new Date(clock.ms).toISOString(),
					eventId: expect.any(String),
					contactCreated: false,
				},
			]);
		});
	});

	describe('ESP event webhooks', () => {
		const reset = async () => {
			await store.contacts.change(
				['recipient', 'bounced', 'blocked', 'complainer', 'leaver', 'soft'].map((id) => ({
					id,
					subscription: { status: 'subscribed' as const, source: 'form' },
				})),
				'update',
			);
		};
		const status = async (id: string) => (await store.contacts.getOne(id))?.subscription?.status;

		it('SendGrid: verifies the ECDSA signature, normalises every event, matches the Message-ID', async () => {
			await reset();
			const id = `sg-${topology}`;
			const t = await sent('recipient', id);
			const events = fixture('sendgrid-events.json');
			for (const e of events) if (e['smtp-id'] === '<14c5d75ce93.dfd.64b469@ismtpd-555>') e['smtp-id'] = t.messageId;
			const body = JSON.stringify(events);
			const ts = String(Math.floor(clock.ms / 1000));
			const signature = ecSign('sha256', Buffer.from(ts + body), sendgridKeys.privateKey).toString('base64');
			const headers = {
				'content-type': 'application/json',
				'x-twilio-email-event-webhook-signature': signature,
				'x-twilio-email-event-webhook-timestamp': ts,
			};

			expect((await call('POST', '/esp/sendgrid', body.replace('recipient@', 'someone@'), headers)).status).toBe(401);
			expect(
				(
					await call('POST', '/esp/sendgrid', body, {
						...headers,
						'x-twilio-email-event-webhook-timestamp': String(Number(ts) - 1),
					})
				).status,
			).toBe(401);
			const r = await call('POST', '/esp/sendgrid', body, headers);
			expect(r.status).toBe(200);
			expect(JSON.parse(r.text)).toEqual({ received: 8, recorded: 8, ignored: 0 });
			expect(await status('bounced')).toBe('bounced');
			expect(await status('blocked')).toBe('subscribed');
			expect(await status('complainer')).toBe('complained');
			expect(await status('leaver')).toBe('unsubscribed');
			const bounce = (await store.events.history('bounced')).find((e) => e.name === '$email_bounced');
			expect(bounce?.properties).toMatchObject({
				type: 'hard',
				status: '5.1.1',
				provider: 'sendgrid',
				diagnostic: expect.stringContaining('does not exist'),
			});
			const soft = (await store.events.history('blocked')).find((e) => e.name === '$email_bounced');
			expect(soft?.properties).toMatchObject({ type: 'soft', status: '4.7.0' });
			// The delivered event carried our Message-ID: it counts for the campaign.
			expect(await report(id)).toMatchObject({ delivered: 1 });
			const opens = (await store.events.history('recipient', 100)).filter(
				(e) => e.name === '$email_opened' && (e.properties as { provider?: string }).provider === 'sendgrid',
			);
			expect(opens.map((e) => Boolean((e.properties as { machine?: boolean }).machine)).sort()).toEqual([false, true]);
			// A replay of the same deliveries changes nothing more.
			expect(JSON.parse((await call('POST', '/esp/sendgrid', body, headers)).text).recorded).toBeLessThan(8);
			expect(await report(id)).toMatchObject({ delivered: 1 });
		});

		it('Mailgun: HMAC signature and replay window; permanent failure is a hard bounce matched by Message-ID', async () => {
			await reset();
			const id = `mg-${topology}`;
			const t = await sent('bounced', id);
			const signed = (name: string, messageId?: string) => {
				const payload = fixture(name);
				clock.ms = Number(payload.signature.timestamp) * 1000 + 5000;
				payload.signature.signature = createHmac('sha256', 'mailgun-signing-key')
					.update(payload.signature.timestamp + payload.signature.token)
					.digest('hex');
				if (messageId) payload['event-data'].message.headers['message-id'] = messageId.slice(1, -1);
				return payload;
			};
			const failed = signed('mailgun-failed-permanent.json', t.messageId);
			const bad = { ...failed, signature: { ...failed.signature, signature: 'f'.repeat(64) } };
			expect((await call('POST', '/esp/mailgun', JSON.stringify(bad))).status).toBe(401);
			const r = await call('POST', '/esp/mailgun', JSON.stringify(failed));
			expect(JSON.parse(r.text)).toEqual({ received: 1, recorded: 1, ignored: 0 });
			expect(await status('bounced')).toBe('bounced');
			expect(await report(id)).toMatchObject({ bounced: 1 });
			expect(
				(await store.events.history('bounced', 100)).find(
					(e) => e.name === '$email_bounced' && (e.properties as { provider?: string }).provider === 'mailgun',
				)?.properties,
			).toMatchObject({ campaignId: id, type: 'hard', status: '550' });
			clock.ms += 3_600_000;
			expect((await call('POST', '/esp/mailgun', JSON.stringify(failed))).status).toBe(401);
			const opened = signed('mailgun-opened.json');
			expect(JSON.parse((await call('POST', '/esp/mailgun', JSON.stringify(opened))).text)).toMatchObject({
				recorded: 1,
			});
		});

		it('Postmark: basic auth; bounce, open and subscription change', async () => {
			await reset();
			const auth = (user: string, pass: string) => ({
				authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
				'content-type': 'application/json',
			});
			const bounce = JSON.stringify(fixture('postmark-bounce.json'));
			const wrong = await call('POST', '/esp/postmark', bounce, auth('postmark', 'nope'));
			expect(wrong.status).toBe(401);
			expect(wrong.headers['www-authenticate']).toContain('Basic');
			expect((await call('POST', '/esp/postmark', bounce)).status).toBe(401);
			expect(JSON.parse((await call('POST', '/esp/postmark', bounce, auth('postmark', 'pm-pass'))).text)).toMatchObject(
				{ recorded: 1 },
			);
			expect(await status('bounced')).toBe('bounced');
			expect(
				(await store.events.history('bounced', 100)).find(
					(e) => e.name === '$email_bounced' && (e.properties as { provider?: string }).provider === 'postmark',
				)?.properties,
			).toMatchObject({ campaignId: 'spring', type: 'hard', status: '1' });
			await call('POST', '/esp/postmark', JSON.stringify(fixture('postmark-open.json')), auth('postmark', 'pm-pass'));
			await call(
				'POST',
				'/esp/postmark',
				JSON.stringify(fixture('postmark-subscription-change.json')),
				auth('postmark', 'pm-pass'),
			);
			expect(await status('leaver')).toBe('unsubscribed');
		});

		it('Amazon SES through SNS: verifies the signature with the certificate, confirms subscriptions', async () => {
			await reset();
			const id = `ses-${topology}`;
			const t = await sent('bounced', id);
			const notification = fixture('ses-bounce.json');
			notification.mail.headers = notification.mail.headers.map((h: { name: string; value: string }) =>
				h.name === 'Message-ID' ? { ...h, value: t.messageId } : h.name === 'X-MA-Campaign' ? { ...h, value: id } : h,
			);
			const envelope = snsEnvelope(notification);
			certificateRequests.length = 0;
			expect(
				(
					await call(
						'POST',
						'/esp/ses',
						JSON.stringify({ ...envelope, Message: envelope.Message.replace('Permanent', 'Transient') }),
					)
				).status,
			).toBe(401);
			expect(
				(
					await call(
						'POST',
						'/esp/ses',
						JSON.stringify({ ...envelope, SigningCertURL: 'https://sns.us-east-1.amazonaws.com.evil.test/cert.pem' }),
					)
				).status,
			).toBe(401);
			expect(
				(
					await call(
						'POST',
						'/esp/ses',
						JSON.stringify({ ...envelope, SigningCertURL: 'http://sns.us-east-1.amazonaws.com/cert.pem' }),
					)
				).status,
			).toBe(401);
			expect(certificateRequests).toEqual([CERT_URL]);
			const r = await call('POST', '/esp/ses', JSON.stringify(envelope), {
				'content-type': 'text/plain; charset=UTF-8',
				'x-amz-sns-message-type': 'Notification',
			});
			expect(JSON.parse(r.text)).toEqual({ received: 1, recorded: 1, ignored: 0 });
			expect(await status('bounced')).toBe('bounced');
			expect(await report(id)).toMatchObject({ bounced: 1 });
			expect(
				(await store.events.history('bounced', 100)).find(
					(e) => e.name === '$email_bounced' && (e.properties as { provider?: string }).provider === 'ses',
				)?.properties,
			).toMatchObject({ campaignId: id, status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 user unknown' });

			// Signature version 1 (SHA1) and a complaint.
			const complaint = snsEnvelope(fixture('ses-complaint.json'), {}, '1');
			expect(JSON.parse((await call('POST', '/esp/ses', JSON.stringify(complaint))).text)).toMatchObject({
				recorded: 1,
			});
			expect(await status('complainer')).toBe('complained');

			const subscribe = snsEnvelope('You have chosen to subscribe...', {
				Type: 'SubscriptionConfirmation',
				Token: 'tok',
				SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok',
			});
			delete (subscribe as Record<string, string>).UnsubscribeURL;
			expect((await call('POST', '/esp/ses', JSON.stringify(subscribe))).status).toBe(200);
			expect(confirmed).toEqual(['https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok']);
			const otherTopic = snsEnvelope(fixture('ses-complaint.json'), {
				TopicArn: 'arn:aws:sns:us-east-1:999999999999:other',
			});
			expect((await call('POST', '/esp/ses', JSON.stringify(otherTopic))).status).toBe(403);
		});

		it('Brevo: bearer token; bounces, proxy opens as machine, clicks, spam', async () => {
			await reset();
			const body = JSON.stringify(fixture('brevo-events.json'));
			expect((await call('POST', '/esp/brevo', body, { authorization: 'Bearer wrong' })).status).toBe(401);
			const r = await call('POST', '/esp/brevo', body, { authorization: 'Bearer brevo-token' });
			expect(JSON.parse(r.text)).toEqual({ received: 5, recorded: 5, ignored: 0 });
			expect(await status('bounced')).toBe('bounced');
			expect(await status('soft')).toBe('subscribed');
			expect(await status('complainer')).toBe('complained');
			const opens = (await store.events.history('recipient', 100)).filter(
				(e) => (e.properties as { provider?: string }).provider === 'brevo',
			);
			expect(opens.map((e) => [e.name, Boolean((e.properties as { machine?: boolean }).machine)])).toEqual(
				expect.arrayContaining([
					['$email_opened', true],
					['$email_clicked', false],
				]),
			);
		});

		it('counts an ESP-reported open seconds after our send as a machine open', async () => {
			const id = `espwin-${topology}`;
			const t = await sent('recipient', id);
			const open = (ms: number) =>
				JSON.stringify({
					event: 'opened',
					email: 'recipient@example.com',
					'message-id': t.messageId,
					ts_epoch: ms,
					user_agent: HUMAN,
				});
			const early = await handler.handle('esp', {
				method: 'POST',
				headers: { authorization: 'Bearer brevo-token' },
				rawBody: open(clock.ms + 1000),
				params: { provider: 'brevo' },
			});
			expect(early.events[0]).toMatchObject({ type: 'opened', campaignId: id, machine: true, first: false });
			const late = await handler.handle('esp', {
				method: 'POST',
				headers: { authorization: 'Bearer brevo-token' },
				rawBody: open(clock.ms + 120_000),
				params: { provider: 'brevo' },
			});
			expect(late.events[0]).toMatchObject({ machine: false, first: true });
			expect(await report(id)).toMatchObject({ opened: 1, machineOpens: 1 });
		});

		it('ignores unknown recipients and providers, refuses bad JSON', async () => {
			const events = [{ email: 'stranger@example.com', event: 'delivered', timestamp: 1 }];
			const body = JSON.stringify(events);
			const ts = String(Math.floor(clock.ms / 1000));
			const signature = ecSign('sha256', Buffer.from(ts + body), sendgridKeys.privateKey).toString('base64');
			const r = await call('POST', '/esp/sendgrid', body, {
				'x-twilio-email-event-webhook-signature': signature,
				'x-twilio-email-event-webhook-timestamp': ts,
			});
			expect(JSON.parse(r.text)).toEqual({ received: 1, recorded: 0, ignored: 1 });
			expect((await call('POST', '/esp/sparkpost', '{}')).status).toBe(404);
			expect((await call('POST', '/esp/brevo', '{nope', { authorization: 'Bearer brevo-token' })).status).toBe(400);
		});
	});
});
