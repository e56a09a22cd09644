import type { ICredentialType, INodeProperties, Icon } from 'n8n-workflow';

export class MarketingWebhookApi implements ICredentialType {
	name = 'marketingWebhookApi';

	displayName = 'Marketing Webhook API';

	icon: Icon = { light: 'file:marketingWebhook.svg', dark: 'file:marketingWebhook.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-marketing-automation/n8n-nodes-marketing-automation/blob/main/docs/nodes/marketing-webhook-trigger.md#credential-marketing-webhook';

	// Nothing here is sent anywhere: the Marketing Webhook Trigger checks incoming requests with it.
	properties: INodeProperties[] = [
		{
			displayName: 'Shared Secret',
			name: 'sharedSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Events endpoint: senders put this value in the shared secret header',
		},
		// A header NAME, not a secret: masking it would hide which header senders must set. The rule
		// matches "secret" in the field name; the name says whose header it is, so it stays.
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field
		{ displayName: 'Shared Secret Header', name: 'sharedSecretHeader', type: 'string', default: 'X-Webhook-Secret' },
		{
			displayName: 'HMAC Secret',
			name: 'hmacSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'Events endpoint: senders sign the raw body with HMAC-SHA256 and send the hex digest (optionally "sha256=" prefixed) in the signature header',
		},
		{ displayName: 'Signature Header', name: 'hmacHeader', type: 'string', default: 'X-Signature' },
		{
			displayName: 'SendGrid Verification Key',
			name: 'sendgridPublicKey',
			type: 'string',
			default: '',
			description: 'Public key shown by SendGrid when "Signed Event Webhook" is enabled',
		},
		// Mailgun's HMAC signing key is a secret; the rule does not know "signing key" as a secret name.
		// eslint-disable-next-line @n8n/community-nodes/credential-unnecessary-password
		{
			displayName: 'Mailgun Webhook Signing Key',
			name: 'mailgunSigningKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'Postmark Webhook User',
			name: 'postmarkUser',
			type: 'string',
			default: '',
			description: 'Basic auth user you put in the Postmark webhook URL',
		},
		{
			displayName: 'Postmark Webhook Password',
			name: 'postmarkPassword',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{
			displayName: 'Brevo Token',
			name: 'brevoToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Bearer token configured on the Brevo webhook',
		},
		{
			displayName: 'Amazon SNS Topic ARNs',
			name: 'snsTopicArns',
			type: 'string',
			default: '',
			placeholder: 'arn:aws:sns:us-east-1:123456789012:ses-events',
			description:
				'Comma-separated topics allowed to post SES events; empty accepts any message with a valid SNS signature',
		},
	];
}
