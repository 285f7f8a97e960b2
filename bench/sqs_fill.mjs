// bench/sqs_fill.mjs - the load of bench/sqs.sh (node 20, no packages)
//
//   node bench/sqs_fill.mjs queue SQS_ENDPOINT NAME MESSAGES
//       creates queue NAME on the SQS server (AWS JSON 1.0 protocol, unsigned) and sends
//       MESSAGES S3 notifications (one record each, bucket sqs-bench, distinct keys) with
//       SendMessageBatch, 10 a call; prints the queue URL
//   node bench/sqs_fill.mjs post INGESTD_BASE MESSAGES
//       posts the same kind of notifications (bucket post-bench) to POST /api/v1/s3/events,
//       10 SQS messages a request ({"Messages":[{"Body":...}...]}, what one receive holds),
//       one request at a time; prints "post_seconds S"
"use strict";

function notification(bucket, i) {
  const seq = (0x10000000 + i).toString(16).toUpperCase().padStart(18, "0");
  return JSON.stringify({
    Records: [{
      eventVersion: "2.1", eventSource: "aws:s3", awsRegion: "us-east-1",
      eventTime: "2026-11-21T10:15:30.123Z", eventName: "ObjectCreated:Put",
      s3: {
        s3SchemaVersion: "1.0",
        bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { key: `k/${i}.dat`, size: 1000 + i, eTag: "0123456789abcdef0123456789abcdef", sequencer: seq },
      },
    }],
  });
}

async function sqs(endpoint, action, body) {
  const r = await fetch(endpoint + "/", {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${action}` },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${action}: ${r.status} ${text}`);
  return JSON.parse(text);
}

async function fillQueue(endpoint, name, n) {
  const { QueueUrl } = await sqs(endpoint, "CreateQueue", { QueueName: name });
  for (let i = 0; i < n; i += 10) {
    const Entries = [];
    for (let k = i; k < Math.min(n, i + 10); k++)
      Entries.push({ Id: `m${k - i}`, MessageBody: notification("sqs-bench", k) });
    const res = await sqs(endpoint, "SendMessageBatch", { QueueUrl, Entries });
    if (res.Failed && res.Failed.length) throw new Error(JSON.stringify(res.Failed));
  }
  process.stdout.write(`${QueueUrl}\n`);
}

async function post(base, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i += 10) {
    const Messages = [];
    for (let k = i; k < Math.min(n, i + 10); k++)
      Messages.push({ MessageId: `m${k}`, ReceiptHandle: `h${k}`, Body: notification("post-bench", k) });
    const r = await fetch(base + "/api/v1/s3/events", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ Messages }),
    });
    if (r.status !== 200) throw new Error(`POST: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  }
  process.stdout.write(`post_seconds ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)}\n`);
}

const [mode, a, b, c] = process.argv.slice(2);
(mode === "queue" ? fillQueue(a, b, Number(c)) : post(a, Number(b))).catch((e) => {
  process.stderr.write(`sqs_fill: ${e.message}\n`);
  process.exit(1);
});
