// Runs the e2e files in path order, but the ones that kill or restart n8n processes (restart/,
// worker-kill) last, so every other test meets an n8n that nothing has killed.
const Sequencer = require('@jest/test-sequencer').default;

const disruptive = (path) => /[\\/]restart[\\/]|worker-kill/.test(path);

module.exports = class PathOrder extends Sequencer {
	sort(tests) {
		return [...tests].sort(
			(a, b) => disruptive(a.path) - disruptive(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
		);
	}
};
