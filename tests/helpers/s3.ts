// A real S3-compatible server for the storage suites: s3rver (an S3 API over a local directory),
// on a random port in a temp dir, with a bucket made. The S3 side of Parley talks to it over HTTP
// through Bun's S3 client, exactly as it would to S3, R2 or MinIO; nothing is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export type S3Server = {
  endpoint: string;
  bucket: string;
  /** The S3_* variables that point Parley at this server. */
  env: Record<string, string>;
  /** A client of the bucket, to look at what Parley stored. */
  client: Bun.S3Client;
  /** Stops the server (S3 becomes unreachable); start() brings it back on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server for good and removes its directory. */
  close(): Promise<void>;
};

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3(bucket = 'parley-test'): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'parley-s3-'));
  let server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  let running = true;
  const endpoint = `http://127.0.0.1:${port}`;
  const s3: S3Server = {
    endpoint,
    bucket,
    env: {
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    client: new Bun.S3Client({ bucket, endpoint, region: 'us-east-1', ...credentials }),
    async stop() {
      if (!running) return;
      running = false;
      await server.close();
    },
    async start() {
      if (running) return;
      server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
      await server.run();
      running = true;
    },
    async close() {
      await s3.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return s3;
}
