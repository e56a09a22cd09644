import type { Contact } from '../../lib/contacts';
import { ValidationError } from '../../lib/errors';
import { escapeHtml, mergeTemplate, neutraliseHeader, renderMessage, rewriteLinks } from '../../lib/render';

const contact = (fields: Contact['fields'] = {}, extra: Partial<Contact> = {}): Contact => ({
	id: 'c1',
	email: 'ada@example.com',
	timezone: 'Europe/Berlin',
	fields,
	fieldTypes: {},
	tags: ['vip', 'news'],
	createdAt: '2026-01-01T00:00:00.000Z',
	updatedAt: '2026-01-01T00:00:00.000Z',
	events: {},
	attributes: {},
	...extra,
});

const scope = (c: Contact, data?: Record<string, unknown>) => ({
	contact: c,
	campaign: { id: 'spring', name: 'Spring sale' },
	data,
});

describe('merge fields', () => {
	it('reads fields, core attributes, campaign and item data, with fallbacks', () => {
		const out = mergeTemplate(
			'Hi {{ firstName | "there" }} ({{ contact.email }}), {{ campaign.name }} for {{ data.city }}; orders {{orders}}, tags {{ contact.tags }}',
			scope(contact({ orders: 3 }), { city: 'Oslo' }),
			'text',
			false,
		);
		expect(out).toBe('Hi there (ada@example.com), Spring sale for Oslo; orders 3, tags vip, news');
	});

	it('uses single-quoted and empty fallbacks, and treats an empty value as missing', () => {
		expect(mergeTemplate('{{ nick | \'friend\' }}|{{ city | "" }}|', scope(contact({ nick: '' })), 'text', false)).toBe(
			'friend||',
		);
	});

	it('names the missing required field, the part and the contact', () => {
		let error: ValidationError | undefined;
		try {
			mergeTemplate('Hello {{ lastName }}', scope(contact()), 'subject', false);
		} catch (e) {
			error = e as ValidationError;
		}
		expect(error).toBeInstanceOf(ValidationError);
		expect(error?.field).toBe('subject');
		expect(error?.message).toContain('"lastName"');
		expect(error?.message).toContain('"c1"');
		expect(error?.hint).toContain('{{ lastName | "..." }}');
	});

	it('refuses malformed merge fields instead of sending them raw', () => {
		expect(() => mergeTemplate('Hi {{ first name }}', scope(contact()), 'html', true)).toThrow(/Malformed merge field/);
		expect(() => mergeTemplate('Hi {{ x | nofallback }}', scope(contact({ x: 'a' })), 'html', true)).toThrow(
			ValidationError,
		);
	});

	it('does not read inherited properties (no prototype access)', () => {
		expect(() => mergeTemplate('{{ constructor }}', scope(contact()), 'text', false)).toThrow(/no value/);
		expect(() => mergeTemplate('{{ contact.__proto__ }}', scope(contact()), 'text', false)).toThrow(/no value/);
	});

	it('HTML-escapes values in HTML parts only', () => {
		const c = contact({ firstName: '<script>alert("x")</script> & co' });
		expect(mergeTemplate('<p>{{ firstName }}</p>', scope(c), 'html', true)).toBe(
			'<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</p>',
		);
		expect(mergeTemplate('{{ firstName }}', scope(c), 'text', false)).toBe('<script>alert("x")</script> & co');
	});
});

describe('renderMessage', () => {
	it('derives the text part from the HTML when empty, keeping link targets', () => {
		const out = renderMessage(
			{ subject: 'Hi', html: '<h1>Hello {{ firstName }}</h1><p>See <a href="https://shop.example/x">our shop</a></p>' },
			scope(contact({ firstName: 'Ada' })),
		);
		expect(out.text).toContain('HELLO ADA');
		expect(out.text).toContain('our shop [https://shop.example/x]');
	});

	it('puts a hidden preheader right after <body> and keeps it out of the derived text', () => {
		const out = renderMessage(
			{ subject: 'Hi', preheader: 'Only {{ data.n }} left & more', html: '<html><body><p>Body</p></body></html>' },
			scope(contact(), { n: 3 }),
		);
		expect(out.html).toMatch(/^<html><body><div style="display:none[^"]*">Only 3 left &amp; more<\/div><p>Body<\/p>/);
		expect(out.text).toBe('Body');
	});

	it('neutralises line breaks in the subject, including ones coming from merge fields', () => {
		const out = renderMessage(
			{ subject: 'Hi {{ firstName }}\r\nBcc: x@evil.test', html: '<p>x</p>' },
			scope(contact({ firstName: 'Ada\nBcc: y@evil.test' })),
		);
		expect(out.subject).toBe('Hi Ada Bcc: y@evil.test Bcc: x@evil.test');
		expect(out.subject).not.toMatch(/[\r\n]/);
		expect(neutraliseHeader('a\u2028b\r\n\r\nc')).toBe('a b c');
	});

	it('rewrites http(s) links for click tracking, leaving mailto, anchors and opted-out links', () => {
		const html =
			'<a href="https://a.example/p?x=1&amp;y=2">A</a> <a href=\'http://b.example\'>B</a> <a href="mailto:x@y.z">M</a> <a href="#top">T</a> <a data-ma-notrack href="https://c.example">C</a>';
		const { html: out, links } = rewriteLinks(html, (url) => `https://t.example/c/${encodeURIComponent(url)}`);
		expect(links).toEqual(['https://a.example/p?x=1&y=2', 'http://b.example']);
		expect(out).toContain(
			`href="https://t.example/c/${escapeHtml(encodeURIComponent('https://a.example/p?x=1&y=2'))}"`,
		);
		expect(out).toContain('href="mailto:x@y.z"');
		expect(out).toContain('href="#top"');
		expect(out).toContain('href="https://c.example"');
	});

	it('adds the open pixel before </body> and refuses an empty subject or body', () => {
		const out = renderMessage({ subject: 'S', html: '<body><p>x</p></body>' }, scope(contact()), {
			openPixelUrl: 'https://t.example/o/abc',
		});
		expect(out.html).toBe(
			'<body><p>x</p><img src="https://t.example/o/abc" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px"></body>',
		);
		expect(() => renderMessage({ subject: ' ', html: '<p>x</p>' }, scope(contact()))).toThrow(
			expect.objectContaining({ field: 'subject' }),
		);
		expect(() => renderMessage({ subject: 'S', html: '' }, scope(contact()))).toThrow(
			expect.objectContaining({ field: 'html' }),
		);
		expect(() => renderMessage({ subject: '{{ x | "" }}', html: '<p/>' }, scope(contact()))).toThrow(
			/empty after merging/,
		);
	});
});
