/** @type {import('eslint').ESLint.ConfigData} */
module.exports = {
	root: true,
	env: { node: true, es2022: true },
	parser: '@typescript-eslint/parser',
	parserOptions: { project: ['./tsconfig.json'], sourceType: 'module', extraFileExtensions: ['.json'] },
	ignorePatterns: ['dist/**', 'node_modules/**', '*.js', 'test/**', 'bench/**', 'lib/**', 'scripts/**'],
	overrides: [
		{ files: ['package.json'], plugins: ['eslint-plugin-n8n-nodes-base'], extends: ['plugin:n8n-nodes-base/community'], rules: { 'n8n-nodes-base/community-package-json-name-still-default': 'off' } },
		{ files: ['./credentials/**/*.ts'], plugins: ['eslint-plugin-n8n-nodes-base'], extends: ['plugin:n8n-nodes-base/credentials'], // Community packages link full URLs; the camelCase slug rule is for n8n's own repository.
			rules: { 'n8n-nodes-base/cred-class-field-documentation-url-not-http-url': 'off', 'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off' } },
		{ files: ['./nodes/**/*.ts'], plugins: ['eslint-plugin-n8n-nodes-base'], extends: ['plugin:n8n-nodes-base/nodes'] },
	],
};
