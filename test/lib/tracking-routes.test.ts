import { matchRoute, routeOfParams, routePattern, ROUTES, routeUrl, trackingUrls, type Route } from '../../lib/tracking';

describe('tracking routes (one table: lib/tracking/routes.ts)', () => {
	const routes = Object.keys(ROUTES) as Route[];

	it('route every link Send Campaign writes back to its route and token', () => {
		const urls = trackingUrls('https://n8n.example.com/webhook/abc/shop-eu/');
		for (const route of ['open', 'click', 'unsubscribe'] as const) {
			const url = new URL(urls[route]('tok.en-1'));
			const below = url.pathname.replace('/webhook/abc/shop-eu/', '');
			expect(matchRoute(below)).toEqual({ route, params: { token: 'tok.en-1' } });
		}
	});

	it('give n8n a pattern per route whose parameter names the route again, and match paths of every route', () => {
		for (const route of routes) {
			const pattern = routePattern(route);
			const param = /:(\w+)$/.exec(pattern)?.[1];
			expect(routeOfParams(param ? { [param]: 'v' } : {}).route).toBe(route);
			expect(matchRoute(routeUrl('', route, param ? 'a%2Fb' : undefined))?.route).toBe(route);
		}
		expect(matchRoute('/t/o/a%2Fb')).toEqual({ route: 'open', params: { token: 'a/b' } });
		expect(matchRoute('/t/o')).toBeNull();
		expect(matchRoute('/t/o/a/b')).toBeNull();
		expect(matchRoute('/nothing')).toBeNull();
	});
});
