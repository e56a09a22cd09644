import fc from 'fast-check';
import { checkRedirectUrl, signToken, trackingUrls, verifyToken } from '../../lib/tracking/tokens';

const SECRET = 'a-long-enough-signing-secret';
const claims = { contactId: 'c:1 {x}', campaignId: 'spring', messageId: '<m1@example.com>', issuedAt: 1_700_000_000_000 };

describe('tracking tokens', () => {
	it('round-trips claims for each kind and refuses another kind', () => {
		const click = signToken(SECRET, { ...claims, kind: 'c', url: 'https://shop.example/p?a=1' });
		expect(verifyToken(SECRET, click, 'c')).toEqual({ ...claims, kind: 'c', url: 'https://shop.example/p?a=1' });
		expect(verifyToken(SECRET, click, 'o')).toBeNull();
		const unsub = signToken(SECRET, { ...claims, kind: 'u' });
		expect(verifyToken(SECRET, unsub, 'u')).toMatchObject({ contactId: 'c:1 {x}', campaignId: 'spring' });
		expect(unsub).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
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

	it('rejects a forged payload carrying another URL with the old signature', () => {
		const token = signToken(SECRET, { ...claims, kind: 'c', url: 'https://shop.example/' });
		const [, sig] = token.split('.');
		const forged = Buffer.from(JSON.stringify({ k: 'c', c: 'c1', m: 'spring', u: 'https://evil.example/', t: 1 })).toString('base64url');
		expect(verifyToken(SECRET, `${forged}.${sig}`, 'c')).toBeNull();
		for (const junk of ['', '.', 'abc', 'a.b.c', 'x'.repeat(5000), null, 42]) expect(verifyToken(SECRET, junk, 'c')).toBeNull();
	});

	it('verifies nothing under an empty or short secret (no forging with a blank credential)', () => {
		const forged = Buffer.from(JSON.stringify({ k: 'c', c: 'c1', m: 'x', u: 'https://evil.example/', t: 1 })).toString('base64url');
		const { createHmac } = jest.requireActual('crypto') as typeof import('crypto');
		const sig = createHmac('sha256', '').update(`ma-track.v1.${forged}`).digest('base64url');
		expect(verifyToken('', `${forged}.${sig}`, 'c')).toBeNull();
	});

	it('never signs a click to a non-http target and needs a long secret', () => {
		expect(() => signToken(SECRET, { ...claims, kind: 'c', url: 'javascript:alert(1)' })).toThrow(/http and https/);
		expect(() => signToken(SECRET, { ...claims, kind: 'c', url: '/relative' })).toThrow(/absolute URL/);
		expect(() => signToken('short', { ...claims, kind: 'o' })).toThrow(expect.objectContaining({ field: 'signingSecret' }));
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
