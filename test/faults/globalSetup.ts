/** Builds and packs the pack once; each fault file installs the tarball into its own n8n. */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const n8n = require('../../tools/n8n/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildScripts } = require('../../scripts/build-lua.js');

export default async function globalSetup(): Promise<void> {
	buildScripts();
	n8n.install();
	const dir = mkdtempSync(join(tmpdir(), 'ma-faults-pack-'));
	// MA_FAULTS_NO_BUILD=1 packs the dist/ already built (quicker when iterating on tests).
	process.env.MA_FAULTS_TARBALL = n8n.packPackage(n8n.REPO_DIR, {
		outDir: dir,
		build: !process.env.MA_FAULTS_NO_BUILD,
	});
	process.env.MA_FAULTS_PACK_DIR = dir;
}
