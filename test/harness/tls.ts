import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/** A certificate and its private key: files for redis-server, PEM text for the credential. */
export interface KeyPair {
	certFile: string;
	keyFile: string;
	cert: string;
	key: string;
}

/**
 * Certificates made for one test run with openssl (EC keys: instant to generate):
 * - `ca`: the test CA; `server` (127.0.0.1 and localhost), `namedServer` (the host name localhost
 *   only, as managed services' certificates name hosts) and `client` (mutual TLS) are signed by it;
 * - `otherCa`: a CA that signed nothing the servers present (the "wrong CA" case);
 * - `selfSigned`: a server certificate that is its own issuer.
 */
export interface TestPki {
	dir: string;
	ca: KeyPair;
	server: KeyPair;
	namedServer: KeyPair;
	client: KeyPair;
	otherCa: KeyPair;
	selfSigned: KeyPair;
	remove(): void;
}

const SERVER_NAMES = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

function openssl(args: string[], cwd: string): void {
	const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
	if (run.error) throw new Error(`openssl is needed for the TLS tests (apt-get install openssl): ${run.error.message}`);
	if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
}

function read(dir: string, name: string): KeyPair {
	const certFile = join(dir, `${name}.crt`);
	const keyFile = join(dir, `${name}.key`);
	return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function selfSigned(dir: string, name: string, subject: string, extensions: string[]): KeyPair {
	openssl(
		[
			'req',
			'-x509',
			...newKey,
			'-keyout',
			`${name}.key`,
			'-out',
			`${name}.crt`,
			'-days',
			'2',
			'-subj',
			subject,
			...extensions.flatMap((e) => ['-addext', e]),
		],
		dir,
	);
	return read(dir, name);
}

function signed(dir: string, name: string, subject: string, ca: string, extension?: string): KeyPair {
	openssl(['req', '-new', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
	const extFile = join(dir, `${name}.ext`);
	writeFileSync(extFile, `${extension ?? ''}\n`);
	openssl(
		[
			'x509',
			'-req',
			'-in',
			`${name}.csr`,
			'-CA',
			`${ca}.crt`,
			'-CAkey',
			`${ca}.key`,
			'-CAcreateserial',
			'-days',
			'2',
			'-out',
			`${name}.crt`,
			'-extfile',
			extFile,
		],
		dir,
	);
	return read(dir, name);
}

export function createTestPki(): TestPki {
	const dir = mkdtempSync(join(tmpdir(), 'ma-pki-'));
	const ca = selfSigned(dir, 'ca', '/CN=Marketing Automation Test CA', []);
	return {
		dir,
		ca,
		server: signed(dir, 'server', '/CN=localhost', 'ca', SERVER_NAMES),
		namedServer: signed(dir, 'named-server', '/CN=localhost', 'ca', 'subjectAltName=DNS:localhost'),
		client: signed(dir, 'client', '/CN=ma-test-client', 'ca'),
		otherCa: selfSigned(dir, 'other-ca', '/CN=Some Other CA', []),
		selfSigned: selfSigned(dir, 'self-signed', '/CN=localhost', [SERVER_NAMES]),
		remove: () => rmSync(dir, { recursive: true, force: true }),
	};
}
