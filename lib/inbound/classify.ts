import { createHash } from 'crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { ValidationError } from '../errors';
import { allParts, header, parseFieldBlocks, parseHeaderBlock, parseMime, type HeaderMap, type MimePart } from './mime';
import { mtaMeaning, reportingMta, type MtaMeaning } from './mta';
import { bounceReason, isHardBounce, reasonOfText, type BounceReason } from './reasons';

export const INBOUND_KINDS = [
	'hard_bounce',
	'soft_bounce',
	'complaint',
	'auto_reply',
	'unsubscribe',
	'reply',
	'other',
] as const;
export type InboundKind = (typeof INBOUND_KINDS)[number];

export interface InboundMessage {
	kind: InboundKind;
	/** Why it was classified so, in words (shown to users, useful in audits). */
	reason: string;
	/** The address the message is about: the bounced or complaining recipient, or the sender of a reply. */
	recipient: string | null;
	/** Why a bounce bounced (user_unknown, mailbox_full, blocked, ...): decides hard or soft (docs/bounces.md). */
	bounceReason: BounceReason | null;
	/** RFC 3463 enhanced status code of a bounce (e.g. "5.1.1"). */
	status: string | null;
	/** The remote server's answer (e.g. "smtp; 550 5.1.1 User unknown"). */
	diagnostic: string | null;
	/** ARF Feedback-Type of a complaint (abuse, fraud, ...). */
	feedbackType: string | null;
	/** Message-IDs that may be our original send, most specific first (without angle brackets). */
	originalMessageIds: string[];
	/** This message's own Message-ID (without angle brackets), or a hash of the message when absent. */
	messageId: string;
	from: string | null;
	to: string[];
	subject: string;
	date: string | null;
	/** A reply's own text, without quoted earlier messages (replies and unsubscribe requests). */
	replyText: string | null;
}

export interface ClassifyOptions {
	/** Addresses whose mail is an unsubscribe request (the mailto: of List-Unsubscribe). */
	unsubscribeMailboxes?: string[];
}

/** Larger raw messages are refused (bounces carry the original; 25 MB covers what MTAs accept). */
export const MAX_RAW_BYTES = 25 * 1024 * 1024;
/** MIME parts mailparser's splitter reads (its own limit, @zone-eu/mailsplit MAX_CHILD_NODES). */
export const MAX_MIME_NODES = 1000;

const ID = /<([^<>\s]+)>/g;

function messageIds(value: string | undefined | null): string[] {
	if (!value) return [];
	const ids = [...value.matchAll(ID)].map((m) => m[1]);
	return ids.length > 0 ? ids : value.trim() ? [value.trim().replace(/^<|>$/g, '')] : [];
}

function addressIn(value: string | undefined | null): string | null {
	if (!value) return null;
	// "rfc822; user@example.com", "<user@example.com>", "user@example.com"
	// A source route ("<@relay.example:user@example.com>") names the mailbox after its colon.
	const text = (value.includes(';') ? value.slice(value.indexOf(';') + 1) : value).replace(
		/(^|[\s<])@[^:<>\s]+:/g,
		'$1',
	);
	const match = /<?([^\s<>;",]+@[^\s<>;",]+?)>?(?:[\s,]|$)/.exec(text.trim() + ' ');
	return match ? match[1].toLowerCase() : null;
}

/** An address with a domain that can be mailed (the sender's Original-Recipient, not a local rewrite like "a@store3"). */
function routable(address: string | null): string | null {
	return address && /@[^@.]+\.[^@]+$/.test(address) ? address : null;
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
	const list = Array.isArray(field) ? field : field ? [field] : [];
	return list.flatMap((a) => a.value.map((v) => v.address?.toLowerCase()).filter((v): v is string => Boolean(v)));
}

const STATUS = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

/** A bounce's kind and reason from its code and words (lib/inbound/reasons.ts has the rule). */
function bounceVerdict(
	status: string | null,
	diagnostic: string | null,
	action = '',
	context: { command?: string | null; diagnosticType?: string | null; mta?: MtaMeaning } = {},
): { kind: InboundKind; bounceReason: BounceReason; reason: string } {
	const mta = context.mta ?? {};
	const evidence = {
		status,
		diagnostic,
		action,
		// A gateway that names no SMTP stage leaves none to infer from the words it quotes.
		command: mta.command ?? (mta.stageUnknown ? null : (context.command ?? smtpCommand(diagnostic ?? ''))),
		diagnosticType: context.diagnosticType,
		mta,
	};
	const reason = bounceReason(evidence);
	const hard = isHardBounce(reason, evidence);
	const words = reason.replace(/_/g, ' ');
	return {
		kind: hard ? 'hard_bounce' : 'soft_bounce',
		bounceReason: reason,
		reason: `${action === 'delayed' ? 'Delivery delayed' : hard ? 'Permanent failure of the address' : 'Failure that says nothing against the address'}: ${words}${status ? ` (status ${status})` : ''}`,
	};
}

