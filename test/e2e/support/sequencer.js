// Runs the e2e files in path order, so the n8n restart test (restart/) comes after the recipes.
const Sequencer = require('@jest/test-sequencer').default;

module.exports = class PathOrder extends Sequencer {
	sort(tests) {
		return [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
	}
};
