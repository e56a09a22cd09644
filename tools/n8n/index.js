'use strict';
// Real-n8n helpers for `npm start`, the end-to-end tests and bench/n8n: pack this node pack,
// install it into an n8n user folder the way n8n's community-package installer does,
// import/publish workflows with n8n's CLI, start/stop n8n and talk to its REST API and webhooks.
// Plain CommonJS on Node's standard library only, so it runs under the machine's Node 20 while
// n8n itself runs under the Node install.sh chose. Drives n8n 2.x (the pinned default) and 1.x
// (N8N_VERSION=1.123.x, the oldest supported: docs/compatibility.md); where they differ, it asks
// which one is installed (n8nMajor).
//   install.js    the installed n8n and Node, n8n's folders and environment
//   run.js        commands to completion, n8n's CLI
//   package.js    pack this repo, install it into a user folder, register it in n8n's database
//   workflows.js  credentials and workflows in with the CLI, publish / unpublish
//   process.js    start / stop n8n processes
//   api.js        REST API and webhooks of a running n8n
//   queue.js      queue mode: main, workers and a webhook processor (require it on its own)
//   cli.js        all of it from a shell: node tools/n8n/cli.js help

module.exports = {
  ...require('./install.js'),
  ...require('./run.js'),
  ...require('./package.js'),
  ...require('./workflows.js'),
  ...require('./process.js'),
  ...require('./api.js'),
};
