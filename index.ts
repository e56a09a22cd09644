// n8n loads the nodes and credentials listed in package.json's "n8n" section; this entry point
// exposes the contact-store library for code that wants to use it outside n8n.
export * from './lib';
