// The files routes with S3_* pointing at a real S3-compatible server (s3rver): the bytes go to the
// bucket under files/<id> and come back from it; deleting removes the object; an S3 that cannot be
// reached answers 503 unavailable (with Retry-After), never 500, and the upload leaves no row.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, expectStatus, register, testEnv } from '../helpers/client.ts';
import { fileRows, upload, uploadSample } from '../helpers/files.ts';
import { type S3Server, startS3 } from '../helpers/s3.ts';
import { samples, streamedMultipart } from '../helpers/samples.ts';

const MiB = 1024 * 1024;

for (const [name, kind] of kinds) {
  describe(`files on S3 (s3rver) with ${name}`, () => {
    let s3: S3Server;
    let app: TestApp;
    beforeAll(async () => {
      s3 = await startS3();
      app = await createTestApp(kind, { ...testEnv, ...s3.env, MAX_FILE_SIZE: String(16 * MiB) });
    });
    afterAll(async () => {
      await app?.close();
      await s3?.close();
    });

    test('happy: upload, list, download (whole and a range), delete: the object lives in the bucket under files/<id> and goes with the file', async () => {
      expect(app.infra.storage.kind).toBe('s3');
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken, 'on-s3.pdf', 'pdf');
      const object = await s3.client.stat(`files/${file.id}`);
      expect(object.size).toBe(samples.pdf.data.byteLength);
      const list = await expectStatus(await app.request('/api/v1/files', { headers: bearer(user.accessToken) }), 200);
      expect(list.data.map((f: { id: string }) => f.id)).toEqual([file.id]);
      const whole = await app.request(`/api/v1/files/${file.id}/content`, { headers: bearer(user.accessToken) });
      expect(whole.status).toBe(200);
      expect(new Uint8Array(await whole.arrayBuffer())).toEqual(samples.pdf.data);
      const part = await app.request(`/api/v1/files/${file.id}/content`, { headers: { ...bearer(user.accessToken), range: 'bytes=1-4' } });
      expect(part.status).toBe(206);
      expect(new TextDecoder().decode(await part.arrayBuffer())).toBe('PDF-');
      expect((await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(204);
      expect(await s3.client.exists(`files/${file.id}`)).toBe(false);
    });

    test('happy: a 12 MiB file streams through several S3 parts and comes back byte for byte', async () => {
      const user = await register(app);
      const streamed = streamedMultipart({ filename: 'big.txt', size: 12 * MiB });
      const response = await app.request('/api/v1/files/upload', {
        method: 'POST',
        headers: { ...bearer(user.accessToken), 'content-type': streamed.contentType },
        body: streamed.body,
        duplex: 'half',
      } as RequestInit);
      const file = await expectStatus(response, 201);
      expect(file.size).toBe(12 * MiB);
      expect(file.sha256).toBe(new Bun.CryptoHasher('sha256').update(new Uint8Array(12 * MiB).fill(0x61)).digest('hex'));
      expect((await s3.client.stat(`files/${file.id}`)).size).toBe(12 * MiB);
      const back = await app.request(`/api/v1/files/${file.id}/content`, { headers: bearer(user.accessToken) });
      expect(new Bun.CryptoHasher('sha256').update(new Uint8Array(await back.arrayBuffer())).digest('hex')).toBe(file.sha256);
    });

    test('error: a file over the limit on S3 is 413 and leaves no object', async () => {
      const small = await createTestApp(kind, { ...testEnv, ...s3.env, MAX_FILE_SIZE: String(MiB) });
      try {
        const user = await register(small);
        const before = (await s3.client.list({ prefix: 'files/' })).contents?.length ?? 0;
        const streamed = streamedMultipart({ size: 8 * MiB });
        const response = await small.request('/api/v1/files/upload', {
          method: 'POST',
          headers: { ...bearer(user.accessToken), 'content-type': streamed.contentType },
          body: streamed.body,
          duplex: 'half',
        } as RequestInit);
        await expectError(response, 413, 'payload_too_large');
        expect((await s3.client.list({ prefix: 'files/' })).contents?.length ?? 0).toBe(before);
      } finally {
        await small.close();
      }
    });

    test('error: with S3 unreachable, upload and download are 503 unavailable with Retry-After; nothing is recorded; back, all works', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      await s3.stop();
      try {
        const refused = await upload(app, user.accessToken, [{ field: 'file', filename: 'later.png', data: samples.png.data }]);
        expect(refused.headers.get('retry-after')).not.toBeNull();
        const body = await expectError(refused, 503, 'unavailable');
        expect(body.error.message).toContain('file storage');
        expect((await fileRows(app, user.userId)).map((row) => row.id)).toEqual([file.id]);
        await expectError(await app.request(`/api/v1/files/${file.id}/content`, { headers: bearer(user.accessToken) }), 503, 'unavailable');
        // The row's details need no storage.
        expect((await app.request(`/api/v1/files/${file.id}`, { headers: bearer(user.accessToken) })).status).toBe(200);
        // No secret or stack reaches the client.
        expect(JSON.stringify(body)).not.toContain('S3RVER');
      } finally {
        await s3.start();
      }
      const back = await app.request(`/api/v1/files/${file.id}/content`, { headers: bearer(user.accessToken) });
      expect(new Uint8Array(await back.arrayBuffer())).toEqual(samples.png.data);
      await expectStatus(await upload(app, user.accessToken, [{ field: 'file', filename: 'now.png', data: samples.png.data }]), 201);
    });
  });
}
