'use strict';
// A process's memory from Linux's /proc, for the benches that watch n8n's RSS.
const fs = require('node:fs');

/** Bytes of /proc/<pid>/status: VmRSS (resident now) and VmHWM (the peak since start or resetPeak). */
function procStatus(pid) {
	const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const kb = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1]) * 1024;
	return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets the peak RSS (VmHWM) of a process to its current RSS (Linux clear_refs 5). */
function resetPeak(pid) {
	fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

module.exports = { procStatus, resetPeak };
