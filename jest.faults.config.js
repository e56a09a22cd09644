/**
 * The fault suite (npm run test:faults): a real n8n with Redis, a Redis Cluster and the network to
 * Redis broken under it while events stream in; counts lost and duplicated events. See test/faults.
 */
/** @type {import('jest').Config} */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/faults'],
	testMatch: ['<rootDir>/test/faults/**/*.faults.test.ts'],
	globalSetup: '<rootDir>/test/faults/globalSetup.ts',
	globalTeardown: '<rootDir>/test/faults/globalTeardown.ts',
	transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
	// Each file starts its own n8n: one after another.
	maxWorkers: 1,
	// Bounded inside: the sender retries an event for 10 minutes at most, the outcome waits 10 minutes at most.
	testTimeout: 1800000,
	slowTestThreshold: 120,
};
