/** End-to-end tests against a real n8n (npm run test:e2e). See test/e2e/support/globalSetup.ts. */
/** @type {import('jest').Config} */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'],
	// Queue mode has its own topology and config (jest.e2e-queue.config.js).
	testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/e2e/queue/'],
	globalSetup: '<rootDir>/test/e2e/support/globalSetup.ts',
	globalTeardown: '<rootDir>/test/e2e/support/globalTeardown.ts',
	setupFilesAfterEnv: ['<rootDir>/test/e2e/support/closeStores.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
	// One n8n for the whole run: files run one after another.
	maxWorkers: 1,
	testSequencer: '<rootDir>/test/e2e/support/sequencer.js',
	testTimeout: 180000,
	slowTestThreshold: 60,
};
