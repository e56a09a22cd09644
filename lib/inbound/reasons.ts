import type { MtaMeaning } from './mta';

/**
 * Why a message bounced, in the taxonomy of the reference bounce parser (sisimai): the reason
 * decides hard or soft. Only reasons about the address itself are permanent (hard): the mailbox or
 * the domain does not exist, the mailbox has moved, or the domain accepts no mail. Everything
 * else (full, blocked, filtered, spam, policy, expired, ...) says nothing about the address, so it
 * is soft: the same contact may well receive the next message.
 */
export const BOUNCE_REASONS = [
	'user_unknown',
	'host_unknown',
	'has_moved',
	'not_accept',
	'mailbox_full',
	'too_large',
	'rate_limited',
	'suspend',
	'auth_failure',
	'require_ptr',
	'filtered',
	'rejected',
	'blocked',
	'bad_reputation',
	'spam_detected',
	'virus_detected',
	'policy_violation',
	'content_error',
	'no_relaying',
	'security_error',
	'expired',
	'network_error',
	'system_full',
	'system_error',
	'mailer_error',
	'syntax_error',
	'undefined',
] as const;
export type BounceReason = (typeof BOUNCE_REASONS)[number];

/** Address-level permanent reasons: the only ones that suppress at the first bounce. */
export const HARD_REASONS: ReadonlySet<BounceReason> = new Set([
	'user_unknown',
	'host_unknown',
	'has_moved',
	'not_accept',
]);

/**
 * Phrases of remote servers per reason, tried in this order on the lower-cased diagnostic (the
 * order settles texts that name two things, e.g. "mailbox full" before "user").
 */
