/** Smoke test on the oldest supported n8n (npm run test:n8n-oldest, scripts/test-n8n-oldest.js). */
/** @type {import('jest').Config} */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e/n8n-oldest'],
	testMatch: ['**/*.test.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
	testTimeout: 180000,
};