/** The SMTP command a report says the server answered: the last one it names ("in reply to RCPT TO", ">>> DATA"). */
export function smtpCommand(text: string): string | null {
	// Answers only given to RCPT TO.
	if (/\[rcpt_to\]|does not like recipient|rcpt to response|smtp:rcpt|recipient address rejected/i.test(text))
		return 'RCPT';
	// A session transcript (">>> RCPT To:<a>", "<<< 550 ..."): the command the first failure answered.
	let sent: string | null = null;
	for (const line of text.split(/\r?\n/)) {
		const command = /^\s*>>>\s*(rcpt|data|mail|ehlo|helo)\b/i.exec(line);
		if (command) sent = command[1].toUpperCase();
		else if (sent && /^\s*<<<\s*[45]\d\d/.test(line)) return sent;
	}
	const named = [
		...text.matchAll(
			/(?:in reply to|after|>>>|did not like our|while sending|command:?|-{3,}\s*smtp command)\s*(?:the\s+)?(?:end of\s+)?(rcpt|data|mail|ehlo|helo)\b/gi,
		),
	];
	return named.length > 0 ? named[named.length - 1][1].toUpperCase() : null;
}

/** The server's own RFC 3463 code: the one right after its reply code ("550-'5.7.1"), else the first. */
function ownStatus(text: string): string | null {
	const afterReply = /\b[245]\d\d[ -]['"]?([245]\.\d{1,3}\.\d{1,3})\b/.exec(text);
	return afterReply?.[1] ?? STATUS.exec(text)?.[0] ?? null;
}

/** The status to trust: an RFC 3463 code in the server's own answer wins over a generic one (x.0.0, x.y.0) in the report. */
function effectiveStatus(reported: string | null, diagnostic: string | null): string | null {
	const own = ownStatus(diagnostic ?? '');
	if (!reported) return own;
	if (own && /\.0$/.test(reported) && own !== reported && own[0] !== '2') return own;
	return reported;
}

/** Headers of the original message a report carries (message/rfc822 or text/rfc822-headers). */
function embeddedHeaders(parts: MimePart[]): HeaderMap[] {
	const out: HeaderMap[] = [];
	for (const part of parts) {
		if ((part.contentType === 'message/rfc822' || part.contentType === 'message/global') && part.children[0])
			out.push(part.children[0].headers);
		if (part.contentType === 'text/rfc822-headers' || part.contentType === 'message/rfc822-headers')
			out.push(parseHeaderBlock(part.body.toString('utf8')));
	}
	return out;
}

/** The returned message's headers; when a parser merged it into the text, the header blocks found there. */
function returnedHeaders(parts: MimePart[], text: string): HeaderMap[] {
	const embedded = embeddedHeaders(parts);
	if (embedded.length > 0) return embedded;
	// mailparser shows an inline returned message as a From/Subject/Date/To summary in the text.
	return parseFieldBlocks(Buffer.from(text, 'utf8')).filter(
		(block) => (block.has('from') || block.has('subject')) && (block.has('to') || block.has('message-id')),
	);
}

function originalIds(report: HeaderMap[], top: ParsedMail, extra: string[] = []): string[] {
	const ids = [
		...extra,
		...report.flatMap((h) => messageIds(header(h, 'message-id'))),
		...report.flatMap((h) => messageIds(header(h, 'x-original-message-id'))),
		...messageIds(headerOf(top, 'x-original-message-id')),
		...messageIds(top.inReplyTo),
		...referenceIds(top).reverse(),
	];
	return [...new Set(ids)];
}

function referenceIds(mail: ParsedMail): string[] {
	const refs = mail.references;
	return (Array.isArray(refs) ? refs : refs ? [refs] : []).flatMap((r) => messageIds(r));
}

function headerOf(mail: ParsedMail, name: string): string | undefined {
	const value = mail.headers.get(name);
	if (value === undefined || value === null) return undefined;
	if (typeof value === 'string') return value;
	if (Array.isArray(value)) return String(value[0]);
	if (typeof value === 'object' && 'value' in (value as object)) return String((value as { value: unknown }).value);
	return String(value);
}

const AUTO_SUBJECT = new RegExp(
	[
		'out of (the )?office',
		'automatic reply',
		'auto[- ]?reply',
		'autoreply',
		'auto[- ]?response',
		'away from (the )?office',
		'on vacation',
		'on holiday',
		'abwesenheitsnotiz',
		'automatische antwort',
		'abwesend',
		'nicht im b(ü|ue)ro',
		'r(é|e)ponse automatique',
		'absent(e)? du bureau',
		'absence du bureau',
		'en cong(é|e)',
		'respuesta autom(á|a)tica',
		'fuera de la oficina',
		'risposta automatica',
		'fuori (sede|ufficio)',
		'automatisch antwoord',
		'afwezig',
		'resposta autom(á|a)tica',
		'fora do escrit(ó|o)rio',
		'autosvar',
		'automaattinen vastaus',
	].join('|'),
	'i',
);

const UNSUBSCRIBE_WORDS =
	/^(please\s+)?(unsubscribe|unsubscribe me|remove me|remove|stop|opt[- ]?out|abmelden|austragen|abbestellen|d(é|e)sabonner|d(é|e)sinscri(re|ption)|se d(é|e)sabonner|darse de baja|baja|cancelar suscripci(ó|o)n|uitschrijven|disiscrivi(mi)?|cancella iscrizione)\b/i;

/** Requests phrased inside a short message ("Merci de me désabonner", "please take me off your list"). */
const UNSUBSCRIBE_PHRASES =
	/(unsubscribe me|remove me from|take me off|no more (e-?mails|newsletters)|me d(é|e)sabonner|me d(é|e)sinscrire|mich (bitte )?(abmelden|austragen)|darme de baja|cancelar (mi )?suscripci(ó|o)n|uitschrijven)/i;

/** The reply's own words: drops quoted lines and everything after the usual "On ... wrote:" markers. */
export function ownText(text: string): string {
	const lines: string[] = [];
	for (const line of text.split(/\r?\n/)) {
		if (/^\s*>/.test(line)) continue;
		if (
			/^\s*(On .{4,200} wrote:|Am .{4,200} schrieb .{1,200}:|Le .{4,200} a (é|e)crit ?:|El .{4,200} escribi(ó|o):|-{2,}\s*(Original Message|Urspr(ü|u)ngliche Nachricht|Message d'origine)\s*-{2,}|_{10,}|From: .+)\s*$/i.test(
				line,
			)
		) {
			break;
		}
		lines.push(line);
	}
	return lines
		.join('\n')
		.replace(/\n{3,}/g, '\n\n')
		.trim();
}

function isAutoReply(mail: ParsedMail): string | null {
	const autoSubmitted = headerOf(mail, 'auto-submitted');
	if (autoSubmitted && !/^\s*no\b/i.test(autoSubmitted)) return `Auto-Submitted: ${autoSubmitted}`;
	for (const name of ['x-autoreply', 'x-autorespond', 'x-autoresponder']) {
		const value = headerOf(mail, name);
		if (value !== undefined && !/^\s*(no|false|0)\s*$/i.test(value)) return `${name}: ${value}`;
	}
	const precedence = headerOf(mail, 'precedence');
	if (precedence && /auto_reply/i.test(precedence)) return `Precedence: ${precedence}`;
	if (headerOf(mail, 'x-ms-exchange-generated-message-source')?.includes('Mailbox Rules Agent'))
		return 'Exchange rule-generated message';
	const subject = mail.subject ?? '';
	if (AUTO_SUBJECT.test(subject)) return `Out-of-office subject "${subject.slice(0, 80)}"`;
	return null;
}

function isMailerDaemon(from: string | null): boolean {
	return from !== null && /^(mailer-daemon|post_?master|mail-daemon|mailerdaemon|bounce[s]?)(@|$)/i.test(from);
}

const FAILURE_SUBJECT =
	/(undeliver|delivery (status notification|failure|has failed)|returned mail|mail delivery (failed|failure|subsystem)|failure notice|could not be delivered|nondeliverable|non-deliverable|unzustellbar|non remis|no se pudo entregar|mail failed|returning to sender|mail failure|error sending your (mail|message)|not delivered|delivery notification)/i;

/** Words only a failure report uses: with them, mail from anyone is read as a bounce. */
const FAILURE_WORDS =
	/(could ?n[o']t be delivered|cannot be delivered|undeliverable|undelivered mail|delivery (to the following recipients? )?(has )?failed|delivery (has )?failed|permanent (error|failure|fatal)|this is the mail system at host|qmail-send program|message (was|could) not (be )?delivered|unable to deliver|the following address(es)? (had|failed)|smtp error from remote|failed to deliver|not be delivered|delivery failure|delivery to .{1,80} failed|message you sent .{0,80}(rejected|not delivered|blocked)|did not reach the following recipient|had permanent fatal errors|no valid recipients|trouble delivering your message|not a member of (this|the) (mailing )?list|メールエラー|送信できませんでした|宛先不明)/i;

/** Where a plain-text bounce starts quoting the returned message. */
const RETURNED_MESSAGE =
	/^[ \t]*(-{2,}[ \t]*)?(this is a copy of (the|your) message|below this line is a copy of the message|(-{2,}[ \t]*|the )?original message( follows| headers|:?[ \t]*$)|returned message|unsent message below|included is a copy|message headers follow|(the )?headers of the original message)|^(Return-Path|Received|DKIM-Signature):[ \t]/im;

/** A bounce's own explanation: its text before the returned message. */
function bounceText(text: string): string {
	const cut = RETURNED_MESSAGE.exec(text);
	return (cut ? text.slice(0, cut.index) : text).slice(0, 16384);
}

const EMAIL = "[A-Za-z0-9._%+'=/-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}";
/** Where bounces name the failed address: a refusing list, "<a@b>:" (qmail), alone on its line (Exim, Sendmail), RCPT TO, "to <a@b>". */
const RECIPIENT_LINES = [
	// A mailing list that refused the post names itself ("not a member of this mailing list <list@host>").
	new RegExp(`\\bmailing list[ \\t]*<(${EMAIL})>`, 'i'),
	new RegExp(`^[ \\t]*<?(${EMAIL})>?:?[ \\t]*(\\(.*\\)|\\[.*\\])?[ \\t]*$`, 'm'),
	new RegExp(`^[ \\t]*<(${EMAIL})>`, 'm'),
	new RegExp(`RCPT TO:?[ \\t]*<(${EMAIL})>`, 'i'),
	new RegExp(`<(${EMAIL})>\\.\\.\\.`),
	new RegExp(`\\b(?:recipient|address|to|for|user|destinataire)(?: address)?[ \\t]*[:=]?[ \\t]*<?(${EMAIL})>?`, 'i'),
];
const NOT_A_RECIPIENT = /^(postmaster|mailer-daemon|mail-daemon|mailerdaemon|abuse|root)@/i;

/**
 * The failed address a plain-text report names: never a Message-ID, the report's own sender or
 * receiver, or postmaster.
 */
function recipientInText(text: string, own: Set<string>): string | null {
	// Message-IDs and Received lines carry address-like tokens that are not recipients.
	const lines = text
		.split(/\r?\n/)
		.filter((line) => !/message-?id|\bid\s*<|^\s*(received|by|with|from)\b.*\b(smtp|esmtp|id)\b/i.test(line));
	const body = lines.join('\n');
	const acceptable = (address: string | undefined) => {
		const a = address?.toLowerCase();
		return a && !own.has(a) && !NOT_A_RECIPIENT.test(a) && !/^\d{8,}\./.test(a) ? a : null;
	};
	for (const pattern of RECIPIENT_LINES) {
		const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
		for (const m of body.matchAll(global)) {
			const found = acceptable(m[1]);
			if (found) return found;
		}
	}
	for (const m of body.matchAll(new RegExp(EMAIL, 'g'))) {
		const found = acceptable(m[0]);
		if (found) return found;
	}
	return null;
}

/**
 * The part of a bounce text about one recipient: from where it is named to where the next
 * recipient's paragraph starts ("<b@c>:", an address alone on its line), so that a report on
 * several recipients is read for the one it is taken for.
 */
function recipientSegment(text: string, recipient: string | null): string {
	const segment = segmentOf(text, recipient);
	// Some reports give the reason before the address or once for all: then the whole text speaks.
	return reasonOfText(segment) || STATUS.test(segment) ? segment : text;
}

function segmentOf(text: string, recipient: string | null): string {
	if (!recipient) return text;
	const start = text.toLowerCase().indexOf(recipient);
	if (start < 0) return text;
	const rest = text.slice(start + recipient.length);
	for (const m of rest.matchAll(new RegExp(`^[ \\t]*["<]?(${EMAIL})["']?>?:?`, 'gm'))) {
		if (m[1].toLowerCase() !== recipient) return text.slice(start, start + recipient.length + (m.index ?? 0));
	}
	return text.slice(start);
}

/** Amazon SES notifications mailed by SNS (bounce, complaint, delivery), JSON alone or in an SNS envelope. */
function sesNotification(
	text: string,
):
	| (Pick<
			InboundMessage,
			'kind' | 'reason' | 'recipient' | 'status' | 'diagnostic' | 'feedbackType' | 'bounceReason'
	  > & { originalMessageIds: string[] })
	| null {
	if (!/"(notificationType|eventType)"\s*:|"Type"\s*:\s*"Notification"/.test(text)) return null;
	const block = text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
	let json: Record<string, unknown> | null = null;
	// Mail clients and gateways wrap long lines, also inside the JSON's strings.
	for (const candidate of [block, block.replace(/\r?\n/g, '')]) {
		try {
			json = JSON.parse(candidate) as Record<string, unknown>;
			if (typeof json.Message === 'string') json = JSON.parse(json.Message) as Record<string, unknown>;
			break;
		} catch {
			json = null;
		}
	}
	if (!json) return null;
	const type = String(json.notificationType ?? json.eventType ?? '');
	const mail = (json.mail ?? {}) as {
		commonHeaders?: { messageId?: string };
		headers?: Array<{ name: string; value: string }>;
	};
	const ids = messageIds(
		mail.commonHeaders?.messageId ?? mail.headers?.find((h) => /^message-id$/i.test(h.name))?.value,
	);
	const common = { originalMessageIds: ids, status: null, diagnostic: null, feedbackType: null, bounceReason: null };
	if (type === 'Bounce') {
		const bounce = (json.bounce ?? {}) as {
			bounceType?: string;
			bounceSubType?: string;
			bouncedRecipients?: Array<{ emailAddress?: string; status?: string; diagnosticCode?: string; action?: string }>;
		};
		const rcpt = bounce.bouncedRecipients?.[0] ?? {};
		const diagnostic = rcpt.diagnosticCode || null;
		const status = effectiveStatus(STATUS.exec(rcpt.status ?? '')?.[0] ?? null, diagnostic);
		// SES's own sub-type (NoEmail, MailboxFull, ...) speaks when the server's answer is missing.
		const words =
			diagnostic ??
			`${bounce.bounceType ?? ''} ${(bounce.bounceSubType ?? '').replace(/NoEmail/, 'no such address').replace(/([a-z])([A-Z])/g, '$1 $2')}`;
		const verdict = bounceVerdict(status, words, bounce.bounceType === 'Transient' ? 'delayed' : '');
		return {
			...common,
			...verdict,
			reason: `${verdict.reason}; Amazon SES notification`,
			recipient: addressIn(rcpt.emailAddress),
			status,
			diagnostic,
		};
	}
	if (type === 'Complaint') {
		const complaint = (json.complaint ?? {}) as {
			complainedRecipients?: Array<{ emailAddress?: string }>;
			complaintFeedbackType?: string;
		};
		const feedbackType = (complaint.complaintFeedbackType ?? 'abuse').toLowerCase();
		return {
			...common,
			kind: 'complaint',
			reason: `Amazon SES complaint notification (${feedbackType})`,
			recipient: addressIn(complaint.complainedRecipients?.[0]?.emailAddress),
			feedbackType,
		};
	}
	if (type === 'Delivery')
		return {
			...common,
			kind: 'other',
			reason: 'Amazon SES delivery notification: delivered, not a bounce',
			recipient: null,
		};
	return null;
}

/** A message as n8n's Email Trigger (IMAP) hands it over in its "Resolved" format. */
export interface ParsedMailItem {
	/** Header name -> the full header line ("Subject: Hello"), as the trigger keeps them. */
	headers: Record<string, string>;
	text?: string;
	html?: string;
	attachments: Array<{ contentType: string; filename?: string; content: Buffer }>;
}

const REBUILT_HEADERS_SKIPPED = new Set([
	'content-type',
	'content-transfer-encoding',
	'mime-version',
	'content-disposition',
]);

/**
 * Rebuilds a raw MIME message from a parsed item, so it can be classified like any other: the
 * report parts a parser turns into attachments (feedback reports, returned messages) come back
 * as parts, and delivery-status fields it merged into the text are read from there.
 */
export function rebuildMessage(item: ParsedMailItem): Buffer {
	if (!item || typeof item.headers !== 'object' || item.headers === null || Object.keys(item.headers).length === 0) {
		throw new ValidationError(
			'headers',
			'The item has no "headers" object',
			'Use the Email Trigger (IMAP) with Format "Resolved", or give the raw message.',
		);
	}
	const boundary = `----ma-rebuilt-${createHash('sha256').update(JSON.stringify(item.headers)).digest('hex').slice(0, 24)}`;
	const lines: string[] = [];
	for (const [name, line] of Object.entries(item.headers)) {
		if (REBUILT_HEADERS_SKIPPED.has(name.toLowerCase()) || typeof line !== 'string') continue;
		lines.push(line.includes(':') ? line.replace(/\r?\n(?![ \t])/g, '\r\n ') : `${name}: ${line}`);
	}
	const isReport = item.attachments.some((a) => /^message\/(feedback-report|delivery-status)/i.test(a.contentType));
	const reportType = item.attachments.some((a) => /^message\/feedback-report/i.test(a.contentType))
		? 'feedback-report'
		: 'delivery-status';
	lines.push(
		'MIME-Version: 1.0',
		`Content-Type: ${isReport ? `multipart/report; report-type=${reportType}` : 'multipart/mixed'}; boundary="${boundary}"`,
		'',
	);
	const part = (contentType: string, content: Buffer) =>
		Buffer.from(
			[
				`--${boundary}`,
				`Content-Type: ${contentType}`,
				'Content-Transfer-Encoding: base64',
				'',
				...(content.toString('base64').match(/.{1,76}/g) ?? []),
				'',
			].join('\r\n'),
			'ascii',
		);
	const chunks: Buffer[] = [Buffer.from(lines.join('\r\n') + '\r\n', 'utf8')];
	if (item.text) chunks.push(part('text/plain; charset=utf-8', Buffer.from(item.text, 'utf8')));
	if (item.html) chunks.push(part('text/html; charset=utf-8', Buffer.from(item.html, 'utf8')));
	for (const attachment of item.attachments) {
		// message/* parts may not be base64-encoded (RFC 2046); they go in as they are.
		if (/^message\//i.test(attachment.contentType)) {
			chunks.push(
				Buffer.from(`--${boundary}\r\nContent-Type: ${attachment.contentType}\r\n\r\n`, 'ascii'),
				attachment.content,
				Buffer.from('\r\n', 'ascii'),
			);
		} else chunks.push(part(attachment.contentType || 'application/octet-stream', attachment.content));
	}
	chunks.push(Buffer.from(`--${boundary}--\r\n`, 'ascii'));
	return Buffer.concat(chunks);
}

/** Parses a raw message with mailparser and classifies it. */
export async function parseInbound(raw: Buffer | string, options: ClassifyOptions = {}): Promise<InboundMessage> {
	if (typeof raw !== 'string' && !Buffer.isBuffer(raw))
		throw new ValidationError('rawMessage', 'The raw message must be text or binary data');
	const buffer = typeof raw === 'string' ? Buffer.from(maybeBase64(raw), 'utf8') : raw;
	if (buffer.length === 0 || buffer.toString('latin1').trim() === '')
		throw new ValidationError('rawMessage', 'The raw message is empty');
	if (buffer.length > MAX_RAW_BYTES) {
		throw new ValidationError(
			'rawMessage',
			`The message is ${Math.round(buffer.length / 1048576)} MB; the limit is ${MAX_RAW_BYTES / 1048576} MB`,
		);
	}
	const head = buffer.subarray(0, 16384).toString('latin1');
	if (!/^[!-9;-~]+:/m.test(head.split(/\r?\n\r?\n/)[0] ?? '')) {
		throw new ValidationError(
			'rawMessage',
			'This is not an e-mail message: it has no header lines',
			'Give the full message source (RFC 5322), headers included, e.g. an .eml file.',
		);
	}
	let mail: ParsedMail;
	try {
		mail = await simpleParser(buffer, { skipHtmlToText: false, skipTextToHtml: true, skipImageLinks: true });
	} catch (error) {
		// mailparser's splitter refuses messages with more MIME parts than it reads (EMAXLEN).
		if ((error as { code?: string }).code === 'EMAXLEN') {
			throw new ValidationError(
				'rawMessage',
				`The message has more than ${MAX_MIME_NODES} MIME parts; the limit is ${MAX_MIME_NODES}`,
				'Bounces, complaints and replies have a handful of parts: check the input is a single message.',
			);
		}
		throw error;
	}
	const tree = parseMime(buffer);
	return classify(mail, tree, buffer, options);
}

/** A raw message given as base64 text (as some webhooks and n8n expressions carry it). */
function maybeBase64(text: string): string {
	const compact = text.trim();
	if (
		compact.length < 40 ||
		/[:\s]/.test(compact.slice(0, 200).replace(/\r?\n/g, '')) ||
		!/^[A-Za-z0-9+/=\r\n_-]+$/.test(compact)
	)
		return text;
	const decoded = Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
	return /^[!-9;-~]+:/m.test(decoded) ? decoded : text;
}

export function classify(mail: ParsedMail, tree: MimePart, raw: Buffer, options: ClassifyOptions = {}): InboundMessage {
	const parts = allParts(tree);
	const from = addresses(mail.from)[0] ?? null;
	const to = addresses(mail.to);
	const base = {
		from,
		to,
		subject: mail.subject ?? '',
		date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toISOString() : null,
		messageId: messageIds(mail.messageId)[0] ?? 'sha256:' + createHash('sha256').update(raw).digest('hex').slice(0, 40),
		status: null,
		bounceReason: null,
		diagnostic: null,
		feedbackType: null,
		replyText: null,
	};
	const reportType = tree.contentType === 'multipart/report' ? (tree.params['report-type'] ?? '').toLowerCase() : '';

	// Spam complaint: ARF (RFC 5965), as Yahoo, AOL, Microsoft JMRP and others send it.
	// Hotmail/Outlook.com (JMRP without ARF) send the complained-about message with a plain subject.
	const feedback = parts.find((p) => p.contentType === 'message/feedback-report');
	const plainComplaint =
		/^\s*complaint about message from /i.test(base.subject) && returnedHeaders(parts, mail.text ?? '').length > 0;
	if (feedback || reportType === 'feedback-report' || plainComplaint) {
		const fields = feedback ? (parseFieldBlocks(feedback.body)[0] ?? new Map()) : new Map<string, string[]>();
		const original = returnedHeaders(parts, mail.text ?? '');
		// Providers that redact the recipient (AOL: Redacted-Address) leave only the Message-ID to match on.
		const redacted = addressIn(header(fields, 'redacted-address'));
		const candidates = [
			addressIn(header(fields, 'original-rcpt-to')),
			addressIn(header(fields, 'removal-recipient')),
			...original.map((h) => addressIn(header(h, 'x-hmxmroriginalrecipient'))),
			...original.map((h) => addressIn(header(h, 'to'))),
		];
		const recipient = candidates.find((a) => a && a !== redacted && !/^redacted@/.test(a)) ?? null;
		const feedbackType = (header(fields, 'feedback-type') ?? 'abuse').toLowerCase();
		return {
			...base,
			kind: feedbackType === 'not-spam' ? 'other' : 'complaint',
			reason: `ARF feedback report (Feedback-Type: ${feedbackType})`,
			recipient,
			feedbackType,
			// Some reports name the Message-ID only in their human-readable text (AOL: "message-id of ...").
			originalMessageIds: originalIds(
				original,
				mail,
				[...(mail.text ?? '').matchAll(/message-id (?:of|is|was)\s*<?([^\s<>]+@[^\s<>]+?)>?(?=[\s,;]|$)/gi)].map(
					(m) => m[1],
				),
			),
		};
	}

	// mailparser finds no text in some malformed multiparts (a boundary on an unfolded line, a body
	// without the delimiters its header announces): the MIME walker's text parts stand in.
	const text =
		mail.text ||
		parts
			.filter(
				(p) => p.children.length === 0 && (p.contentType === 'text/plain' || p.contentType.startsWith('multipart/')),
			)
			.map((p) => p.body.toString('utf8'))
			.join('\n');

	// The MTA or gateway that wrote the report, where its wording means something of its own.
	const mta = reportingMta(
		{
			from,
			messageId: base.messageId,
			get: (name) => headerOf(mail, name),
			// headerLines: mailparser leaves headers with an empty value (X-MS-Exchange-Message-Is-Ndr:) out of headers.
			names: () => mail.headerLines.map((line) => line.key),
		},
		text,
	);

	// Amazon SES notifications delivered by mail (SNS e-mail subscription): JSON, sometimes in an SNS envelope.
	const ses = sesNotification(text);
	if (ses) return { ...base, ...ses, originalMessageIds: originalIds([], mail, ses.originalMessageIds) };

	// Delivery status notification (RFC 3464); some gateways (and mail rebuilt from a parsed item)
	// carry the report fields inline in the text instead of a message/delivery-status part.
	const dsn = parts.find(
		(p) => p.contentType === 'message/delivery-status' || p.contentType === 'message/global-delivery-status',
	);
	const inlineBlocks = dsn
		? []
		: parseFieldBlocks(Buffer.from(text, 'utf8')).filter(
				(b) => b.has('final-recipient') && (b.has('action') || b.has('status')),
			);
	const [perMessage, ...recipientBlocks] = dsn
		? parseFieldBlocks(dsn.body)
		: [new Map<string, string[]>(), ...inlineBlocks];
	const blocks = recipientBlocks.length > 0 ? recipientBlocks : perMessage ? [perMessage] : [];
	// A report without any per-recipient field ("Delivery report unavailable") is read like a plain-text bounce below.
	if (blocks.some((b) => ['final-recipient', 'original-recipient', 'action', 'status'].some((field) => b.has(field)))) {
		const failed =
			blocks.find((b) => /^failed/i.test(header(b, 'action') ?? '')) ??
			blocks.find((b) => /^delayed/i.test(header(b, 'action') ?? '')) ??
			blocks.find((b) => /^[45]/.test(header(b, 'status') ?? '')) ??
			blocks[0];
		const action = ((failed && header(failed, 'action')?.toLowerCase()) ?? '').replace(/[^a-z].*$/, '');
		const diagnosticCode = (failed && header(failed, 'diagnostic-code')) ?? '';
		const diagnosticType = /^\s*([\w-]+)\s*;/.exec(diagnosticCode)?.[1] ?? null;
		const diagnostic = diagnosticCode || null;
		const serverAnswer = diagnosticCode.replace(/^\s*[\w-]+\s*;\s*/, '') || null;
		const reported = (failed && STATUS.exec(header(failed, 'status') ?? '')?.[0]) ?? null;
		const status = effectiveStatus(reported, serverAnswer);
		const explanation = bounceText(text);
		const own = new Set([from, ...to].filter((a): a is string => Boolean(a)));
		const recipient = failed
			? (routable(addressIn(header(failed, 'original-recipient'))) ??
				addressIn(header(failed, 'final-recipient')) ??
				recipientInText(`${serverAnswer ?? ''}\n${explanation}`, own))
			: null;
		const original = originalIds(returnedHeaders(parts, text), mail);
		const notFailed = /^(delivered|relayed|expanded|deliverable)$/.test(action) || status?.startsWith('2');
		if (!failed || notFailed || (!status && !diagnostic && !/^(failed|delayed)$/.test(action))) {
			return {
				...base,
				kind: 'other',
				reason: `Delivery report without a failure (Action: ${action || 'none'})`,
				recipient,
				status,
				diagnostic,
				originalMessageIds: original,
			};
		}
		// Without the server's own words, the report's human-readable part says why.
		const words = serverAnswer ?? (status && !/\.0$/.test(status) ? null : recipientSegment(explanation, recipient));
		const verdict = bounceVerdict(status, words, action, {
			command: smtpCommand(`${serverAnswer ?? ''}\n${explanation}`),
			diagnosticType,
			mta: mtaMeaning(mta, {
				answer: `${serverAnswer ?? ''}\n${recipientSegment(explanation, recipient)}`,
				report: explanation,
			}),
		});
		return { ...base, ...verdict, recipient, status, diagnostic, originalMessageIds: original };
	}

	// Bounces without a machine-readable report (older Exim, qmail, some gateways), also those that
	// carry Auto-Submitted: they are still bounces.
	const failureText = bounceText(text);
	const saysFailure = FAILURE_SUBJECT.test(base.subject) || FAILURE_WORDS.test(failureText);
	if ((isMailerDaemon(from) && (saysFailure || /\b[45]\d\d\b/.test(failureText))) || (saysFailure && !mail.inReplyTo)) {
		const ownAddresses = new Set(
			[from, ...to, addressIn(headerOf(mail, 'return-path'))].filter((a): a is string => Boolean(a)),
		);
		const recipient =
			addressIn(headerOf(mail, 'x-failed-recipients')) ??
			recipientInText(failureText, ownAddresses) ??
			returnedHeaders(parts, text)
				.map((h) => addressIn(header(h, 'to')))
				.find((a) => a && !ownAddresses.has(a)) ??
			null;
		const about = recipientSegment(failureText, recipient);
		const status = ownStatus(about) ?? ownStatus(failureText);
		const diagnostic = failureText.replace(/\s+/g, ' ').trim().slice(0, 1000) || null;
		const verdict = bounceVerdict(
			status,
			about,
			/(delayed|not yet been delivered|will (retry|keep trying|continue))/i.test(failureText + base.subject) &&
				!/(giving up|permanent)/i.test(failureText)
				? 'delayed'
				: '',
			{ command: smtpCommand(failureText), mta: mtaMeaning(mta, { answer: about, report: failureText }) },
		);
		return {
			...base,
			...verdict,
			reason: `${verdict.reason}; plain-text bounce from ${from ?? 'unknown sender'}`,
			recipient,
			status,
			diagnostic,
			// Plain-text bounces quote the original below a marker line; its Message-ID is there.
			originalMessageIds: originalIds(
				embeddedHeaders(parts),
				mail,
				[...text.matchAll(/^Message-ID:\s*(<[^<>\s]+>)/gim)].map((m) => m[1].slice(1, -1)),
			),
		};
	}

	const replyText = ownText(text);
	const repliedTo = originalIds([], mail);

	// Unsubscribe request: mail to an unsubscribe mailbox, or a short "unsubscribe" message.
	const mailboxes = new Set((options.unsubscribeMailboxes ?? []).map((m) => m.trim().toLowerCase()).filter(Boolean));
	const recipients = [
		...to,
		...addresses(mail.cc),
		...['delivered-to', 'x-original-to', 'envelope-to']
			.map((h) => addressIn(headerOf(mail, h)))
			.filter((a): a is string => Boolean(a)),
	];
	const toMailbox = recipients.find(
		(a) => mailboxes.has(a) || mailboxes.has(a.replace(/\+[^@]*@/, '@')) || /^unsubscribe([+-][^@]*)?@/.test(a),
	);
	const strippedSubject = base.subject.replace(/^\s*((re|aw|fw|fwd|wg|tr|sv|antw)\s*:\s*)+/i, '').trim();
	// Apple Mail's unsubscribe button sends a message marked auto-replied: a request all the same.
	const appleUnsubscribe = /^\s*true\s*$/i.test(headerOf(mail, 'x-apple-unsubscribe') ?? '');
	const autoReason = appleUnsubscribe ? null : isAutoReply(mail);
	if (!autoReason) {
		if (toMailbox)
			return {
				...base,
				kind: 'unsubscribe',
				reason: `Sent to the unsubscribe mailbox ${toMailbox}`,
				recipient: from,
				originalMessageIds: repliedTo,
				replyText,
			};
		if (appleUnsubscribe)
			return {
				...base,
				kind: 'unsubscribe',
				reason: 'Apple Mail unsubscribe request (X-Apple-Unsubscribe)',
				recipient: from,
				originalMessageIds: repliedTo,
				replyText,
			};
		if (
			UNSUBSCRIBE_WORDS.test(strippedSubject) ||
			(replyText.length <= 200 && (UNSUBSCRIBE_WORDS.test(replyText) || UNSUBSCRIBE_PHRASES.test(replyText)))
		) {
			return {
				...base,
				kind: 'unsubscribe',
				reason: 'Asks to unsubscribe',
				recipient: from,
				originalMessageIds: repliedTo,
				replyText,
			};
		}
	}
	if (autoReason)
		return {
			...base,
			kind: 'auto_reply',
			reason: autoReason,
			recipient: from,
			originalMessageIds: repliedTo,
			replyText,
		};
	return {
		...base,
		kind: 'reply',
		reason: 'Written by a person',
		recipient: from,
		originalMessageIds: repliedTo,
		replyText,
	};
}
