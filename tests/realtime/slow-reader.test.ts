// A websocket client that stops reading is closed once 1 MiB waits for it (Bun's backpressure
// limit), instead of the server buffering its events without bound.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { connect, type Socket } from 'node:net';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, readJson, register, testEnv } from '../helpers/client.ts';
import { waitUntil } from '../helpers/wait.ts';

let app: TestApp;
let port: number;
let stop: () => void;
beforeAll(async () => {
  app = await createTestApp({ database: 'sqlite', kv: 'memory' }, testEnv);
  const listening = app.app.listen({ port: 0, hostname: '127.0.0.1' });
  port = listening.server!.port!;
  stop = () => void listening.server!.stop(true);
});
afterAll(async () => {
  stop();
  await app.close();
});

/** A websocket handshake by hand, so the client can stop reading (a browser tab frozen in the background). */
function openPausedSocket(token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET /api/v1/ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.once('data', (chunk) => {
      if (!chunk.toString().startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${chunk.toString().slice(0, 80)}`));
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => {});
  });
}

test('error: a socket that stops reading is closed, and the server keeps serving', async () => {
  const account = await register(app);
  const socket = await openPausedSocket(account.accessToken);
  await waitUntil(() => app.services.realtime.stats().sockets === 1 || undefined, 'the socket to register');
  const chat = await readJson(await app.request('/api/v1/chats', { method: 'POST', headers: bearer(account.accessToken), json: {} }));
  // Each update sends a ~20 kB chat.updated event to the socket; 800 of them outgrow the
  // loopback's kernel buffers and then Bun's 1 MiB limit.
  const prompt = 'x'.repeat(19_000);
  for (let i = 0; i < 800 && app.services.realtime.stats().sockets > 0; i++) {
    const response = await app.request(`/api/v1/chats/${chat.id}`, {
      method: 'PATCH',
      headers: bearer(account.accessToken),
      json: { systemPrompt: `${prompt}${i}` },
    });
    expect(response.status).toBe(200);
  }
  await waitUntil(() => app.services.realtime.stats().sockets === 0 || undefined, 'the slow socket to be closed', 10_000);
  expect((await app.request('/health')).status).toBe(200);
  socket.destroy();
});
