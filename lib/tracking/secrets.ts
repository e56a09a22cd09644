/**
 * Checks the Marketing Webhook settings before any request arrives: nothing is sent anywhere with
 * them, so a mistake would otherwise only show as every sender being refused.
 */
import { createPublicKey } from 'crypto';
import { sendGridKeyPem } from './esp';
import type { WebhookSecrets } from './handler';

/** RFC 9110 token: what a header name may consist of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$/;

/** What is wrong with the settings, in plain words; empty when they can work. */
export function webhookSecretsProblems(s: WebhookSecrets): string[] {
	const problems: string[] = [];
	const anySet =
		s.sharedSecret ||
		s.hmacSecret ||
		s.sendgridPublicKey ||
		s.mailgunSigningKey ||
		s.postmarkUser ||
		s.postmarkPassword ||
		s.brevoToken ||
		s.snsTopicArns?.length;
	if (!anySet)
		problems.push(
			'Nothing is set: fill in the shared secret or HMAC secret for the events path, or the key of each ESP you connect',
		);
	for (const [label, name] of [
		['Shared secret header', s.sharedSecretHeader],
		['Signature header', s.hmacHeader],
	] as const) {
		if (name !== undefined && !HEADER_NAME.test(name))
			problems.push(`${label} "${name}" is not a valid HTTP header name (letters, digits and -, no spaces or colon)`);
	}
	if (s.sendgridPublicKey) {
		try {
			createPublicKey(sendGridKeyPem(s.sendgridPublicKey));
		} catch {
			problems.push(
				'SendGrid verification key is not a public key: paste the key SendGrid shows under "Signed Event Webhook"',
			);
		}
	}
	if (Boolean(s.postmarkUser) !== Boolean(s.postmarkPassword))
		problems.push('Postmark needs both the webhook user and password');
	for (const arn of s.snsTopicArns ?? []) {
		if (!SNS_TOPIC_ARN.test(arn))
			problems.push(`"${arn}" is not an Amazon SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)`);
	}
	return problems;
}
