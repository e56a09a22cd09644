// n8n's style (n8n-nodes-starter's .prettierrc.js), 120 columns.
module.exports = {
	semi: true,
	trailingComma: 'all',
	bracketSpacing: true,
	useTabs: true,
	tabWidth: 2,
	arrowParens: 'always',
	singleQuote: true,
	quoteProps: 'as-needed',
	endOfLine: 'lf',
	printWidth: 120,
	// JSON as npm and JSON.stringify(.., null, 2) write it.
	overrides: [{ files: ['*.json'], options: { useTabs: false } }],
};
