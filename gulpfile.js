const { rm } = require('fs/promises');
const { src, dest, parallel } = require('gulp');

// Built from scratch, so nothing deleted from the sources ships from an older build.
exports.clean = () => rm('dist', { recursive: true, force: true });

// tsc compiles the TypeScript (the Lua scripts too: lib/redis/scripts.generated.ts); n8n also
// needs the icons and codex files beside it.
const icons = () =>
	src(['nodes/**/*.{png,svg}', 'credentials/**/*.{png,svg}'], { base: '.', encoding: false }).pipe(dest('dist'));
const codex = () => src('nodes/**/*.node.json', { base: '.' }).pipe(dest('dist'));

exports.build = parallel(icons, codex);
exports.default = exports.build;
