/**
 * The routes of the Marketing Webhook Trigger below its base URL: the one table of the tracking
 * URL layout. Send Campaign's links (trackingUrls), the webhooks the trigger registers with n8n
 * and the route a request came in on all derive from it.
 * `param`: the path's parameter, as n8n names it in the registered path (":openToken"), and the
 * request parameter (`key`) WebhookHandler reads it as.
 */
export const ROUTES = {
	events: { path: 'events', methods: ['POST'] },
	/** Public: the page snippet (GET) and its events (POST); docs/browser-events.md. */
	browser: { path: 'browser', methods: ['GET', 'HEAD', 'POST'] },
	open: { path: 't/o', param: { name: 'openToken', key: 'token' }, methods: ['GET', 'HEAD'] },
	click: { path: 't/c', param: { name: 'clickToken', key: 'token' }, methods: ['GET', 'HEAD'] },
	unsubscribe: { path: 'u', param: { name: 'unsubscribeToken', key: 'token' }, methods: ['GET', 'HEAD', 'POST'] },
	confirm: { path: 'confirm', param: { name: 'confirmToken', key: 'token' }, methods: ['GET', 'HEAD', 'POST'] },
	esp: { path: 'esp', param: { name: 'provider', key: 'provider' }, methods: ['POST'] },
} as const satisfies Record<
	string,
	{ path: string; param?: { name: string; key: string }; methods: readonly string[] }
>;

export type Route = keyof typeof ROUTES;

const ROUTE_NAMES = Object.keys(ROUTES) as Route[];

const paramOf = (route: Route): { name: string; key: string } | undefined =>
	(ROUTES[route] as { param?: { name: string; key: string } }).param;

/** The route's path as n8n registers it: "events", "t/o/:openToken". */
export function routePattern(route: Route): string {
	const param = paramOf(route);
	return param ? `${ROUTES[route].path}/:${param.name}` : ROUTES[route].path;
}

/** The URL of a route under a base URL (no trailing "/"), with its parameter's value. */
export function routeUrl(base: string, route: Route, value?: string): string {
	return value === undefined ? `${base}/${ROUTES[route].path}` : `${base}/${ROUTES[route].path}/${value}`;
}

/**
 * The route of a request from the path parameters n8n filled in; a path without one is told by
 * the end of the request's path (`urlPath`), events when none is given.
 */
export function routeOfParams(
	params: Record<string, string | undefined>,
	urlPath?: string,
): {
	route: Route;
	params: Record<string, string>;
} {
	for (const route of ROUTE_NAMES) {
		const param = paramOf(route);
		const value = param && params[param.name];
		if (param && value !== undefined) return { route, params: { [param.key]: value } };
	}
	const path = (urlPath ?? '').split('?')[0].replace(/\/+$/, '');
	const fixed = ROUTE_NAMES.find((route) => !paramOf(route) && path.endsWith(`/${ROUTES[route].path}`));
	return { route: fixed ?? 'events', params: {} };
}
