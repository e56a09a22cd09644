import type { ICredentialType, INodeProperties, Icon } from 'n8n-workflow';

export class ContactStoreApi implements ICredentialType {
	name = 'contactStoreApi';

	displayName = 'Contact Store (Redis) API';

	icon: Icon = { light: 'file:contactStore.svg', dark: 'file:contactStore.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-marketing-automation/n8n-nodes-marketing-automation/blob/main/docs/concepts.md#credential-contact-store';

	// Redis is not HTTP: the nodes test this credential with their `contactStoreConnectionTest` method.
	properties: INodeProperties[] = [
		{ displayName: 'Host', name: 'host', type: 'string', default: 'localhost' },
		{ displayName: 'Port', name: 'port', type: 'number', default: 6379 },
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: '',
			description: 'Redis ACL user name; leave empty for the default user',
		},
		{ displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
		{
			displayName: 'Database Number',
			name: 'database',
			type: 'number',
			default: 0,
			description: 'Ignored on Redis Cluster, which has only database 0',
		},
		{ displayName: 'SSL/TLS', name: 'tls', type: 'boolean', default: false },
		{
			displayName: 'Ignore SSL Issues (Insecure)',
			name: 'tlsSkipVerify',
			type: 'boolean',
			default: false,
			description: 'Whether to connect even if the certificate cannot be verified (self-signed)',
			displayOptions: { show: { tls: [true] } },
		},
		{
			displayName: 'CA Certificate',
			name: 'tlsCa',
			type: 'string',
			typeOptions: { rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				"PEM of the certificate authority that signed the server's certificate, as your Redis provider gives it (or a self-signed server certificate itself). Leave empty to trust the CAs Node.js knows.",
			displayOptions: { show: { tls: [true] } },
		},
		{
			displayName: 'Client Certificate',
			name: 'tlsPublicCert',
			type: 'string',
			typeOptions: { rows: 4 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description: 'PEM client certificate, only for servers that require mutual TLS (with Client Private Key)',
			displayOptions: { show: { tls: [true] } },
		},
		{
			displayName: 'Client Private Key',
			name: 'tlsPrivateKey',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: '-----BEGIN PRIVATE KEY-----',
			description: 'PEM private key of the client certificate (unencrypted)',
			displayOptions: { show: { tls: [true] } },
		},
		{
			displayName: 'Server Name (SNI)',
			name: 'tlsServername',
			type: 'string',
			default: '',
			description:
				"Host name the server's certificate must be for, when it differs from the host connected to (an IP address, a tunnel). Leave empty to use the host.",
			displayOptions: { show: { tls: [true] } },
		},
		{
			displayName: 'Cluster Nodes',
			name: 'clusterNodes',
			type: 'string',
			default: '',
			placeholder: '10.0.0.1:7000, 10.0.0.2:7000',
			description: 'Comma-separated host:port of Redis Cluster nodes. Leave empty for a single Redis server.',
		},
		{
			displayName: 'Key Prefix',
			name: 'keyPrefix',
			type: 'string',
			default: 'ma:',
			description: 'All keys start with this prefix; one workspace per prefix, so several can share one Redis',
		},
		{
			displayName: 'Signing Secret',
			name: 'signingSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'Secret that signs tracking, click and unsubscribe links. Use a long random value; changing it invalidates links already sent.',
		},
	];
}
