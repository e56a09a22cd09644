import { createHmac } from 'crypto';
import fc from 'fast-check';
import { checkRedirectUrl, signToken, trackingUrls, verifyToken } from '../../lib/tracking/tokens';
import { legacyToken } from '../harness/tokens';

const SECRET = 'a-long-enough-signing-secret';
const claims = {
	contactId: 'c:1 {x}',
	campaignId: 'spring',
	messageId: '<m1@example.com>',
	issuedAt: 1_700_000_000_000,
};

describe('tracking tokens', () => {
	it('round-trips claims for each kind and refuses another kind', () => {
		const click = signToken(SECRET, { ...claims, kind: 'c', url: 'https://shop.example/p?a=1' });
		expect(verifyToken(SECRET, click, 'c')).toEqual({ ...claims, kind: 'c', url: 'https://shop.example/p?a=1' });
		expect(verifyToken(SECRET, click, 'o')).toBeNull();
		const unsub = signToken(SECRET, { ...claims, kind: 'u' });
		expect(verifyToken(SECRET, unsub, 'u')).toMatchObject({ contactId: 'c:1 {x}', campaignId: 'spring' });
		expect(unsub).toMatch(/^[A-Za-z0-9_-]+$/);
	});

	it('is opaque: no contact id, e-mail, campaign, Message-ID or URL can be read from it', () => {
		// Every spelling a scanner or a curious reader would try on a URL path segment.
		const readings = (token: string) => {
			const bytes = [
				Buffer.from(token, 'base64url'),
				Buffer.from(token, 'base64'),
				...token.split(/[._-]/).map((part) => Buffer.from(part, 'base64')),
			];
			return [
				token,
				decodeURIComponent(token),
				...bytes.flatMap((b) => [b.toString('utf8'), b.toString('latin1'), b.toString('utf16le'), b.toString('hex')]),
			].map((t) => t.toLowerCase());
		};
		fc.assert(
			fc.property(fc.emailAddress(), fc.constantFrom<'o' | 'c' | 'u'>('o', 'c', 'u'), (email, kind) => {
				const secrets = {
					contactId: email,
					campaignId: 'spring-sale-2026',
					messageId: '<4f1c0d2a-uuid-of-the-mail@shop.example>',
					url: 'https://shop.example/secret-offer',
				};
				const token = signToken(SECRET, { ...secrets, kind, issuedAt: 1_700_000_000_000 });
				const texts = readings(token);
				const hidden = [
					email,
					email.split('@')[0],
					'spring-sale',
					'4f1c0d2a',
					'secret-offer',
					'shop.example',
					'"c":',
					'"k":',
				].filter((h) => h.length >= 4);
				return hidden.every((h) => texts.every((t) => !t.includes(h.toLowerCase())));
			}),
		);
		// Two tokens of the same claims differ (random nonce): links cannot be correlated either.
		expect(signToken(SECRET, { ...claims, kind: 'o' })).not.toBe(signToken(SECRET, { ...claims, kind: 'o' }));
	});

	it('still verifies a token signed before tokens were encrypted, and refuses an altered one', () => {
		const old = legacyToken(SECRET, {
			k: 'c',
			c: 'c:1 {x}',
			m: 'spring',
			u: 'https://shop.example/p',
			i: '<m1@example.com>',
			t: 1,
		});
		expect(verifyToken(SECRET, old, 'c')).toEqual({
			kind: 'c',
			contactId: 'c:1 {x}',
			campaignId: 'spring',
			url: 'https://shop.example/p',
			messageId: '<m1@example.com>',
			issuedAt: 1,
		});
		expect(verifyToken(SECRET, old, 'u')).toBeNull();
		expect(verifyToken('another-secret-of-enough-length', old, 'c')).toBeNull();
		const [, sig] = old.split('.');
		const evil = Buffer.from(
			JSON.stringify({ k: 'c', c: 'c1', m: 'spring', u: 'https://evil.example/', t: 1 }),
		).toString('base64url');
		expect(verifyToken(SECRET, `${evil}.${sig}`, 'c')).toBeNull();
		// A legacy token whose signed URL is not http(s) never verifies as a click.
		expect(
			verifyToken(SECRET, legacyToken(SECRET, { k: 'c', c: 'c1', m: 'x', u: 'javascript:alert(1)', t: 1 }), 'c'),
		).toBeNull();
	});

	it('rejects a token signed with another secret, or with any byte changed', () => {
		const token = signToken(SECRET, { ...claims, kind: 'c', url: 'https://shop.example/' });
		expect(verifyToken('another-secret-of-enough-length', token, 'c')).toBeNull();
		fc.assert(
			fc.property(fc.nat(token.length - 1), fc.constantFrom(...'ABCxyz019-_.'), (at, ch) => {
				fc.pre(token[at] !== ch);
				const tampered = token.slice(0, at) + ch + token.slice(at + 1);
				const result = verifyToken(SECRET, tampered, 'c');
				// base64url may decode two spellings to the same bytes in the last character only.
				return result === null || result.url === 'https://shop.example/';
			}),
		);
	});

	it('rejects a token encrypted under another key, a truncated one, or junk', () => {
		const token = signToken(SECRET, { ...claims, kind: 'c', url: 'https://shop.example/' });
		const plain = Buffer.from(
			JSON.stringify({ k: 'c', c: 'c1', m: 'spring', u: 'https://evil.example/', t: 1 }),
		).toString('base64url');
		expect(verifyToken(SECRET, plain, 'c')).toBeNull();
		expect(verifyToken(SECRET, token.slice(0, -4), 'c')).toBeNull();
		expect(verifyToken(SECRET, token.slice(20), 'c')).toBeNull();
		for (const junk of ['', '.', 'abc', 'a.b.c', 'x'.repeat(5000), null, 42])
			expect(verifyToken(SECRET, junk, 'c')).toBeNull();
	});

	it('verifies nothing under an empty or short secret (no forging with a blank credential)', () => {
		const forged = Buffer.from(JSON.stringify({ k: 'c', c: 'c1', m: 'x', u: 'https://evil.example/', t: 1 })).toString(
			'base64url',
		);
		const sig = createHmac('sha256', '').update(`ma-track.v1.${forged}`).digest('base64url');
		expect(verifyToken('', `${forged}.${sig}`, 'c')).toBeNull();
	});

	it('never signs a click to a non-http target and needs a long secret', () => {
		expect(() => signToken(SECRET, { ...claims, kind: 'c', url: 'javascript:alert(1)' })).toThrow(/http and https/);
		expect(() => signToken(SECRET, { ...claims, kind: 'c', url: '/relative' })).toThrow(/absolute URL/);
		expect(() => signToken('short', { ...claims, kind: 'o' })).toThrow(
			expect.objectContaining({ field: 'signingSecret' }),
		);
		expect(checkRedirectUrl('HTTPS://Shop.Example/a b')).toBe('https://shop.example/a%20b');
	});

	it('builds URLs under the base URL', () => {
		const urls = trackingUrls('https://n8n.example/webhook/abc/marketing/');
		expect(urls.click('T')).toBe('https://n8n.example/webhook/abc/marketing/t/c/T');
		expect(urls.open('T')).toBe('https://n8n.example/webhook/abc/marketing/t/o/T');
		expect(urls.unsubscribe('T')).toBe('https://n8n.example/webhook/abc/marketing/u/T');
		expect(() => trackingUrls('not a url')).toThrow(expect.objectContaining({ field: 'trackingBaseUrl' }));
	});
});
