// Uploads through a real socket to a real server process (`bun src/cli.ts serve`), so Bun's own
// body handling is in the path: a body many times MAX_FILE_SIZE is refused with 413 while the
// server's resident memory stays flat (nothing buffers the body), an accepted large file streams
// to disk the same way, and a client that hangs up mid-body leaves neither row nor blob.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningBinary, repoRoot, startBinary } from '../helpers/binary.ts';
import { bearer, expectStatus, httpOfUrl, register, waitUntil } from '../helpers/client.ts';
import { streamedMultipart } from '../helpers/samples.ts';

const MiB = 1024 * 1024;
const maxFileSize = 2 * MiB;

/** The server process's resident memory, from the kernel. */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '')) * 1024;
}

/**
 * A raw HTTP/1.1 upload over a TCP socket: the head, then a multipart body of one file of
 * `fileBytes` (made as it is sent, 64 KiB at a time, honouring backpressure), chunked or with
 * Content-Length. Stops sending once a response arrives (as a browser does). Resolves with the
 * status, the body, and the bytes sent; `hangUpAfter` closes the socket after that many bytes.
 */
function rawUpload(options: {
  port: number;
  token: string;
  fileBytes: number;
  framing: 'chunked' | 'content-length';
  hangUpAfter?: number;
}): Promise<{ status: number; body: string; sent: number }> {
  const boundary = `----raw${crypto.randomUUID()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const total = head.length + options.fileBytes + tail.length;
  const requestHead =
    `POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${bearer(options.token).authorization}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\n` +
    (options.framing === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${total}\r\n`) +
    'Connection: close\r\n\r\n';
  return new Promise((resolve) => {
    const socket = connect(options.port, '127.0.0.1');
    let response = '';
    let answered = false;
    let sent = 0;
    const frame = (bytes: Buffer) =>
      options.framing === 'chunked' ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes;
    const finish = () => {
      const [status = '0'] = /^HTTP\/1\.1 (\d{3})/.exec(response)?.slice(1) ?? [];
      resolve({ status: Number(status), body: response.slice(response.indexOf('\r\n\r\n') + 4), sent });
    };
    socket.on('data', (data) => {
      answered = true;
      response += data.toString('utf8');
    });
    // A server that answers early may close while we still write (EPIPE): the answer it sent counts.
    socket.on('close', finish);
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      const write = (bytes: Buffer) =>
        new Promise<void>((done) => {
          sent += bytes.length;
          if (socket.write(bytes)) done();
          else socket.once('drain', () => done());
        });
      try {
        await write(Buffer.from(requestHead));
        await write(frame(head));
        let fileSent = 0;
        while (fileSent < options.fileBytes && !answered && !socket.destroyed) {
          if (options.hangUpAfter !== undefined && sent >= options.hangUpAfter) {
            socket.destroy();
            return;
          }
          const n = Math.min(64 * 1024, options.fileBytes - fileSent);
          await write(frame(Buffer.alloc(n, 0x61)));
          fileSent += n;
        }
        if (!answered && !socket.destroyed) {
          await write(frame(tail));
          if (options.framing === 'chunked') await write(Buffer.from('0\r\n\r\n'));
        }
      } catch {
        // The server closed its side while we wrote: its answer, if any, is read above.
      }
    });
  });
}

/**
 * An upload by Bun's own fetch: a chunked stream made as it is sent, or a Content-Length body.
 * (A server that refuses early closes while the client still sends; fetch still reads its answer,
 * where a bare socket may lose it to the reset.)
 */
async function fetchUpload(base: string, token: string, fileBytes: number, framing: 'chunked' | 'content-length'): Promise<Response> {
  const streamed = streamedMultipart({ size: fileBytes });
  const body = framing === 'chunked' ? streamed.body : new Uint8Array(await new Response(streamed.body).arrayBuffer());
  return fetch(`${base}/api/v1/files/upload`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': streamed.contentType },
    body,
    duplex: 'half',
  } as RequestInit);
}

/** One upload of each outcome first, so what is measured after is the upload, not modules loading and code warming up. */
async function warmUp(port: number, token: string, overLimit?: number): Promise<void> {
  const ok = await rawUpload({ port, token, fileBytes: 300 * 1024, framing: 'chunked' });
  expect(ok.status).toBe(201);
  await fetch(`http://127.0.0.1:${port}/api/v1/files/${JSON.parse(ok.body).id}`, { method: 'DELETE', headers: bearer(token) });
  if (overLimit !== undefined) {
    const refused = await fetchUpload(`http://127.0.0.1:${port}`, token, overLimit, 'chunked');
    expect(refused.status).toBe(413);
    await refused.arrayBuffer();
  }
}

