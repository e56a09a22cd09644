import { rmSync } from 'fs';

export default async function globalTeardown(): Promise<void> {
	if (process.env.MA_FAULTS_PACK_DIR) rmSync(process.env.MA_FAULTS_PACK_DIR, { recursive: true, force: true });
}
