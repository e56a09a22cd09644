import { readFileSync } from 'fs';
import { join } from 'path';
import { closeAllStores } from '../../lib/redis/pool';
import { ValidationError } from '../../lib/errors';
import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import {
	Inbound,
	MAX_MIME_NODES,
	parseInbound,
	rebuildMessage,
	type InboundMessage,
	type SendMatch,
} from '../../lib/inbound';
import { allParts, MAX_DEPTH, MAX_PARTS, parseMime } from '../../lib/inbound/mime';
import { openStore, topologies } from '../harness/store';

afterAll(() => closeAllStores());

const fixture = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', 'inbound', name));

// Each fixture with what a careful human reads from it.
const CORPUS: Array<[string, Partial<InboundMessage> & { original?: string }]> = [
	[
		'postfix-hard-bounce.eml',
		{
			kind: 'hard_bounce',
			recipient: 'jane.doe@example.org',
			status: '5.1.1',
			original: 'camp-winter26.c-4711@shop.example',
		},
	],
	[
		'postfix-soft-bounce-delayed.eml',
		{
			kind: 'soft_bounce',
			recipient: 'tom@slow.example.net',
			status: '4.4.1',
			original: 'cart-reminder.c-88@shop.example',
		},
	],
	[
		'exim-hard-bounce-plaintext.eml',
		{
			kind: 'hard_bounce',
			recipient: 'old.customer@example.com',
			status: '5.1.1',
			original: 'winback.c-17@shop.example',
		},
	],
	[
		'exchange-online-ndr.eml',
		{
			kind: 'hard_bounce',
			recipient: 'm.schmidt@contoso.com',
			status: '5.1.10',
			original: 'newsletter-2026-03.c-204@shop.example',
		},
	],
	[
		'gmail-dsn-no-such-user.eml',
		{
			kind: 'hard_bounce',
			recipient: 'no.such.person.4711@gmail.com',
			status: '5.1.1',
			original: 'welcome.c-301@shop.example',
		},
	],
	[
		'gmail-dsn-mailbox-full.eml',
		{ kind: 'soft_bounce', recipient: 'full.box@gmail.com', status: '5.2.2', original: 'promo-jan.c-77@shop.example' },
	],
	['amazon-ses-bounce.eml', { kind: 'hard_bounce', recipient: 'bounce@simulator.amazonses.com', status: '5.1.1' }],
	[
		'mimecast-policy-block.eml',
		{
			kind: 'soft_bounce',
			recipient: 'buyer@corp.example',
			status: '5.7.1',
			original: 'new-arrivals.c-61@shop.example',
		},
	],
	[
		'yahoo-arf-complaint.eml',
		{
			kind: 'complaint',
			recipient: 'lisa.w@yahoo.com',
			feedbackType: 'abuse',
			original: 'flash-sale.c-655@shop.example',
		},
	],
	[
		'aol-arf-redacted.eml',
		{ kind: 'complaint', recipient: null, feedbackType: 'abuse', original: 'flash-sale.c-900@shop.example' },
	],
	[
		'microsoft-jmrp-complaint.eml',
		{
			kind: 'complaint',
			recipient: 'kai.meyer@outlook.com',
			feedbackType: 'abuse',
			original: 'last-chance.c-990@shop.example',
		},
	],
	[
		'outlook-automatic-reply.eml',
		{
			kind: 'auto_reply',
			recipient: 'anna.becker@fabrikam.example',
			original: 'newsletter-2026-03.c-311@shop.example',
		},
	],
	[
		'gmail-vacation-responder.eml',
		{ kind: 'auto_reply', recipient: 'ben.okafor@gmail.com', original: 'newsletter-2026-03.c-312@shop.example' },
	],
	[
		'cpanel-autoresponder.eml',
		{ kind: 'auto_reply', recipient: 'info@bakery.example', original: 'newsletter-2026-03.c-313@shop.example' },
	],
	['german-abwesenheitsnotiz.eml', { kind: 'auto_reply', recipient: 'j.wagner@stadtwerke.example' }],
	[
		'french-reponse-automatique.eml',
		{
			kind: 'auto_reply',
			recipient: 'claire.dubois@orange.example',
			subject: 'Réponse automatique : Votre lettre de mars',
		},
	],
	['list-unsubscribe-mailto.eml', { kind: 'unsubscribe', recipient: 'jane.doe@example.org' }],
	[
		'unsubscribe-request-reply.eml',
		{ kind: 'unsubscribe', recipient: 'p.novak@example.cz', original: 'camp-winter26.c-5150@shop.example' },
	],
	// The failure families measured against sisimai's corpus (docs/bounces.md), in messages of our own.
	[
		'gmail-delay-warning.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'host_unknown',
			recipient: 'rosa.mendez@slow-dns.example',
			status: null,
			original: 'autumn-picks.c-5521@shop.example',
		},
	],
	[
		'exim-ptr-rejected.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'require_ptr',
			recipient: 'li.wei@example.cn',
			status: '5.7.1',
			original: 'new-arrivals.c-8812@shop.example',
		},
	],
	[
		'dsn-disabled-wrapped-5-1-0.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'suspend',
			recipient: 'tomasz.nowak@example.pl',
			status: '5.2.1',
			original: 'weekly-46.c-301@shop.example',
		},
	],
	[
		'postfix-user-unknown-4xx-failed.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'gone.user@example.se',
			status: '4.1.1',
			original: 'weekly-46.c-302@shop.example',
		},
	],
	[
		'postfix-user-unknown-after-data.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'keiko.sato@mobile.example.jp',
			status: '5.0.0',
			original: 'weekly-46.c-303@shop.example',
		},
	],
	[
		'dsn-deliverable-2-1-5.eml',
		{ kind: 'other', bounceReason: null, recipient: 'buyer@partner.example', status: '2.1.5' },
	],
	[
		'google-groups-no-permission.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'team-news@groups.example.org',
			status: null,
			original: 'weekly-46.c-305@shop.example',
		},
	],
	[
		'exim-auto-submitted-unrouteable.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'host_unknown',
			recipient: 'ivan.petrov@no-such-domain.example',
			status: null,
			original: 'weekly-46.c-306@shop.example',
		},
	],
	[
		'plaintext-bounce-messageid-first.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'omar.haddad@example.net',
			status: '5.1.1',
			original: 'weekly-46.c-307@shop.example',
		},
	],
	[
		'hotmail-plain-complaint.eml',
		{
			kind: 'complaint',
			recipient: 'nina.k@hotmail.example',
			feedbackType: 'abuse',
			original: 'weekly-46.c-308@shop.example',
		},
	],
	[
		'ses-bounce-sns.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'hana.kim@example.kr',
			status: '5.1.1',
			original: 'weekly-46.c-309@shop.example',
		},
	],
	[
		'ses-complaint-sns.eml',
		{
			kind: 'complaint',
			recipient: 'leo.martin@example.fr',
			feedbackType: 'abuse',
			original: 'weekly-46.c-310@shop.example',
		},
	],
	[
		'sendmail-report-without-delimiters.eml',
		{ kind: 'hard_bounce', bounceReason: 'user_unknown', recipient: 'lukas.berg@example.net', status: '5.1.1' },
	],
	[
		'dsn-boundary-header-differs.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'mailbox_full',
			recipient: 'marta.rossi@example.it',
			status: '4.2.2',
			original: 'weekly-46.c-311@shop.example',
		},
	],
	[
		'exim-two-recipients-two-reasons.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'pablo.ruiz@example.es',
			status: '5.1.1',
			original: 'weekly-46.c-312@shop.example',
		},
	],
	// The families left after the first round (docs/bounces.md), again in messages of our own.
	[
		'gmail-address-not-found-5-0-0.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'giulia.conti@studio-example.it',
			status: '5.0.0',
			original: 'weekly-47.c-401@shop.example',
		},
	],
	// An opt-out feedback report is a complaint even when marked Auto-Submitted; a relayed report is no bounce.
	[
		'arf-opt-out-auto-submitted.eml',
		{
			kind: 'complaint',
			feedbackType: 'opt-out',
			recipient: 'noor.haddad@mailbox-example.net',
			original: 'winter-preview.c-511@shop.example',
		},
	],
	[
		'dsn-relayed.eml',
		{ kind: 'other', recipient: 'pablo.ruiz@legacy-example.org', original: 'winter-preview.c-512@shop.example' },
	],
	// The reporting MTA's own meanings (lib/inbound/mta.ts). Exchange Online's 5.1.351 relays the next
	// server's answer to RCPT TO: naming the address, it refused that recipient (hard); without it, it
	// is "user unknown" with no stage (soft).
	[
		'office365-relay-unknown-user.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'kenji.watanabe@isp-example.ne.jp',
			status: '5.1.351',
			original: 'autumn-sale.c-402@shop.example',
		},
	],
	[
		'office365-relay-user-unknown-no-address.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'lena.fischer@mailhost-example.de',
			status: '5.1.351',
			original: 'winter-preview.c-501@shop.example',
		},
	],
	// MessageLabs reports its customer's server's answer to RCPT TO, and its own "542 a@b Rejected".
	[
		'messagelabs-542-rejected.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'o.nowak@firma-example.pl',
			status: '5.0.0',
			original: 'winter-preview.c-502@shop.example',
		},
	],
	[
		'messagelabs-no-such-user.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'm.jensen@handel-example.dk',
			status: '5.0.0',
			original: 'weekly-47.c-503@shop.example',
		},
	],
	// au's heading classifies the account: "disabled" is a suspended subscriber, not a missing one.
	[
		'au-account-disabled.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'suspend',
			recipient: 'sakura.ito.0420@au.com',
			status: '5.0.0',
			original: 'winter-preview.c-508@shop.example',
		},
	],
	// Postfix names the command every remote answer replied to; without one, "<a@b>: User unknown" has no stage.
	[
		'postfix-said-without-stage.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'daiki.kobayashi@town-example.or.jp',
			status: null,
			original: 'winter-preview.c-509@shop.example',
		},
	],
	[
		'postfix-said-in-reply-to-rcpt.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'user_unknown',
			recipient: 'ren.yamada@town-example.or.jp',
			status: null,
			original: 'winter-preview.c-510@shop.example',
		},
	],
	// Gateways whose reports name no SMTP stage: the directory-like words they quote are their own
	// answer, not a recipient's server's at RCPT TO (soft, as sisimai reads them).
	...(
		[
			['activehunter-recipient-rejected.eml', 'haruto.sato@school-example.ed.jp', 'winter-preview.c-504@shop.example'],
			['apachejames-no-such-user.eml', '5550142@sms-gateway-example.com', 'winter-preview.c-505@shop.example'],
			['zoho-invalid-address.eml', 'ravi.kumar@studio-example.in', 'winter-preview.c-506@shop.example'],
			['x2-no-account.eml', 'yui.tanaka@portal-example.co.jp', 'winter-preview.c-507@shop.example'],
		] as const
	).map(([file, recipient, original]): [string, Partial<InboundMessage> & { original?: string }] => [
		file,
		{ kind: 'soft_bounce', bounceReason: 'filtered', recipient, status: null, original },
	]),
	// "Unknown user a@b" and "a@b... No such user" with no SMTP stage are what carriers and gateways answer
	// to mail they filter after DATA (sisimai reads them so in most of its samples): soft, on purpose.
	[
		'gateway-address-no-such-user.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'anders.lund@corp-example.dk',
			status: '5.0.0',
			original: 'weekly-47.c-403@shop.example',
		},
	],
	[
		'exim-account-or-domain-may-not-exist.eml',
		{
			kind: 'hard_bounce',
			bounceReason: 'host_unknown',
			recipient: 'sofia.almeida@gone-domain.example',
			status: null,
			original: 'weekly-47.c-404@shop.example',
		},
	],
	[
		'postfix-report-without-recipient-fields.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'undefined',
			recipient: 'camille.bernard@wanadoo-example.fr',
			status: null,
			original: 'weekly-47.c-405@shop.example',
		},
	],
	[
		'dsn-final-recipient-rewritten.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'mailbox_full',
			recipient: 'priya.sharma@hosting-example.net',
			status: '5.2.2',
			original: 'weekly-47.c-406@shop.example',
		},
	],
	[
		'list-not-a-member.eml',
		{
			kind: 'soft_bounce',
			bounceReason: 'filtered',
			recipient: 'team-news@lists.example.net',
			status: null,
			original: 'weekly-47.c-407@shop.example',
		},
	],
	['apple-mail-unsubscribe.eml', { kind: 'unsubscribe', recipient: 'sam.lee@icloud.example' }],
	[
		'human-reply-gmail.eml',
		{ kind: 'reply', recipient: 'maria.garcia@example.es', original: 'cart-reminder.c-2024@shop.example' },
	],
	[
		'outlook-human-reply.eml',
		{ kind: 'reply', recipient: 'chidi.okonkwo@northwind.example', original: 'newsletter-2026-03.c-777@shop.example' },
	],
];

