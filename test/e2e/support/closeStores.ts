// Closes the contact-store connections the helpers opened, so jest exits when the files are done.
afterAll(async () => {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const { closeAllStores } = require('../../../lib') as typeof import('../../../lib');
	await closeAllStores();
});
