// Prints the headers the AWS SDK for JavaScript's SigV4 signer (@smithy/signature-v4, installed
// here with fauxqs's @aws-sdk/client-sqs; applyChecksum off: no x-amz-content-sha256) gives the
// request that tests/unit/test_sqs_client.c signs with ingestd's code, over the same headers:
// the recorded Authorization values there come from this script.
// Run: node sign_example.mjs (after npm ci).
import { SignatureV4 } from "@smithy/signature-v4";
import crypto from "node:crypto";
// the SHA-256 / HMAC-SHA256 constructor the signer expects, on node:crypto
class Sha256 {
  constructor(secret) { this.h = secret ? crypto.createHmac("sha256", Buffer.from(secret)) : crypto.createHash("sha256"); }
  update(d) { this.h.update(typeof d === "string" ? Buffer.from(d, "utf8") : Buffer.from(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}
const body = '{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/MyQueue","MaxNumberOfMessages":10,"WaitTimeSeconds":20}';
for (const token of [undefined, "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW"]) {
  const signer = new SignatureV4({
    service: "sqs", region: "us-east-1", sha256: Sha256, applyChecksum: false,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: token },
  });
  const req = {
    method: "POST", protocol: "https:", hostname: "sqs.us-east-1.amazonaws.com", path: "/",
    headers: { host: "sqs.us-east-1.amazonaws.com", "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ReceiveMessage" },
    body,
  };
  const signed = await signer.sign(req, { signingDate: new Date("2026-11-21T10:15:30Z") });
  console.log(JSON.stringify(signed.headers));
}