describe('uploads over a real socket to a server process', () => {
  let server: RunningBinary;
  let dataDir: string;
  let port: number;
  let token: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parley-stream-'));
    server = await startBinary({
      path: process.execPath,
      args: ['src/cli.ts', 'serve'],
      cwd: repoRoot,
      env: { DATA_DIR: dataDir, MAX_FILE_SIZE: String(maxFileSize), RATE_LIMIT_ENABLED: 'false' },
    });
    port = Number(new URL(server.url).port);
    token = (await register(httpOfUrl(server.url))).accessToken;
    await warmUp(port, token, 2 * maxFileSize);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const blobs = () => readdirSync(join(dataDir, 'files'));
  const listed = async () => (await expectStatus(await fetch(`${server.url}/api/v1/files`, { headers: bearer(token) }), 200)).data;

  /** Peak resident memory of the server while `work` runs, over what it was before. */
  async function growthDuring<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
    const before = rssOf(server.proc.pid);
    let peak = before;
    const timer = setInterval(() => {
      peak = Math.max(peak, rssOf(server.proc.pid));
    }, 5);
    try {
      const result = await work();
      return { result, growth: peak - before };
    } finally {
      clearInterval(timer);
    }
  }

  for (const framing of ['chunked', 'content-length'] as const) {
    // With Content-Length, within the bound on a whole upload (10 files), so the file's own limit is what refuses it.
    const times = framing === 'chunked' ? 24 : 10;
    test(`error: a ${framing} body of ${times} × MAX_FILE_SIZE is 413 as the file passes the limit; the server's memory stays flat and nothing is kept`, async () => {
      const { result, growth } = await growthDuring(async () => {
        const response = await fetchUpload(server.url, token, times * maxFileSize, framing);
        return { status: response.status, body: await response.text() };
      });
      expect(result.status).toBe(413);
      expect(JSON.parse(result.body).error.code).toBe('payload_too_large');
      // Far less than the body (20 or 48 MiB): the limit and some slack, the same however much was sent.
      expect(growth).toBeLessThan(5 * MiB + 2 * maxFileSize);
      expect(blobs()).toEqual([]);
      expect(await listed()).toEqual([]);
    });
  }

  test('error: a client that hangs up mid-body leaves no row and no blob', async () => {
    for (const hangUpAfter of [4096, MiB]) {
      await rawUpload({ port, token, fileBytes: maxFileSize - 1024, framing: 'content-length', hangUpAfter });
      await waitUntil(() => blobs().length === 0, 'the cut-off upload’s bytes removed');
    }
    expect(await listed()).toEqual([]);
    // The server still serves.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  test('happy: a file at the limit streams to disk over the socket and is kept whole', async () => {
    const { result } = await growthDuring(() => rawUpload({ port, token, fileBytes: maxFileSize, framing: 'chunked' }));
    expect(result.status).toBe(201);
    const file = JSON.parse(result.body);
    expect(file.size).toBe(maxFileSize);
    expect(blobs()).toEqual([file.id]);
  });
});

describe('a large accepted upload over a real socket', () => {
  let server: RunningBinary;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parley-stream-'));
    server = await startBinary({
      path: process.execPath,
      args: ['src/cli.ts', 'serve'],
      cwd: repoRoot,
      env: { DATA_DIR: dataDir, MAX_FILE_SIZE: String(400 * MiB), RATE_LIMIT_ENABLED: 'false', TIER_LIMITS_FREE: 'storage=0' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('happy: a 256 MiB file goes to disk as it arrives: the server grows by a fraction of it', async () => {
    const token = (await register(httpOfUrl(server.url))).accessToken;
    const port = Number(new URL(server.url).port);
    await warmUp(port, token);
    const before = rssOf(server.proc.pid);
    let peak = before;
    const timer = setInterval(() => {
      peak = Math.max(peak, rssOf(server.proc.pid));
    }, 5);
    const result = await rawUpload({ port, token, fileBytes: 256 * MiB, framing: 'content-length' }).finally(() => clearInterval(timer));
    expect(result.status).toBe(201);
    expect(JSON.parse(result.body).size).toBe(256 * MiB);
    // Bounded, not proportional: measured at 30–70 MiB for files of 32 to 256 MiB (garbage the
    // collector has not yet taken back, and Bun's read-ahead), never near the file.
    expect(peak - before).toBeLessThan(128 * MiB);
  });
});