const PHRASES: Array<[BounceReason, RegExp]> = [
	[
		'mailbox_full',
		/mailbox (is )?full|mailbox.{0,40}(is )?over ?quota|over ?quota|quota (exceeded|exceed|full)|exceeded (the |his |her |its )?(storage|quota|mailbox)|(disk|mail ?box|mail folder|inbox) (is )?full|full mail ?box|insufficient (disk )?(space|storage)|not enough (storage|space)|mailbox size limit|mail ?box (has )?exceeded|too much mail data|account is full|boîte (aux lettres )?pleine|postfach voll|user has too many messages/,
	],
	[
		'too_large',
		/message (size )?(is )?too (big|large)|message size exceeds|exceeds? (the )?(maximum )?(allowed )?(message )?size|size (limit|of the message) exceeded|larger than the (maximum|allowed)|message length exceeds|mail size limit/,
	],
	[
		'rate_limited',
		/rate limit|too many (messages|emails|mails|connections|recipients|concurrent)|receiving mail at a rate|sending (rate|limit)|throttl|exceeded (the )?(daily |hourly )?(rate|limit|sending)|try again later.{0,40}(rate|frequency|volume)|unusual (rate|volume)|too fast|connection limit/,
	],
	[
		'suspend',
		/(account|mailbox|address|user)\b.{0,60}\b(has been |is |was )?(temporar(il)?y )?(suspended|disabled|deactivated|frozen|locked)\b|suspended (account|mailbox)|disabled (account|mailbox)|account (is )?inactive|mailbox (is )?inactive|mailbox unavailable \(suspended\)/,
	],
	[
		'has_moved',
		/(address|mailbox|user|recipient) has (been )?moved|has moved (to|on)|no longer (with|at) (this|the) (company|organization)|is no longer employed/,
	],
	[
		'auth_failure',
		/\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|sender ?id\b|authentication (check )?fail|(not|un)authenticated|does not pass authentication|domain authentication/,
	],
	[
		'user_unknown',
		/user(name)? (is )?(unknown|not found|not known|doesn'?t exist|does not exist|not exist)|unknown (user|recipient|mailbox|local ?part|e-?mail address|address)|no such (user|recipient|mailbox|person|address|account|local user)|(mailbox|recipient|address|account|addressee|user account|e-?mail account|email address) (does not|doesn'?t|do not) exist|(recipient|mailbox|address|user) (not found|unknown|not known|not valid|invalid|unavailable)|invalid (recipient|mailbox|address|user)|not a valid (mailbox|recipient|user|address)|(mailbox|recipient|user|address) (does not|doesn'?t) exist|no mailbox (here|by that name|found)|no account by that name|not a known user|is not a valid user|bad (destination )?(recipient|address|mailbox)|(address|recipient) rejected:? (user unknown|invalid|not found|unknown)|user missing home directory|no one at this address|not (an active|a local) address|address (is )?not listed|not listed in.{0,30}directory|address lookup failed|this address no longer accepts mail|no longer valid|account (is )?(unavailable|not available|has been deleted|does not exist|closed)|destination (mailbox|address)es were unknown|utilisateur inconnu|usuario (desconocido|no existe)|existiert nicht|not our customer|unknown or illegal alias|sorry, no mailbox|invalid user|unknown address|disabled or discontinued|mailbox not present|adresse .{0,30}invalide|the email account that you tried to reach does not exist|bad address|doesn'?t have an? .{1,60} account|invalid final delivery userid|not listed in .{0,40}(directory|address book)|recipient address rejected: access denied|(recipient )?address rejected(?!:)|no valid recipients|recipient name is not recognized|mailbox unavailable|address could(n'?t| not) be found/,
	],
	// cPanel's Exim names a missing account or domain first, then other possibilities ("may be blacklisted").
	['host_unknown', /the account or domain may not exist/],
	[
		'filtered',
		/(filtered|rejected by|refused by) (the )?(recipient|user|mailbox)'?s? (filter|rule|preference|setting)|content filter|message filtered|header (filter|check)|due to (the )?recipient'?s? (preference|setting|filter)|recipient has (blocked|rejected|refused)|does not accept mail from you|refused (to accept )?mail from|sender is (blocked|rejected|not allowed) by (the )?recipient|blocked by (the )?recipient|not (authorized|allowed) to (send|post)|no permission to post|not a member of (this|the) (mailing )?list|(do|may) not have permission to (post|send)|only (members|subscribers) (can|may) (post|send)|mail from your address is not accepted/,
	],
	[
		'require_ptr',
		/reverse (dns|lookup|hostname|address|mapping)|\bptr\b|\brdns\b|cannot find your (reverse )?hostname|(client|sender) host (name )?(lookup|verification) failed|ip name (lookup|possibly forged)|(does not|doesn'?t) (resolve|have a (valid )?hostname)|no (valid )?hostname|hostname (is )?(unknown|unresolvable)|(helo|ehlo) .{0,40}(invalid|not (found|valid|resolv))|unresolvable|is not (resolvable|valid fqdn)|could not resolve your (hostname|address)|non-fqdn/,
	],
	[
		'not_accept',
		/does not accept (any )?(e-?)?mail|not accepting (network )?messages|indicated no smtp service|not accepting (any )?mail|accepts no mail|null mx|no mail (service|exchanger)|domain does not receive mail/,
	],
	// A DNS server's broken answer is a network problem (before "malformed" reads as content).
	['network_error', /name service error .{0,120}(malformed|unexpected|try again)|temporary (dns|lookup) failure/],
	[
		'content_error',
		/not (rfc|standard)[- ]?compliant|(violates|violation of|according to) rfc ?\d+|malformed|(missing|invalid|duplicate|illegal) (required )?(header|message-id|date|from)|bare (lf|linefeed)|8-?bit (data|characters) not accepted|mime (error|violation)|message contains (invalid|illegal) characters|content(s)? (error|rejected|not accepted)|attachment (type )?(not allowed|rejected|blocked)|(prohibited|forbidden|blocked) attachment/,
	],
	['virus_detected', /virus|malware|infected|trojan|worm/],
	[
		'spam_detected',
		/spam|junk mail|bulk (mail|e-?mail)|unsolicited|phish|suspicious|scam|blocked by .{0,30}(filter|scanner)|message (looks|appears) (like|to be)|content (was )?(flagged|considered|detected)|rejected as|not accepted due to (its )?content|score/,
	],
	['bad_reputation', /reputation|poor (sending|sender)|sending ip .{0,30}(low|poor)/],
	[
		'blocked',
		/block(ed)? ?list|black ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|sorbs|barracuda ?(central|rbl)|listed (in|on|at|by)|(ip|host|client|connection|network)( address)? .{0,60}(blocked|banned|denied|refused|rejected|not allowed)|(blocked|banned|refused|rejected|denied) (for |from )?(your |the )?(ip|host|network|client)|access denied|connection (refused|rejected|denied)|blocked using|blocked|banned|not allowed to (connect|send)|has been (temporarily )?(blocked|deferred)|dynamic (ip|address)|residential|dial-?up|open (relay|proxy)|(rejected|refused).{0,30}(ip|host)|\bbl\b|cannot accept mail from/,
	],
	[
		'policy_violation',
		/polic(y|ies)|not permitted|prohibited|violat|not allowed|compliance|restricted|administrative(ly)? (prohibited|reasons)/,
	],
	[
		'no_relaying',
		/relay(ing)? (access )?(denied|not (permitted|allowed|authori[sz]ed))|not permitted to relay|unable to relay|relaying (is )?(denied|prohibited|not)|we do not relay|not a gateway|relay not permitted/,
	],
	[
		'host_unknown',
		/host (or domain name )?(not found|unknown)|unknown (host|domain)|domain (not found|does not exist|unknown|name not found)|no (mx|such domain|such host|route to host|mail server)|name or service not known|\bnxdomain\b|unrout(e)?able (mail )?domain|(recipient|destination) domain (is )?(invalid|not found|unknown)|all relevant mx records point to non-existent hosts|mx (record|lookup) (not found|failed)|(host|domain) lookup failed|dns (lookup|query) failed for|domain (is )?(not|no longer) (in use|registered|valid)|domain of (the )?recipient (address )?not found|illegal host\/domain name found|host name lookup failure|unknown mail domain|dns lookup failure: host .{1,80} not found|unrouteable address|domain is not reachable|invalid domain|couldn'?t find a mail exchanger|\b\d{3}[ -][a-z0-9-]+(\.[a-z0-9-]+)+ does not exist/,
	],
	[
		'syntax_error',
		/syntax error|command (not )?(recognized|unrecognized|unknown)|unrecognized command|bad sequence|invalid command|line too long/,
	],
	['security_error', /starttls|\btls\b|certificate|encrypt|security/],
	[
		'expired',
		/expired|retry (time|timeout|limit)|giving up|timed? ?out|too long in (the )?queue|could not be delivered (within|for|in)|has not been delivered|delayed|delay|undelivered for|no answer from|deferred/,
	],
	[
		'network_error',
		/connection (refused|timed out|reset|lost|closed|dropped)|network|too many hops|mail (routing )?loop|loops back|hop count exceeded|temporary (dns|lookup) failure|dns (error|failure)|broken pipe/,
	],
	[
		'system_full',
		/(disk|system|server|queue) (is )?(full|out of space)|insufficient system (storage|resources)|out of (disk )?space/,
	],
	[
		'mailer_error',
		/mailer (error|program)|pipe to|command (died|failed|output)|exit (code|status|value)|x-unix|procmail|maildrop|deliver(y)? program/,
	],
	[
		'system_error',
		/system error|internal (server )?error|server error|local error|configuration error|misconfigur|service (not |un)available|temporar|try again|resources? (temporarily )?unavailable|i\/o error|unexpected|problem/,
	],
];

/** A reason from the RFC 3463 code alone (sisimai reads the same subjects and details). */
function reasonOfCode(status: string): BounceReason | null {
	const [, subject, detail] = status.split('.');
	const code = `${subject}.${detail}`;
	switch (code) {
		case '1.1':
		case '1.3':
			return 'user_unknown';
		case '1.2':
			return 'host_unknown';
		case '1.6':
			return 'has_moved';
		case '1.10':
			return 'not_accept';
		case '1.8':
		case '1.7':
			return 'rejected';
		case '2.1':
			return 'suspend';
		case '2.2':
			return 'mailbox_full';
		case '2.3':
		case '3.4':
			return 'too_large';
		case '2.4':
			return 'system_error';
		case '3.1':
			return 'system_full';
		case '4.7':
			return 'expired';
		case '7.7':
		case '7.23':
		case '7.24':
		case '7.25':
		case '7.26':
			return 'auth_failure';
		case '7.1':
			return 'rejected';
		case '7.28':
			return 'spam_detected';
		case '4.6':
			return 'network_error';
		case '4.4':
			return 'host_unknown';
	}
	if (subject === '3') return 'system_error';
	if (subject === '4') return 'network_error';
	if (subject === '5') return 'syntax_error';
	if (subject === '6') return 'content_error';
	if (subject === '7') return 'security_error';
	return null;
}

export interface BounceEvidence {
	/** RFC 3463 code (e.g. "5.1.1"), or null when the bounce names none. */
	status: string | null;
	/** What the remote server or the bouncing MTA said. */
	diagnostic: string | null;
	/** DSN Action (failed, delayed, ...), lower-cased, or "". */
	action?: string;
	/** The SMTP command the server answered (RCPT, DATA, MAIL, ...), when the report says. */
	command?: string | null;
	/** The Diagnostic-Code type (smtp, x-unix, ...), when the report gives one. */
	diagnosticType?: string | null;
	/** What the reporting MTA's own wording settles (lib/inbound/mta.ts). */
	mta?: MtaMeaning;
}

/**
 * Words only the recipient's own server says after looking the address up in its directory
 * (Exchange, Domino, qmail-local, IMail ...), or that name the refused address itself ("<a@b>: User
 * unknown"), or a relay's report of such an answer (Gmail: "the address couldn't be found"): as sure
 * as a rejection at RCPT TO, even when given after DATA.
 */
const DIRECTORY_ANSWER =
	/recipient name is not recognized|not listed in .{0,40}(directory|address book)|no mailbox here by that name|doesn'?t have a .{1,60} account|invalid final delivery userid|no valid recipients|invalid recipient|mail\.local: unknown user|requested action not taken: (mailbox unavailable|no such user)|recipient address rejected|address rejected(?!:)|account .{0,60} does not exist at the organization|the email account that you tried to reach does not exist|^\s*unknown user:|<[^<>\s]+@[^<>\s]+>:? user unknown|because the address could(n'?t| not) be found/;

/** Reasons whose words are too common to overrule a specific code. */
const VAGUE: ReadonlySet<BounceReason> = new Set(['expired', 'system_error', 'policy_violation']);

/** The first reason whose phrases the text holds. */
export function reasonOfText(text: string): BounceReason | null {
	const lower = text.toLowerCase().replace(/\s+/g, ' ');
	for (const [reason, pattern] of PHRASES) if (pattern.test(lower)) return reason;
	return null;
}

/**
 * The reason of a bounce: a specific code (x.1.1, x.2.2, ...) whose diagnostic names nothing else;
 * otherwise the diagnostic's words; otherwise the code's subject. A delayed report is "expired"
 * unless its words say more; a bounce without code or words is "undefined".
 */
export function bounceReason(evidence: BounceEvidence): BounceReason {
	// The local delivery program failed (procmail, a pipe): the mailbox owner's setup, not the address.
	if (/^x-unix/i.test(evidence.diagnosticType ?? '')) return 'mailer_error';
	if (evidence.mta?.reason) return evidence.mta.reason;
	// x.1.7 / x.1.8: the sender's address was refused; words about a missing domain are about the sender's.
	if (evidence.status && /^[45]\.1\.[78]$/.test(evidence.status)) return 'rejected';
	const text = reasonOfText(evidence.diagnostic ?? '');
	const code = evidence.status ? reasonOfCode(evidence.status) : null;
	let reason: BounceReason;
	// A mailbox code whose words say the mailbox exists but refused (full, blocked, ...) takes the words.
	if (code && HARD_REASONS.has(code)) reason = text && !HARD_REASONS.has(text) && !VAGUE.has(text) ? text : code;
	else reason = text ?? code ?? (evidence.action === 'delayed' ? 'expired' : 'undefined');
	// "User unknown" condemns the address only when the code says so or the server said it to RCPT TO;
	// said after DATA, or by a gateway that does not say when, it is a content filter speaking.
	const certain =
		evidence.command === 'RCPT' ||
		(!evidence.mta?.stageUnknown &&
			DIRECTORY_ANSWER.test((evidence.diagnostic ?? '').toLowerCase().replace(/\s+/g, ' ')));
	if (reason === 'user_unknown' && code !== 'user_unknown' && !certain) reason = 'filtered';
	// A failed DNS lookup reported as temporary is a network problem, not a missing domain.
	if (
		reason === 'host_unknown' &&
		(evidence.status?.startsWith('4') || /not found,\s+try again/i.test(evidence.diagnostic ?? ''))
	)
		reason = 'network_error';
	return reason;
}

/**
 * Hard or soft: address-level reasons are hard, unless the report is only a delay warning or the
 * server itself calls a "not accept" temporary; every other reason is soft.
 */
export function isHardBounce(reason: BounceReason, evidence: BounceEvidence): boolean {
	if (evidence.action === 'delayed') return false;
	if (!HARD_REASONS.has(reason)) return false;
	if (reason === 'not_accept' && evidence.status?.startsWith('4')) return false;
	return true;
}
