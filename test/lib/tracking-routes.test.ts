import { routeOfParams, routePattern, ROUTES, trackingUrls, type Route } from '../../lib/tracking';

describe('tracking routes (one table: lib/tracking/routes.ts)', () => {
	/** The route n8n would pick for a path below the base URL: the registered patterns, then the node's routeOfParams. */
	const served = (path: string) => {
		for (const route of Object.keys(ROUTES) as Route[]) {
			const [prefix, param] = routePattern(route).split('/:');
			const m = new RegExp(`^${prefix}${param ? '/([^/]+)' : ''}$`).exec(path);
			if (m) return { ...routeOfParams(param ? { [param]: m[1] } : {}), pattern: routePattern(route) };
		}
		return null;
	};

	it('serve every link Send Campaign writes on its route, with its token', () => {
		const urls = trackingUrls('https://n8n.example.com/webhook/abc/shop-eu/');
		for (const route of ['open', 'click', 'unsubscribe'] as const) {
			const below = new URL(urls[route]('tok.en-1')).pathname.replace('/webhook/abc/shop-eu/', '');
			expect(served(below)).toMatchObject({ route, params: { token: 'tok.en-1' } });
		}
	});

	it('give each route a pattern of its own, whose parameter routeOfParams maps back to the route', () => {
		const patterns = (Object.keys(ROUTES) as Route[]).map(routePattern);
		expect(new Set(patterns).size).toBe(patterns.length);
		expect(served('events')).toMatchObject({ route: 'events', params: {} });
		expect(served('esp/brevo')).toMatchObject({ route: 'esp', params: { provider: 'brevo' } });
		expect(served('t/o')).toBeNull();
	});
});
