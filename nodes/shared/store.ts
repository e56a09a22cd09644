import type {
	ICredentialDataDecryptedObject,
	ICredentialTestFunctions,
	ICredentialsDecrypted,
	INodeCredentialTestResult,
} from 'n8n-workflow';
import Redis from 'ioredis';
import {
	acquireStore,
	createClient,
	describeConnectionFailure,
	parseClusterNodes,
	type StoreConfig,
	type StoreLease,
} from '../../lib';

export const CREDENTIAL_NAME = 'contactStoreApi';

export function storeConfigFrom(credentials: ICredentialDataDecryptedObject): StoreConfig {
	return {
		host: String(credentials.host ?? 'localhost'),
		port: Number(credentials.port ?? 6379),
		username: (credentials.user as string) || undefined,
		password: (credentials.password as string) || undefined,
		database: Number(credentials.database ?? 0),
		tls: Boolean(credentials.tls),
		tlsSkipVerify: Boolean(credentials.tlsSkipVerify),
		clusterNodes: parseClusterNodes(credentials.clusterNodes as string | undefined),
		keyPrefix: String(credentials.keyPrefix || 'ma:'),
	};
}

/** The shared store of the node's credential; release it when the execution is done. */
export async function leaseStore(ctx: { getCredentials(name: string): Promise<ICredentialDataDecryptedObject> }): Promise<StoreLease> {
	return acquireStore(storeConfigFrom(await ctx.getCredentials(CREDENTIAL_NAME)));
}

/** Connects with the credential, pings, and explains a failure in plain words. */
export async function testContactStoreCredential(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	let client: ReturnType<typeof createClient> | undefined;
	try {
		const config = storeConfigFrom(credential.data ?? {});
		client = createClient({ ...config, connectTimeoutMs: 5000 });
		client.on('error', () => undefined);
		if (client instanceof Redis) {
			client.options.maxRetriesPerRequest = 0;
			client.options.retryStrategy = () => null;
		}
		await client.connect();
		await client.ping();
		return { status: 'OK', message: 'Connection successful' };
	} catch (error) {
		return { status: 'Error', message: describeConnectionFailure(error) };
	} finally {
		client?.disconnect();
	}
}
