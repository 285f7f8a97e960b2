// The SQS server of ingestd's tests: fauxqs (the AWS JSON 1.0 protocol that AWS SDKs speak;
// long polling, visibility timeouts, redrive policies and dead-letter queues as AWS has them;
// signatures are not checked) on 127.0.0.1 only, with a free port. Queue URLs are
// http://127.0.0.1:PORT/000000000000/NAME (the request's Host). Queues are created by the
// tests with CreateQueue. Prints "sqs listening on 127.0.0.1:PORT" once it accepts
// connections; stops on SIGTERM or when its stdin closes.
import { buildApp } from "fauxqs";

const app = buildApp({ logger: false });
await app.listen({ port: 0, host: "127.0.0.1" });
const { port } = app.server.address();
process.stdout.write(`sqs listening on 127.0.0.1:${port}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
