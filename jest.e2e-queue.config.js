/**
 * End-to-end tests in n8n's queue mode (npm run test:e2e runs them after jest.e2e.config.js):
 * main + 2 workers + a webhook processor on Postgres, Bull on its own Redis, the contact store on a
 * 3-master Redis Cluster. See test/e2e/queue/globalSetup.ts. The recipe files listed run here too,
 * unchanged, against this topology.
 */
/** @type {import('jest').Config} */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: [
		'<rootDir>/test/e2e/recipes/welcome.e2e.test.ts',
		'<rootDir>/test/e2e/recipes/action.e2e.test.ts',
		'<rootDir>/test/e2e/queue/**/*.e2e.test.ts',
	],
	globalSetup: '<rootDir>/test/e2e/queue/globalSetup.ts',
	globalTeardown: '<rootDir>/test/e2e/support/globalTeardown.ts',
	setupFilesAfterEnv: ['<rootDir>/test/e2e/support/closeStores.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
	// One topology for the whole run: files run one after another (the worker-kill test last).
	maxWorkers: 1,
	testSequencer: '<rootDir>/test/e2e/support/sequencer.js',
	testTimeout: 300000,
	slowTestThreshold: 60,
};
