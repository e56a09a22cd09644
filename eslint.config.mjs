// `npm run lint`: every source file of the repo, and n8n's linter for community packages
// (@n8n/eslint-plugin-community-nodes, the recommended config `n8n-node lint` runs) next to
// eslint-plugin-n8n-nodes-base, on the files n8n loads. Rule choices follow @n8n/node-cli's own config.
// Layout is Prettier's (.prettierrc.js, `npm run format`): eslint-config-prettier, last, turns off
// the rules that would fight it.
import js from '@eslint/js';
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import prettier from 'eslint-config-prettier';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	{ ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.n8n-local/**', 'lib/redis/scripts.generated.ts'] },
	{
		files: ['**/*.{js,mjs,ts}'],
		extends: [js.configs.recommended, tseslint.configs.recommended],
		rules: {
			'@typescript-eslint/no-unused-vars': [
				'error',
				{ argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
			],
		},
	},
	{
		// Plain CommonJS run by Node: the scripts, the n8n helpers, configs, the examples' loader.
		files: ['**/*.js'],
		languageOptions: { sourceType: 'commonjs', globals: globals.node },
		rules: { '@typescript-eslint/no-require-imports': 'off' },
	},
	{
		// Tests read JSON answers of n8n and Redis whose shape the assertions themselves check.
		files: ['test/**/*.ts'],
		rules: { '@typescript-eslint/no-explicit-any': 'off' },
	},
	{
		files: ['**/*.mjs'],
		languageOptions: { globals: globals.node },
	},
	{
		files: ['nodes/**/*.ts', 'credentials/**/*.ts', 'package.json'],
		extends: [n8nCommunityNodesPlugin.configs.recommended],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		languageOptions: { parser: tseslint.parser, parserOptions: { extraFileExtensions: ['.json'] } },
	},
	{
		files: ['package.json'],
		rules: {
			...n8nNodesBase.configs.community.rules,
			'n8n-nodes-base/community-package-json-name-still-default': 'off',
			// Acknowledged (docs/compatibility.md): the contact store needs a Redis client (ioredis) and the
			// campaigns an SMTP client, which n8n does not provide. So the pack installs on self-hosted
			// n8n only, and cannot be verified for n8n Cloud. A warning keeps it in every lint run.
			'@n8n/community-nodes/no-runtime-dependencies': 'warn',
		},
	},
	{
		files: ['credentials/**/*.ts'],
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			// Community packages link full URLs; the camelCase slug rules are for n8n's own repository.
			'n8n-nodes-base/cred-class-field-documentation-url-not-http-url': 'off',
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
			// Superseded by @n8n/community-nodes/credential-password-field (node-cli turns it off too).
			'n8n-nodes-base/cred-class-field-type-options-password-missing': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		rules: {
			...n8nNodesBase.configs.nodes.rules,
			// These expect the 'main' literal and a single output; @n8n/community-nodes asks for
			// NodeConnectionTypes.Main, and Loop Guard and Send Campaign have several outputs.
			'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
			'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
		},
	},
	prettier,
);
