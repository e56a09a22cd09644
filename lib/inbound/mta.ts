import type { BounceReason } from './reasons';

/**
 * The MTA or gateway that wrote a bounce, where its wording has a meaning of its own
 * (docs/bounces.md#the-reporting-mta). Like sisimai's per-MTA modules, the generic rules read any
 * report; these only add what one MTA's documented behaviour settles.
 */
export type ReportingMta =
	'postfix' | 'office365' | 'messagelabs' | 'au' | 'activehunter' | 'apachejames' | 'zoho' | 'x2';

export interface ReportHeaders {
	from: string | null;
	messageId: string;
	/** A top-level header's value, or undefined. */
	get(name: string): string | undefined;
	/** The report's header names, lower-cased. */
	names(): string[];
}

/** Who wrote the report, from its own headers (never the returned message's) and, for X2, its layout. */
export function reportingMta(headers: ReportHeaders, text: string): ReportingMta | null {
	const names = headers.names();
	const fromDomain = headers.from?.split('@')[1] ?? '';
	const idDomain = headers.messageId.split('@')[1] ?? '';
	if (
		/(^|\.)(outlook\.com|onmicrosoft\.com|exchangelabs\.com)$/.test(fromDomain) ||
		/\.(outlook\.com|exchangelabs\.com)$/i.test(idDomain) ||
		names.some((name) => name.startsWith('x-ms-exchange-'))
	)
		return 'office365';
	if (/(^|\.)messagelabs\.com$/.test(fromDomain)) return 'messagelabs';
	if (/^postmaster@(ezweb\.ne\.jp|au\.com)$/.test(headers.from ?? '') || /\.(ezweb\.ne\.jp|au\.com)$/i.test(idDomain))
		return 'au';
	if (names.includes('x-ahmailid')) return 'activehunter';
	if (
		headers.messageId.includes('.JavaMail.') ||
		/JAMES SMTP Server/.test(headers.get('received') ?? '') ||
		headers.get('subject') === '[BOUNCE]'
	)
		return 'apachejames';
	if (names.includes('x-zohomail') || /(^|\.)zoho\.com$/.test(fromDomain)) return 'zoho';
	if (
		/^Unable to deliver message to the following address\(es\)\.$/m.test(text) &&
		/^--- Original message follows\.$/m.test(text)
	)
		return 'x2';
	if (/^This is the (Postfix program|mail system) at host /m.test(text) || names.includes('x-postfix-queue-id'))
		return 'postfix';
	return null;
}

/** What a reporting MTA's wording adds to the generic reading of its report. */
export interface MtaMeaning {
	/** The SMTP command the answer was given to, where the MTA's report shows it in its own way. */
	command?: 'RCPT';
	/** A reason the MTA's own words settle. */
	reason?: BounceReason;
	/**
	 * The report names no SMTP stage, and the answer it quotes is the gateway's own: a "user unknown"
	 * in it condemns the address only with an x.1.1 code.
	 */
	stageUnknown?: boolean;
}

/** Gateways whose reports quote an answer without the SMTP stage it was given at (sisimai reads them as filtered). */
const STAGELESS: ReadonlySet<ReportingMta> = new Set(['activehunter', 'apachejames', 'zoho', 'x2']);

/**
 * The meaning of one recipient's failure: `answer` is what the report says about that recipient,
 * `report` its whole explanation (for headings that speak for all recipients).
 */
export function mtaMeaning(mta: ReportingMta | null, text: { answer: string; report: string }): MtaMeaning {
	if (!mta) return {};
	if (STAGELESS.has(mta)) return { stageUnknown: true };
	const lower = text.answer.toLowerCase().replace(/\s+/g, ' ');
	switch (mta) {
		// Postfix ends every remote server's answer it reports with the command it answered ("host h said:
		// 550 ... (in reply to RCPT TO command)"); an answer without one names no stage.
		case 'postfix':
			return /\bsaid: /.test(lower) && !/\(in reply to /.test(lower) ? { stageUnknown: true } : {};
		// Exchange Online's 5.1.351 relays the next server's refusal of the recipient; when that answer
		// names the address, it was the answer to RCPT TO for it (sisimai's Office365 module reads it so).
		case 'office365':
			// Line by line, up to the quote that ends the relayed answer: an address after it is not in it.
			return text.answer
				.split('\n')
				.some((line) => /unknown recipient or mailbox unavailable -> [^'"]{0,80}@[\w.-]+\.[a-z]{2,}/i.test(line))
				? { command: 'RCPT' }
				: {};
		// MessageLabs (Symantec Email Security.cloud) delivers only to its customer's own servers and
		// reports their answer to RCPT TO: "a@b... No such user", and its own "542 a@b Rejected" for an
		// address the customer did not register.
		case 'messagelabs':
			return /no such user|\b542 \S+@\S+ rejected/.test(lower) ? { reason: 'user_unknown', command: 'RCPT' } : {};
		// au (KDDI) heads its report with its classification of the account; "disabled" or "temporarily
		// limited" is a subscriber whose service is suspended (unpaid), whatever the transcript says.
		case 'au':
			return /the user\(s\) account is (disabled|temporarily limited)/i.test(text.report) ? { reason: 'suspend' } : {};
	}
	return {};
}
