const { rm } = require('fs/promises');
const { src, dest, parallel } = require('gulp');

// Built from scratch, so nothing deleted from the sources ships from an older build.
exports.clean = () => rm('dist', { recursive: true, force: true });

// tsc compiles the TypeScript; n8n also needs the icons, codex files and Lua scripts beside it.
const icons = () => src(['nodes/**/*.{png,svg}', 'credentials/**/*.{png,svg}'], { base: '.', encoding: false }).pipe(dest('dist'));
const codex = () => src('nodes/**/*.node.json', { base: '.' }).pipe(dest('dist'));
const lua = () => src('lib/**/*.lua', { base: '.' }).pipe(dest('dist'));

exports.build = parallel(icons, codex, lua);
exports.default = exports.build;