describe('inbound classification', () => {
	it.each(CORPUS)('%s', async (file, expected) => {
		const { original, ...fields } = expected;
		const message = await parseInbound(fixture(file));
		expect(message).toMatchObject(fields);
		if (original) expect(message.originalMessageIds[0]).toBe(original);
		expect(message.messageId).not.toBe('');
		expect(message.reason.length).toBeGreaterThan(5);
	});

	// n8n's Email Trigger (IMAP), Format "Resolved": mailparser output, headers as lines, attachments as binaries.
	// mailparser, which the IMAP trigger parses with, reads nothing from a multipart whose delimiters
	// are missing or differ from its header: the item carries no report to rebuild.
	const UNREADABLE_BY_MAILPARSER = ['sendmail-report-without-delimiters.eml', 'dsn-boundary-header-differs.eml'];
	it.each(CORPUS.filter(([file]) => !UNREADABLE_BY_MAILPARSER.includes(file)))(
		'classifies %s the same when rebuilt from an IMAP trigger item',
		async (file) => {
			const parsed = await simpleParser(fixture(file));
			const headers: Record<string, string> = {};
			for (const h of parsed.headerLines) headers[h.key] = h.line;
			const item = {
				headers,
				text: parsed.text,
				html: parsed.html || undefined,
				attachments: parsed.attachments.map((a) => ({
					contentType: a.contentType,
					filename: a.filename,
					content: a.content,
				})),
			};
			const direct = await parseInbound(fixture(file));
			const rebuilt = await parseInbound(rebuildMessage(item));
			expect({
				kind: rebuilt.kind,
				recipient: rebuilt.recipient,
				status: rebuilt.status,
				messageId: rebuilt.messageId,
			}).toEqual({
				kind: direct.kind,
				recipient: direct.recipient,
				status: direct.status,
				messageId: direct.messageId,
			});
			// mailparser drops the Message-ID of an inline returned message it summarises (JMRP); the rest keep it.
			if (!['microsoft-jmrp-complaint.eml', 'hotmail-plain-complaint.eml'].includes(file))
				expect(rebuilt.originalMessageIds[0]).toBe(direct.originalMessageIds[0]);
		},
	);

	it('refuses to rebuild an item without headers', () => {
		expect(() => rebuildMessage({ headers: {}, attachments: [] })).toThrow(
			expect.objectContaining({ field: 'headers' }),
		);
	});

	it('extracts the diagnostic of a bounce, unfolded', async () => {
		const message = await parseInbound(fixture('postfix-hard-bounce.eml'));
		expect(message.diagnostic).toBe(
			'smtp; 550 5.1.1 <jane.doe@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
		);
	});

	it('keeps every candidate Message-ID of our send (SES rewrites it)', async () => {
		const message = await parseInbound(fixture('amazon-ses-bounce.eml'));
		expect(message.originalMessageIds).toEqual(
			expect.arrayContaining([
				'ship-notice.c-512@shop.example',
				'0101019a1b2c3d4e-aaaabbbb-cccc-dddd-eeee-ffff00001111-000000@email.amazonses.com',
			]),
		);
	});

	it("keeps a reply's own words and drops the quoted message", async () => {
		const message = await parseInbound(fixture('human-reply-gmail.eml'));
		expect(message.replyText).toBe(
			'Hi, does the blue jacket also come in size M? I would order it today.\n\nThanks,\nMaría',
		);
		const outlook = await parseInbound(fixture('outlook-human-reply.eml'));
		expect(outlook.replyText).not.toMatch(/Unsubscribe/);
	});

	it('treats mail to a configured unsubscribe mailbox as an unsubscribe request', async () => {
		const raw =
			'From: Al <al@example.com>\r\nTo: leave@news.example\r\nSubject: hello\r\nMessage-ID: <x1@example.com>\r\n\r\nbye\r\n';
		expect((await parseInbound(raw)).kind).toBe('reply');
		expect((await parseInbound(raw, { unsubscribeMailboxes: ['Leave@news.example'] })).kind).toBe('unsubscribe');
	});

	it.each([
		['Abmelden', 'Bitte abmelden'],
		['Re: Newsletter', 'STOP'],
		['Re: Lettre de mars', 'Merci de me désabonner.'],
		['desinscription', ''],
	])('reads "%s" / "%s" as an unsubscribe request', async (subject, body) => {
		const raw = `From: x@example.com\r\nTo: news@shop.example\r\nSubject: ${subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;
		expect((await parseInbound(raw)).kind).toBe('unsubscribe');
	});

	it('does not read a long reply that mentions unsubscribing as a request', async () => {
		const body =
			'Thanks for the offer. I was about to unsubscribe last month, but the new range changed my mind. ' +
			'Could you tell me when the blue jacket is back in stock in size M? I would like to order two. '.repeat(2);
		expect(
			(await parseInbound(`From: x@example.com\r\nTo: news@shop.example\r\nSubject: Re: New range\r\n\r\n${body}\r\n`))
				.kind,
		).toBe('reply');
	});

	it('does not take an out-of-office about unsubscribing for a request', async () => {
		const raw =
			'From: a@example.com\r\nTo: news@shop.example\r\nSubject: Automatic reply: unsubscribe\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n';
		expect((await parseInbound(raw)).kind).toBe('auto_reply');
	});

	it('accepts a message given as base64 text', async () => {
		const message = await parseInbound(fixture('yahoo-arf-complaint.eml').toString('base64'));
		expect(message).toMatchObject({ kind: 'complaint', recipient: 'lisa.w@yahoo.com' });
	});

	it('hashes the message as its id when it has no Message-ID', async () => {
		const a = await parseInbound('From: a@example.com\r\nSubject: hi\r\n\r\none\r\n');
		const b = await parseInbound('From: a@example.com\r\nSubject: hi\r\n\r\ntwo\r\n');
		expect(a.messageId).toMatch(/^sha256:/);
		expect(a.messageId).not.toBe(b.messageId);
	});

	it.each([
		['an empty message', ''],
		['text without headers', 'hello there, this is not an e-mail'],
		['something that is not text or binary', 42],
	])('rejects %s naming the raw message field', async (_label, raw) => {
		await expect(parseInbound(raw as never)).rejects.toMatchObject({ name: 'ValidationError', field: 'rawMessage' });
	});

	it('never fails on arbitrary input except with a ValidationError (property-based)', async () => {
		const headerLine = fc
			.tuple(
				fc.constantFrom(
					'From',
					'To',
					'Subject',
					'Content-Type',
					'Auto-Submitted',
					'Message-ID',
					'In-Reply-To',
					'X-Weird',
				),
				fc.string({ maxLength: 80 }),
			)
			.map(([k, v]) => `${k}: ${v}`);
		const message = fc.oneof(
			fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
			fc
				.tuple(fc.array(headerLine, { maxLength: 8 }), fc.string({ maxLength: 500 }))
				.map(([headers, body]) => `${headers.join('\r\n')}\r\n\r\n${body}`),
			// Truncated or spliced real reports.
			fc
				.tuple(fc.constantFrom(...CORPUS.map(([f]) => f)), fc.nat(), fc.string({ maxLength: 40 }))
				.map(([file, cut, junk]) => {
					const raw = fixture(file).toString('latin1');
					const at = cut % raw.length;
					return Buffer.from(raw.slice(0, at) + junk + raw.slice(at + (cut % 97)), 'latin1');
				}),
		);
		await fc.assert(
			fc.asyncProperty(message, async (raw) => {
				try {
					const result = await parseInbound(raw);
					expect(['hard_bounce', 'soft_bounce', 'complaint', 'auto_reply', 'unsubscribe', 'reply', 'other']).toContain(
						result.kind,
					);
					expect(typeof result.messageId).toBe('string');
				} catch (error) {
					expect(error).toBeInstanceOf(ValidationError);
				}
			}),
			{ numRuns: 300 },
		);
	}, 60_000);

	it('walks no deeper than its depth limit, and still classifies a deeply nested message', async () => {
		const depth = 60;
		const open = Array.from(
			{ length: depth },
			(_, i) => `--b${i}\r\nContent-Type: multipart/mixed; boundary="b${i + 1}"\r\n\r\n`,
		).join('');
		const close = Array.from({ length: depth }, (_, i) => `--b${depth - 1 - i}--\r\n`).join('');
		const raw = Buffer.from(
			`From: someone@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n${open}--b${depth}\r\n\r\nhello\r\n--b${depth}--\r\n${close}`,
		);
		const deepest = (part: ReturnType<typeof parseMime>, level = 0): number =>
			Math.max(level, ...part.children.map((c) => deepest(c, level + 1)));
		expect(deepest(parseMime(raw))).toBeLessThanOrEqual(MAX_DEPTH);
		await expect(parseInbound(raw)).resolves.toMatchObject({ kind: 'reply' });
	});

	const manyParts = (count: number) =>
		Buffer.from(
			`From: someone@example.com\r\nSubject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="many"\r\n\r\n` +
				Array.from({ length: count }, (_, i) => `--many\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('') +
				'--many--\r\n',
		);

	it('keeps no more than its part limit of a message with hundreds of parts', async () => {
		const raw = manyParts(900);
		expect(allParts(parseMime(raw)).length).toBeLessThanOrEqual(MAX_PARTS + 1);
		await expect(parseInbound(raw)).resolves.toMatchObject({ kind: 'reply' });
	});

	it('refuses a message with more MIME parts than the parser reads, naming the field and the limit', async () => {
		await expect(parseInbound(manyParts(MAX_MIME_NODES + 500))).rejects.toMatchObject({
			name: 'ValidationError',
			field: 'rawMessage',
			message: expect.stringContaining(`${MAX_MIME_NODES} MIME parts`),
		});
	});

	it('refuses messages over the size limit', async () => {
		const huge = Buffer.concat([Buffer.from('From: a@example.com\r\n\r\n'), Buffer.alloc(26 * 1024 * 1024, 97)]);
		await expect(parseInbound(huge)).rejects.toBeInstanceOf(ValidationError);
	});
});

describe.each(topologies)('recording inbound mail on %s Redis', (topology) => {
	const { store, clock } = openStore(topology);
	const inbound = new Inbound(store);
	const parse = (file: string) => parseInbound(fixture(file));
	const record = async (file: string, options = {}, using = inbound) => {
		const [result] = await using.record([await parse(file)], options);
		if (!result.ok) throw result.error;
		return result.value;
	};

	it('records a hard bounce once and suppresses the contact as bounced', async () => {
		await store.contacts.upsert([
			{ id: 'jane', email: 'Jane.Doe@example.org', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const outcome = await record('postfix-hard-bounce.eml');
		expect(outcome).toMatchObject({
			kind: 'hard_bounce',
			contactId: 'jane',
			matchedBy: 'email',
			event: '$email_bounced',
			duplicate: false,
			suppressedAs: 'bounced',
		});
		const again = await record('postfix-hard-bounce.eml');
		expect(again).toMatchObject({ duplicate: true, suppressedAs: null });
		const contact = await store.contacts.getOne('jane');
		expect(contact?.subscription).toMatchObject({
			status: 'bounced',
			source: 'inbound-email:hard_bounce:user_unknown',
		});
		expect(contact?.events.$email_bounced.count).toBe(1);
		const [event] = (await store.events.history('jane', 10)).filter((e) => e.name === '$email_bounced');
		expect(event.properties).toMatchObject({
			type: 'hard',
			bounceReason: 'user_unknown',
			status: '5.1.1',
			originalMessageId: 'camp-winter26.c-4711@shop.example',
			recipient: 'jane.doe@example.org',
		});
	});

	it('records a soft bounce without suppressing', async () => {
		await store.contacts.upsert([
			{ id: 'tom', email: 'tom@slow.example.net', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const outcome = await record('postfix-soft-bounce-delayed.eml');
		expect(outcome).toMatchObject({
			kind: 'soft_bounce',
			contactId: 'tom',
			event: '$email_bounced',
			suppressedAs: null,
		});
		expect((await store.contacts.getOne('tom'))?.subscription?.status).toBe('subscribed');
		const [event] = (await store.events.history('tom', 10)).filter((e) => e.name === '$email_bounced');
		expect(event.properties).toMatchObject({ type: 'soft', status: '4.4.1' });
	});

	it('suppresses after 3 soft bounces within 30 days by default, keeping the reason on the contact', async () => {
		await store.contacts.upsert([
			{ id: 'fullbox', email: 'full.box@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const soft = await parse('gmail-dsn-mailbox-full.eml');
		expect(soft).toMatchObject({ kind: 'soft_bounce', bounceReason: 'mailbox_full' });
		const outcomes = [];
		for (let n = 1; n <= 3; n++) {
			clock.advance(86_400_000);
			const [r] = await inbound.record([{ ...soft, messageId: `soft-${n}@mx.google.com` }]);
			outcomes.push(r.ok && r.value.suppressedAs);
		}
		expect(outcomes).toEqual([null, null, 'bounced']);
		expect((await store.contacts.getOne('fullbox'))?.subscription).toMatchObject({
			status: 'bounced',
			source: 'inbound-email:soft_bounce_limit:mailbox_full',
		});
		const [event] = (await store.events.history('fullbox', 10)).filter((e) => e.name === '$email_bounced');
		expect(event.properties).toMatchObject({ type: 'soft', bounceReason: 'mailbox_full' });
	});

	it('counts only the soft bounces inside the window, and never suppresses on soft bounces when the limit is off', async () => {
		await store.contacts.upsert([
			{ id: 'spread', email: 'spread@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
			{ id: 'never', email: 'never@gmail.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		const soft = await parse('gmail-dsn-mailbox-full.eml');
		// Three soft bounces 20 days apart: never three within 30 days.
		for (let n = 1; n <= 3; n++) {
			clock.advance(20 * 86_400_000);
			await inbound.record([{ ...soft, recipient: 'spread@gmail.com', messageId: `spread-${n}@mx.google.com` }]);
		}
		expect((await store.contacts.getOne('spread'))?.subscription?.status).toBe('subscribed');
		for (let n = 1; n <= 4; n++)
			await inbound.record([{ ...soft, recipient: 'never@gmail.com', messageId: `never-${n}@mx.google.com` }], {
				softBounceLimit: false,
			});
		expect((await store.contacts.getOne('never'))?.subscription?.status).toBe('subscribed');
		await expect(inbound.record([soft], { softBounceLimit: { count: 0, windowMs: 1 } })).rejects.toMatchObject({
			field: 'softBounceLimit',
		});
	});

	it('marks a complaint, and a later hard bounce does not weaken it', async () => {
		await store.contacts.upsert([
			{ id: 'lisa', email: 'lisa.w@yahoo.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		expect(await record('yahoo-arf-complaint.eml')).toMatchObject({
			contactId: 'lisa',
			event: '$email_complained',
			suppressedAs: 'complained',
		});
		const bounce = (await parse('postfix-hard-bounce.eml')) as InboundMessage;
		const [later] = await inbound.record([
			{ ...bounce, recipient: 'lisa.w@yahoo.com', messageId: 'another-bounce@mx' },
		]);
		expect(later.ok && later.value).toMatchObject({ event: '$email_bounced', suppressedAs: null });
		expect((await store.contacts.getOne('lisa'))?.subscription?.status).toBe('complained');
	});

	it('unsubscribes on an unsubscribe request and records it', async () => {
		await store.contacts.upsert([
			{ id: 'petr', email: 'p.novak@example.cz', subscription: { status: 'subscribed', source: 'form' } },
		]);
		expect(await record('unsubscribe-request-reply.eml')).toMatchObject({
			kind: 'unsubscribe',
			event: '$email_unsubscribed',
			suppressedAs: 'unsubscribed',
		});
		expect((await store.contacts.getOne('petr'))?.subscription?.status).toBe('unsubscribed');
	});

	it('records a reply as an interaction, dated by the message', async () => {
		await store.contacts.upsert([{ id: 'maria', email: 'maria.garcia@example.es' }]);
		clock.ms = Date.parse('2026-01-31T00:00:00Z');
		const outcome = await record('human-reply-gmail.eml');
		expect(outcome).toMatchObject({ kind: 'reply', event: '$email_replied', suppressedAs: null });
		const contact = await store.contacts.getOne('maria');
		expect(contact?.lastActivityAt).toBe('2026-01-30T11:34:56.000Z');
		const [event] = (await store.events.history('maria', 10)).filter((e) => e.name === '$email_replied');
		expect(event.properties).toMatchObject({
			subject: 'Re: Your cart is waiting',
			originalMessageId: 'cart-reminder.c-2024@shop.example',
		});
	});

	it('finds the contact of an auto-reply but records nothing', async () => {
		await store.contacts.upsert([
			{ id: 'anna', email: 'anna.becker@fabrikam.example', subscription: { status: 'subscribed', source: 'form' } },
		]);
		expect(await record('outlook-automatic-reply.eml')).toMatchObject({
			kind: 'auto_reply',
			contactId: 'anna',
			event: null,
			suppressedAs: null,
		});
		const contact = await store.contacts.getOne('anna');
		expect(Object.keys(contact?.events ?? {}).filter((name) => name.startsWith('$email'))).toEqual([]);
	});

	it('creates nothing for mail about an unknown address', async () => {
		expect(await record('gmail-dsn-no-such-user.eml')).toMatchObject({
			contactId: null,
			matchedBy: null,
			event: null,
			suppressedAs: null,
		});
		expect(await store.contacts.idForEmail('no.such.person.4711@gmail.com')).toBeNull();
		expect(await store.contacts.getOne('no.such.person.4711@gmail.com')).toBeNull();
	});

	it('matches a redacted complaint through the send lookup hook', async () => {
		await store.contacts.upsert([
			{ id: 'crm-900', email: 'someone@aol.com', subscription: { status: 'subscribed', source: 'import' } },
		]);
		const asked: string[][] = [];
		const withHook = new Inbound(store, {
			lookupSend: async (ids): Promise<SendMatch | null> => {
				asked.push(ids);
				return ids.includes('flash-sale.c-900@shop.example')
					? { contactId: 'crm-900', campaignId: 'flash-sale' }
					: null;
			},
		});
		const outcome = await record('aol-arf-redacted.eml', {}, withHook);
		expect(asked[0][0]).toBe('flash-sale.c-900@shop.example');
		expect(outcome).toMatchObject({
			contactId: 'crm-900',
			matchedBy: 'send',
			campaignId: 'flash-sale',
			suppressedAs: 'complained',
		});
		const [event] = (await store.events.history('crm-900', 10)).filter((e) => e.name === '$email_complained');
		expect(event.properties).toMatchObject({ campaignId: 'flash-sale', feedbackType: 'abuse' });
	});

	it('can classify and find without recording or suppressing', async () => {
		await store.contacts.upsert([
			{ id: 'kai', email: 'kai.meyer@outlook.com', subscription: { status: 'subscribed', source: 'form' } },
		]);
		expect(await record('microsoft-jmrp-complaint.eml', { record: false, suppress: false })).toMatchObject({
			contactId: 'kai',
			event: null,
			suppressedAs: null,
		});
		expect((await store.contacts.getOne('kai'))?.subscription?.status).toBe('subscribed');
	});

	it('handles a batch of the whole corpus in one call, each item on its own', async () => {
		const messages = await Promise.all(CORPUS.map(([file]) => parse(file)));
		const results = await inbound.record(messages);
		expect(results).toHaveLength(CORPUS.length);
		expect(results.every((r) => r.ok)).toBe(true);
	});
});
