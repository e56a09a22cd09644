import type {
	ICredentialDataDecryptedObject,
	ICredentialTestFunctions,
	ICredentialsDecrypted,
	INodeCredentialTestResult,
} from 'n8n-workflow';
import { acquireStore, checkStoreConnection, parseClusterNodes, type StoreConfig, type StoreLease } from '../../lib';

export const CREDENTIAL_NAME = 'contactStoreApi';

/**
 * The test of the Contact Store credential, registered by every node as `storeCredentialTest`. The
 * nodes' credentials lists spell both names out: n8n's linter (credential-test-required) reads them
 * there as string literals only; test/package.test.ts checks they match these constants.
 */
export const STORE_CREDENTIAL_TEST = 'contactStoreConnectionTest';
export const storeCredentialTest = { [STORE_CREDENTIAL_TEST]: testContactStoreCredential };

export function storeConfigFrom(credentials: ICredentialDataDecryptedObject): StoreConfig {
	return {
		host: String(credentials.host ?? 'localhost'),
		port: Number(credentials.port ?? 6379),
		username: (credentials.user as string) || undefined,
		password: (credentials.password as string) || undefined,
		database: Number(credentials.database ?? 0),
		tls: Boolean(credentials.tls),
		tlsSkipVerify: Boolean(credentials.tlsSkipVerify),
		tlsCa: (credentials.tlsCa as string) || undefined,
		tlsCert: (credentials.tlsPublicCert as string) || undefined,
		tlsKey: (credentials.tlsPrivateKey as string) || undefined,
		tlsServername: (credentials.tlsServername as string) || undefined,
		clusterNodes: parseClusterNodes(credentials.clusterNodes as string | undefined),
		keyPrefix: String(credentials.keyPrefix || 'ma:'),
	};
}

/** The shared store of the node's credential; release it when the execution is done. */
export async function leaseStore(ctx: {
	getCredentials(name: string): Promise<ICredentialDataDecryptedObject>;
}): Promise<StoreLease> {
	return acquireStore(storeConfigFrom(await ctx.getCredentials(CREDENTIAL_NAME)));
}

/**
 * Connects with the credential and checks that its Redis user may run what the pack needs; a
 * failure says what went wrong and what to change (lib/redis/diagnose.ts).
 */
export async function testContactStoreCredential(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	let config: StoreConfig;
	try {
		config = storeConfigFrom(credential.data ?? {});
	} catch (error) {
		return { status: 'Error', message: (error as Error).message };
	}
	const check = await checkStoreConnection(config);
	return { status: check.ok ? 'OK' : 'Error', message: check.message };
}
