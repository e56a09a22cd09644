import { stopAll, type Stopper } from './globalSetup';

export default async function globalTeardown(): Promise<void> {
	const env = (globalThis as Record<string, unknown>).__MA_E2E__ as { stops: Stopper[]; root: string } | undefined;
	if (!env) return;
	// Stops n8n first (whichever runs now for the user folders: tests may have restarted it), then the rest.
	await stopAll(env.stops, env.root);
}
