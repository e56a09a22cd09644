'use strict';
// What the ensure-* scripts and the Postgres harness ask of the machine before they install or start anything.
const { spawnSync } = require('node:child_process');

/** Whether a command is on PATH. */
const hasCommand = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Whether this process runs as root (may use apt-get, must hand Postgres to its own user). */
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

module.exports = { hasCommand, isRoot };
