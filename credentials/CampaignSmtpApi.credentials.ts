import type { ICredentialType, INodeProperties, Icon } from 'n8n-workflow';

export class CampaignSmtpApi implements ICredentialType {
	name = 'campaignSmtpApi';

	displayName = 'Campaign SMTP API';

	icon: Icon = { light: 'file:campaignSmtp.svg', dark: 'file:campaignSmtp.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-marketing-automation/n8n-nodes-marketing-automation/blob/main/docs/nodes/send-campaign.md#credential-campaign-smtp';

	// SMTP is not HTTP: Send Campaign tests this credential with its `campaignSmtpConnectionTest` method.
	properties: INodeProperties[] = [
		{ displayName: 'Host', name: 'host', type: 'string', default: '', placeholder: 'smtp.example.com' },
		{
			displayName: 'Port',
			name: 'port',
			type: 'number',
			default: 587,
			description: '587 for STARTTLS, 465 for implicit TLS, 25 between servers',
		},
		{
			displayName: 'SSL/TLS',
			name: 'secure',
			type: 'boolean',
			default: false,
			description: 'Whether to use TLS from the first byte (port 465). Leave off for STARTTLS on 587 or 25.',
		},
		{
			displayName: 'STARTTLS',
			name: 'starttls',
			type: 'options',
			default: 'auto',
			displayOptions: { show: { secure: [false] } },
			options: [
				{ name: 'Use When Offered', value: 'auto' },
				{ name: 'Require', value: 'require', description: 'Refuse to send over an unencrypted connection' },
				{ name: 'Never', value: 'never', description: 'Stay on plain text (local relays only)' },
			],
		},
		{
			displayName: 'User',
			name: 'user',
			type: 'string',
			default: '',
			description: 'Leave empty when the server needs no login',
		},
		{ displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
		{
			displayName: 'Pooled Connections',
			name: 'poolSize',
			type: 'number',
			default: 5,
			typeOptions: { minValue: 1, maxValue: 100 },
			description: 'SMTP connections kept open and shared by every execution in this n8n process',
		},
		{
			displayName: 'Rate Limit (Mails per Second)',
			name: 'ratePerSecond',
			type: 'number',
			default: 0,
			typeOptions: { minValue: 0 },
			description: 'At most this many mails per second from this n8n process; 0 for no limit',
		},
		{
			displayName: 'Ignore SSL Issues (Insecure)',
			name: 'tlsSkipVerify',
			type: 'boolean',
			default: false,
			description: 'Whether to send even if the server certificate cannot be verified (self-signed)',
		},
	];
}
