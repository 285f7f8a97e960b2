// The SQS server of ingestd's tests: fauxqs (the AWS JSON 1.0 protocol that AWS SDKs speak;
// long polling, visibility timeouts, redrive policies and dead-letter queues as AWS has them)
// behind a small HTTP front on 127.0.0.1 (a free port) that checks request signatures, which
// fauxqs itself does not: with SQS_CREDENTIALS=KEY:SECRET in the environment, every request
// must carry an AWS SigV4 Authorization for service sqs by that key, and the front recomputes
// it with the AWS SDK's signer (@smithy/signature-v4) over the signed headers and the body as
// received; a mismatch is answered 403 SignatureDoesNotMatch as SQS answers it. Without
// SQS_CREDENTIALS nothing is checked. Queue URLs are http://sqs.REGION.localhost:PORT/
// 000000000000/NAME (fauxqs's form; the host does not resolve: clients send to the front).
// Prints "sqs listening on 127.0.0.1:PORT" once it accepts connections; stops on SIGTERM
// or when its stdin closes.
import crypto from "node:crypto";
import http from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import { buildApp } from "fauxqs";

const app = buildApp({ logger: false });
await app.ready();
const [KEY, SECRET] = (process.env.SQS_CREDENTIALS || "").split(/:(.*)/s);

// the SHA-256 / HMAC-SHA256 constructor the signer expects, on node:crypto
class Sha256 {
  constructor(secret) {
    this.h = secret ? crypto.createHmac("sha256", Buffer.from(secret)) : crypto.createHash("sha256");
  }
  update(d) { this.h.update(typeof d === "string" ? Buffer.from(d, "utf8") : Buffer.from(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sqs\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

// null when the request is signed by KEY:SECRET, else the SQS error code
async function verify(req, raw) {
  const m = AUTH.exec(req.headers.authorization || "");
  const amzDate = req.headers["x-amz-date"] || "";
  const d = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
  if (!m || !d) return "IncompleteSignature";
  const [, key, day, region, signedHeaders, signature] = m;
  if (key !== KEY) return "InvalidClientTokenId";
  if (day !== amzDate.slice(0, 8)) return "IncompleteSignature";
  const headers = {};
  for (const name of signedHeaders.split(";")) {
    if (req.headers[name] === undefined) return "IncompleteSignature";
    headers[name] = req.headers[name];
  }
  const url = new URL(req.url, "http://x");
  const signer = new SignatureV4({
    service: "sqs", region, sha256: Sha256, applyChecksum: false,
    credentials: { accessKeyId: KEY, secretAccessKey: SECRET, sessionToken: headers["x-amz-security-token"] },
  });
  const signed = await signer.sign(
    { method: req.method, protocol: "http:", hostname: headers.host, path: url.pathname, query: {}, headers, body: raw },
    { signingDate: new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6])) },
  );
  const want = AUTH.exec(signed.headers.authorization);
  return want && want[4] === signedHeaders && want[5] === signature ? null : "SignatureDoesNotMatch";
}

const front = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const raw = Buffer.concat(chunks).toString("utf8");
      const code = KEY ? await verify(req, raw) : null;
      if (code) {
        res.writeHead(403, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify({ __type: `com.amazon.coral.service#${code}`, message: `${code} (checked by tests/sqs/server.mjs)` }));
        return;
      }
      const r = await app.inject({ method: req.method, url: req.url, headers: req.headers, payload: raw });
      const headers = { ...r.headers };
      delete headers["transfer-encoding"];
      delete headers.connection;
      res.writeHead(r.statusCode, headers);
      res.end(r.rawPayload);
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(e && e.stack ? e.stack : e));
    }
  });
});
front.listen(0, "127.0.0.1", () => {
  process.stdout.write(`sqs listening on 127.0.0.1:${front.address().port}\n`);
});
const stop = () => front.close(() => app.close().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
