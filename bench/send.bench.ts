/**
 * Send Campaign throughput to a local SMTP sink (smtp-server with STARTTLS, parsing off): the whole
 * path per mail (read contact, atomic reserve, render, SMTP, confirm, counters) with a pooled
 * transport and batches, beside one SMTP connection per mail (same parallelism, and one item at a
 * time), in the same run. The sink, like real MTAs, pauses ~100 ms before its greeting.
 */
import { startRedis } from '../test/harness/redis';
import { startSmtp } from '../test/harness/smtp';
import { acquireStore, closeAllStores } from '../lib/redis/pool';
import { Campaigns, acquireMailer, closeAllMailers, type CampaignSpec, type Mailer } from '../lib/campaigns';

const CONTACTS = Number(process.env.BENCH_SEND_CONTACTS ?? 400);
const SEQUENTIAL = Math.min(CONTACTS, 100);
const BATCH = 100;
const PARALLEL = 5;

/** At most `limit` sends in flight: the parallelism of a pool, without reusing connections. */
function limited(mailer: Mailer, limit: number): Mailer {
	let active = 0;
	const waiting: Array<() => void> = [];
	return {
		async send(mail) {
			if (active >= limit) await new Promise<void>((r) => waiting.push(r));
			active++;
			try {
				return await mailer.send(mail);
			} finally {
				active--;
				waiting.shift()?.();
			}
		},
	};
}

export async function run(): Promise<void> {
	const redis = await startRedis();
	const smtp = await startSmtp({ parse: false, tls: true });
	const lease = acquireStore({ host: '127.0.0.1', port: redis.port, keyPrefix: 'bench:' });
	const { store } = lease;
	const campaigns = new Campaigns(store);
	try {
		const ids = Array.from({ length: CONTACTS }, (_, i) => `c${i}`);
		for (let i = 0; i < ids.length; i += 500) {
			await store.contacts.upsert(
				ids.slice(i, i + 500).map((id, k) => ({
					id,
					email: `${id}@example.com`,
					timezone: 'Europe/Berlin',
					fields: { firstName: `Name${i + k}` },
					subscription: { status: 'subscribed' as const, source: 'bench' },
				})),
			);
		}
		const spec = (id: string): CampaignSpec => ({
			id,
			fromEmail: 'news@shop.example',
			fromName: 'Shop',
			subject: 'Hi {{ firstName | "there" }}',
			preheader: 'Spring offers',
			html: '<html><body><h1>Hello {{ firstName | "there" }}</h1><p>Our <a href="https://shop.example/sale">spring sale</a> starts today.</p></body></html>',
			trackingBaseUrl: 'https://n8n.example.com/webhook/bench',
			signingSecret: 'bench-signing-secret-0123456789',
			trackOpens: true,
			trackClicks: true,
			frequencyCap: { max: 10, windowMs: 7 * 86_400_000 },
		});

		const measure = async (label: string, campaignId: string, mailer: Mailer, batch: number, count: number) => {
			const before = { mails: smtp.mails.length, connections: smtp.connections };
			const start = process.hrtime.bigint();
			let sent = 0;
			const chunks: string[][] = [];
			for (let i = 0; i < count; i += batch) chunks.push(ids.slice(i, Math.min(i + batch, count)));
			const sendChunk = async (chunk: string[]) => {
				const results = await campaigns.send(
					spec(campaignId),
					chunk.map((contactId) => ({ contactId })),
					{ mode: 'smtp', mailer },
				);
				for (const r of results) if (r.ok && r.value.status === 'sent') sent++;
			};
			for (const chunk of chunks) await sendChunk(chunk);
			await smtp.waitFor(before.mails + sent, 60_000);
			const seconds = Number(process.hrtime.bigint() - start) / 1e9;
			const rate = sent / seconds;
			console.log(
				`${label.padEnd(44)} ${String(sent).padStart(5)} mails  ${seconds.toFixed(2).padStart(6)} s  ${rate.toFixed(0).padStart(6)} mails/s  ${smtp.connections - before.connections} new SMTP connections`,
			);
			return rate;
		};

		console.log(
			`contacts: ${CONTACTS} (${SEQUENTIAL} for one item at a time), batch: ${BATCH} items per node execution, ${PARALLEL} parallel SMTP sessions, STARTTLS sink on loopback`,
		);
		const smtpConfig = {
			host: '127.0.0.1',
			port: smtp.port,
			secure: false,
			starttls: 'require' as const,
			tlsSkipVerify: true,
		};
		const pooled = acquireMailer({ ...smtpConfig, poolSize: PARALLEL });
		const single = acquireMailer({ ...smtpConfig, pooled: false });
		// Warm-up (scripts loaded, JIT) outside the measurements.
		await campaigns.send(
			spec('warmup'),
			ids.slice(0, 20).map((contactId) => ({ contactId })),
			{ mode: 'smtp', mailer: pooled.mailer },
		);

		const pooledBatched = await measure(
			`pooled (${PARALLEL} connections), batches of ${BATCH}`,
			'pooled',
			pooled.mailer,
			BATCH,
			CONTACTS,
		);
		const unpooledBatched = await measure(
			`one connection per mail, ${PARALLEL} at once, batches`,
			'unpooled-batched',
			limited(single.mailer, PARALLEL),
			BATCH,
			CONTACTS,
		);
		const unpooledSequential = await measure(
			'one connection per mail, one item at a time',
			'unpooled-seq',
			single.mailer,
			1,
			SEQUENTIAL,
		);
		console.log(
			`pooled + batched vs one connection per mail at the same parallelism: ${(pooledBatched / unpooledBatched).toFixed(1)}x`,
		);
		console.log(
			`pooled + batched vs one connection per mail, one item at a time: ${(pooledBatched / unpooledSequential).toFixed(1)}x`,
		);
		pooled.release();
		single.release();
	} finally {
		closeAllMailers();
		lease.release();
		await closeAllStores();
		await smtp.stop();
		await redis.stop();
	}
}
