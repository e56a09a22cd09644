import { convert } from 'html-to-text';
import { ValidationError } from '../errors';
import type { Contact } from '../contacts';

/** What merge fields can read: the stored contact, the campaign, extra item data, link URLs. */
export interface MergeScope {
	contact: Contact;
	campaign: { id: string; name?: string };
	data?: Record<string, unknown>;
	unsubscribeUrl?: string;
	/** The signed double opt-in confirmation link (for contacts whose status is "pending"). */
	confirmUrl?: string;
}

export interface TemplateParts {
	subject: string;
	preheader?: string;
	html: string;
	/** Derived from the HTML when empty. */
	text?: string;
}

export interface LinkTracking {
	/** Turns a target URL into the tracked click URL; links it returns null for stay as they are. */
	click?: (url: string) => string | null;
	/** URL of the 1x1 open pixel. */
	openPixelUrl?: string;
}

export interface RenderedParts {
	subject: string;
	html: string;
	text: string;
	/** Original target URLs that were rewritten for click tracking. */
	trackedLinks: string[];
}

// {{ path }} or {{ path | "fallback" }} (single or double quotes; \" escapes).
const MERGE_FIELD =
	/\{\{\s*([A-Za-z_$][\w$-]*(?:\.[\w$-]+)*)\s*(?:\|\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'))?\s*\}\}/g;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
	return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

function unescapeHtmlAttribute(value: string): string {
	return value
		.replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
		.replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
		.replace(/&quot;/g, '"')
		.replace(/&#39;|&apos;/g, "'")
		.replace(/&lt;/g, '<')
		.replace(/&gt;/g, '>')
		.replace(/&amp;/g, '&');
}

function scopeObject(scope: MergeScope): Record<string, unknown> {
	const c = scope.contact;
	const contact = {
		...c.fields,
		id: c.id,
		email: c.email,
		timezone: c.timezone,
		lifecycleStage: c.lifecycleStage,
		status: c.subscription?.status,
		tags: c.tags,
		fields: c.fields,
	};
	// Bare names read the contact's own fields first, then its core attributes.
	return {
		...contact,
		...c.fields,
		contact,
		campaign: scope.campaign,
		data: scope.data ?? {},
		unsubscribeUrl: scope.unsubscribeUrl,
		confirmUrl: scope.confirmUrl,
	};
}

function lookup(root: Record<string, unknown>, path: string): unknown {
	let value: unknown = root;
	for (const part of path.split('.')) {
		if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part))
			return undefined;
		value = (value as Record<string, unknown>)[part];
	}
	return value;
}

function formatValue(value: unknown): string | undefined {
	if (value === undefined || value === null) return undefined;
	if (Array.isArray(value)) return value.length === 0 ? undefined : value.map((v) => formatValue(v) ?? '').join(', ');
	if (typeof value === 'object') return JSON.stringify(value);
	const text = String(value);
	return text === '' ? undefined : text;
}

/**
 * Fills `{{ field }}` / `{{ field | "fallback" }}`. A field without fallback is required: when the
 * contact has no value for it the mail is not sent and the error names the field.
 */
export function mergeTemplate(template: string, scope: MergeScope, part: string, escape: boolean): string {
	const root = scopeObject(scope);
	const out = template.replace(MERGE_FIELD, (_match, path: string, dq?: string, sq?: string) => {
		const fallback = dq ?? sq;
		let value = formatValue(lookup(root, path));
		if (value === undefined) {
			if (fallback === undefined) {
				throw new ValidationError(
					part,
					`Merge field "${path}" in the ${part} has no value for contact "${scope.contact.id}" and no fallback`,
					`Store the field on the contact, or give a fallback: {{ ${path} | "..." }}`,
				);
			}
			value = fallback.replace(/\\(.)/g, '$1');
		}
		return escape ? escapeHtml(value) : value;
	});
	const broken = /\{\{[^}]*\}\}/.exec(out);
	if (broken) {
		throw new ValidationError(
			part,
			`Malformed merge field ${broken[0].slice(0, 60)} in the ${part}`,
			'Write {{ fieldName }} or {{ fieldName | "fallback" }}.',
		);
	}
	return out;
}

// NUL and the Unicode line and paragraph separators break header lines too.
// eslint-disable-next-line no-control-regex
const HEADER_LINE_BREAKS = /[\r\n\u0000\u2028\u2029]+/g;

/** Line breaks in a header value would start a new header: fold them into spaces. */
export function neutraliseHeader(value: string): string {
	return value
		.replace(HEADER_LINE_BREAKS, ' ')
		.replace(/\s{2,}/g, ' ')
		.trim();
}

/** Rewrites http(s) hrefs of <a> tags; links marked data-ma-notrack stay as written. */
export function rewriteLinks(html: string, click: (url: string) => string | null): { html: string; links: string[] } {
	const links: string[] = [];
	const out = html.replace(/<a\b[^>]*>/gi, (tag) => {
		if (/\sdata-ma-notrack\b/i.test(tag)) return tag;
		return tag.replace(/(\shref\s*=\s*)(["'])(.*?)\2/i, (attr, lead: string, quote: string, raw: string) => {
			const url = unescapeHtmlAttribute(raw.trim());
			if (!/^https?:\/\//i.test(url)) return attr;
			const tracked = click(url);
			if (tracked === null) return attr;
			links.push(url);
			return `${lead}${quote}${escapeHtml(tracked)}${quote}`;
		});
	});
	return { html: out, links };
}

function insertAfterBodyOpen(html: string, snippet: string): string {
	const match = /<body\b[^>]*>/i.exec(html);
	return match
		? html.slice(0, match.index + match[0].length) + snippet + html.slice(match.index + match[0].length)
		: snippet + html;
}

function insertBeforeBodyClose(html: string, snippet: string): string {
	const at = html.search(/<\/body\s*>/i);
	return at >= 0 ? html.slice(0, at) + snippet + html.slice(at) : html + snippet;
}

export function htmlToText(html: string): string {
	return convert(html, {
		wordwrap: 78,
		selectors: [
			{ selector: 'img', format: 'skip' },
			{ selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
		],
	}).trim();
}

/** Renders subject, HTML and text for one contact: merge fields, escaping, preheader, tracking. */
export function renderMessage(parts: TemplateParts, scope: MergeScope, tracking: LinkTracking = {}): RenderedParts {
	if (typeof parts.html !== 'string' || parts.html.trim() === '')
		throw new ValidationError('html', 'The HTML body is empty');
	if (typeof parts.subject !== 'string' || parts.subject.trim() === '')
		throw new ValidationError('subject', 'The subject is empty');
	const subject = neutraliseHeader(mergeTemplate(parts.subject, scope, 'subject', false));
	if (subject === '') throw new ValidationError('subject', 'The subject is empty after merging');
	let html = mergeTemplate(parts.html, scope, 'html', true);
	let links: string[] = [];
	if (tracking.click) ({ html, links } = rewriteLinks(html, tracking.click));
	const text =
		parts.text && parts.text.trim() !== '' ? mergeTemplate(parts.text, scope, 'text', false) : htmlToText(html);
	if (parts.preheader && parts.preheader.trim() !== '') {
		const preheader = escapeHtml(neutraliseHeader(mergeTemplate(parts.preheader, scope, 'preheader', false)));
		html = insertAfterBodyOpen(
			html,
			`<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all">${preheader}</div>`,
		);
	}
	if (tracking.openPixelUrl) {
		html = insertBeforeBodyClose(
			html,
			`<img src="${escapeHtml(tracking.openPixelUrl)}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`,
		);
	}
	return { subject, html, text, trackedLinks: links };
}
