// POST /api/v1/files/upload and /upload-multiple in process, on both storage kinds: types judged
// by content, names sanitised, and every refusal (missing, empty, wrong type, too large however
// framed, too many, malformed, cut off) leaving neither a row nor a blob.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, expectError, expectStatus, register, testEnv } from '../helpers/client.ts';
import { fileRows, storedKeys, upload } from '../helpers/files.ts';
import { multipart, samples, streamedMultipart } from '../helpers/samples.ts';

const maxFileSize = 256 * 1024;
const maxFiles = 3;
const env = { ...testEnv, MAX_FILE_SIZE: String(maxFileSize), MAX_FILES_PER_UPLOAD: String(maxFiles) };

for (const [name, kind] of kinds) {
  describe(`uploads on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, env);
    });
    afterAll(() => app.close());

    /** Runs `attempt` and checks it left the user no new row and the storage no new blob. */
    async function leavesNothing(user: Account, attempt: () => Promise<void>) {
      const keys = await storedKeys(app);
      const rows = (await fileRows(app, user.userId)).length;
      await attempt();
      expect(await storedKeys(app)).toEqual(keys);
      expect((await fileRows(app, user.userId)).length).toBe(rows);
    }

    test('happy: each allowed kind is stored with the type its content shows, size and sha256 of its bytes', async () => {
      const user = await register(app);
      const kindsToSend = ['png', 'jpeg', 'gif', 'webp', 'pdf', 'docx', 'xlsx', 'wav', 'mp3', 'ogg', 'flac', 'm4a', 'webm'] as const;
      for (const sample of kindsToSend) {
        const { data, type } = samples[sample];
        const info = await expectStatus(
          await upload(app, user.accessToken, [{ field: 'file', filename: `sample.${sample}`, type: 'application/octet-stream', data }]),
          201,
        );
        expect({ sample, contentType: info.contentType }).toEqual({ sample, contentType: type });
        expect(info.size).toBe(data.byteLength);
        expect(info.sha256).toBe(new Bun.CryptoHasher('sha256').update(data).digest('hex'));
        expect(info.name).toBe(`sample.${sample}`);
        expect(Object.keys(info).sort()).toEqual(['contentType', 'createdAt', 'id', 'name', 'sha256', 'size']);
      }
      expect((await fileRows(app, user.userId)).length).toBe(kindsToSend.length);
    });

    test('happy: UTF-8 text sent as text is stored with a text type by its extension', async () => {
      const user = await register(app);
      const cases = [
        ['notes.txt', 'text/plain', samples.text],
        ['README.md', 'application/octet-stream', samples.markdown],
        ['table.csv', 'text/csv', samples.csv],
        ['data.json', 'application/json', samples.json],
        ['main.rs', 'application/octet-stream', { data: new TextEncoder().encode('fn main() {}\n'), type: 'text/plain; charset=utf-8' }],
        ['no-extension', 'text/plain', { data: new TextEncoder().encode('plain'), type: 'text/plain; charset=utf-8' }],
      ] as const;
      for (const [filename, declared, sample] of cases) {
        const info = await expectStatus(
          await upload(app, user.accessToken, [{ field: 'file', filename, type: declared, data: sample.data }]),
          201,
        );
        expect({ filename, contentType: info.contentType }).toEqual({ filename, contentType: sample.type });
      }
    });

    test('security: the type is the content’s: a PNG declared text is image/png, an executable declared image/png is 415', async () => {
      const user = await register(app);
      const png = await expectStatus(
        await upload(app, user.accessToken, [{ field: 'file', filename: 'x.txt', type: 'text/plain', data: samples.png.data }]),
        201,
      );
      expect(png.contentType).toBe('image/png');
      await leavesNothing(user, async () => {
        for (const sample of ['exe', 'elf', 'zip'] as const) {
          const response = await upload(app, user.accessToken, [
            { field: 'file', filename: 'photo.png', type: 'image/png', data: samples[sample].data },
          ]);
          const body = await expectError(response, 415, 'unsupported_media_type');
          expect(body.error.message).toContain('Allowed:');
        }
      });
    });

    test('error: text that is not UTF-8, holds NUL, or is not sent as text is 415', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]);
        await expectError(
          await upload(app, user.accessToken, [{ field: 'file', filename: 'a.txt', type: 'text/plain', data: latin1 }]),
          415,
          'unsupported_media_type',
        );
        const nul = new TextEncoder().encode('before\0after');
        await expectError(
          await upload(app, user.accessToken, [{ field: 'file', filename: 'a.txt', type: 'text/plain', data: nul }]),
          415,
          'unsupported_media_type',
        );
        const binary = new TextEncoder().encode('looks like text');
        await expectError(
          await upload(app, user.accessToken, [{ field: 'file', filename: 'blob.bin', type: 'application/octet-stream', data: binary }]),
          415,
          'unsupported_media_type',
        );
        // Valid for its first 64 KiB, broken after: refused at the end, and what was written is removed.
        const late = new Uint8Array(100_000).fill(0x61);
        late[90_000] = 0xff;
        await expectError(
          await upload(app, user.accessToken, [{ field: 'file', filename: 'long.txt', type: 'text/plain', data: late }]),
          415,
          'unsupported_media_type',
        );
      });
    });

    test('error: no file part, a text field instead, or an empty file is 422 naming the field', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        const none = await expectError(await upload(app, user.accessToken, []), 422, 'validation_error');
        expect(none.error.details[0].field).toBe('body.file');
        const field = await expectError(
          await upload(app, user.accessToken, [{ field: 'file', data: 'just text' }]),
          422,
          'validation_error',
        );
        expect(field.error.details[0].field).toBe('body.file');
        const empty = await expectError(
          await upload(app, user.accessToken, [{ field: 'file', filename: 'empty.txt', type: 'text/plain', data: new Uint8Array(0) }]),
          422,
          'validation_error',
        );
        expect(empty.error.details[0].message).toContain('empty');
        const multiple = await expectError(await upload(app, user.accessToken, [], { route: 'upload-multiple' }), 422, 'validation_error');
        expect(multiple.error.details[0].field).toBe('body.files');
      });
    });

    test('error: a file in another field, or two files to /upload, is 422; nothing is kept', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        const other = await expectError(
          await upload(app, user.accessToken, [{ field: 'attachment', filename: 'a.png', data: samples.png.data }]),
          422,
          'validation_error',
        );
        expect(other.error.details[0].field).toBe('body.attachment');
        const two = await expectError(
          await upload(app, user.accessToken, [
            { field: 'file', filename: 'a.png', data: samples.png.data },
            { field: 'file', filename: 'b.png', data: samples.png.data },
          ]),
          422,
          'validation_error',
        );
        expect(two.error.message + JSON.stringify(two.error.details)).toContain('upload-multiple');
      });
    });

    test('error: not multipart is 415 (after auth); a multipart type without a boundary or a malformed body is 422', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        const json = await app.request('/api/v1/files/upload', { method: 'POST', headers: bearer(user.accessToken), json: { file: 'x' } });
        await expectError(json, 415, 'unsupported_media_type');
        const form = await app.request('/api/v1/files/upload', {
          method: 'POST',
          headers: { ...bearer(user.accessToken), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'file=x',
        });
        await expectError(form, 415, 'unsupported_media_type');
        const noBoundary = await app.request('/api/v1/files/upload', {
          method: 'POST',
          headers: { ...bearer(user.accessToken), 'content-type': 'multipart/form-data' },
          body: 'whatever',
        });
        expect((await expectError(noBoundary, 422, 'validation_error')).error.details[0].field).toBe('header.content-type');
        const garbage = await app.request('/api/v1/files/upload', {
          method: 'POST',
          headers: { ...bearer(user.accessToken), 'content-type': 'multipart/form-data; boundary=xyz' },
          body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nno closing boundary',
        });
        await expectError(garbage, 422, 'validation_error');
      });
      // Without credentials it is 401 before anything else, whatever the body.
      const anonymous = await app.request('/api/v1/files/upload', { method: 'POST', json: {} });
      await expectError(anonymous, 401, 'unauthorized');
    });

    test('happy: upload-multiple keeps every file, in order, in one answer', async () => {
      const user = await register(app);
      const response = await upload(
        app,
        user.accessToken,
        [
          { field: 'files', filename: 'one.png', data: samples.png.data },
          { field: 'files', filename: 'two.pdf', data: samples.pdf.data },
          { field: 'files', filename: 'three.md', type: 'text/markdown', data: samples.markdown.data },
        ],
        { route: 'upload-multiple' },
      );
      const { data } = await expectStatus(response, 201);
      expect(data.map((file: { name: string; contentType: string }) => [file.name, file.contentType])).toEqual([
        ['one.png', 'image/png'],
        ['two.pdf', 'application/pdf'],
        ['three.md', 'text/markdown; charset=utf-8'],
      ]);
      expect((await fileRows(app, user.userId)).length).toBe(3);
    });

    test(`error: more than MAX_FILES_PER_UPLOAD (${maxFiles}) files is 413, and none of them is kept; one bad file refuses all`, async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        const tooMany = Array.from({ length: maxFiles + 1 }, (_, i) => ({ field: 'files', filename: `f${i}.png`, data: samples.png.data }));
        const body = await expectError(
          await upload(app, user.accessToken, tooMany, { route: 'upload-multiple' }),
          413,
          'payload_too_large',
        );
        expect(body.error.message).toContain(String(maxFiles));
        const oneBad = [
          { field: 'files', filename: 'ok.png', data: samples.png.data },
          { field: 'files', filename: 'bad.png', data: samples.exe.data },
        ];
        await expectError(await upload(app, user.accessToken, oneBad, { route: 'upload-multiple' }), 415, 'unsupported_media_type');
      });
    });

    for (const framing of ['content-length', 'chunked'] as const) {
      test(`error: a file over MAX_FILE_SIZE is 413 as soon as it passes it (${framing}); nothing is kept and the rest is not read`, async () => {
        const user = await register(app);
        await leavesNothing(user, async () => {
          let pulled = 0;
          // Declared: within the bound on a whole upload (so the file's own limit is what refuses it).
          const size = framing === 'content-length' ? 2 * maxFileSize : 20 * maxFileSize;
          const streamed = streamedMultipart({ size, onPull: (sent) => (pulled = sent) });
          const headers: Record<string, string> = { ...bearer(user.accessToken), 'content-type': streamed.contentType };
          if (framing === 'content-length') headers['content-length'] = String(streamed.length);
          const response = await app.request('/api/v1/files/upload', {
            method: 'POST',
            headers,
            body: streamed.body,
            duplex: 'half',
          } as RequestInit);
          const body = await expectError(response, 413, 'payload_too_large');
          expect(body.error.message).toContain(String(maxFileSize));
          // Refused within a few chunks of the limit, not after reading all that was sent.
          expect(pulled).toBeLessThan(maxFileSize + 256 * 1024);
        });
        // Exactly the limit is fine.
        const exact = await upload(app, user.accessToken, [
          { field: 'file', filename: 'exact.txt', type: 'text/plain', data: new Uint8Array(maxFileSize).fill(0x62) },
        ]);
        expect((await expectStatus(exact, 201)).size).toBe(maxFileSize);
      });
    }

    test('error: a declared Content-Length over the bound on a whole upload is 413 before any byte is read', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        let pulled = 0;
        const streamed = streamedMultipart({ size: (maxFiles + 1) * (maxFileSize + 100_000), onPull: (sent) => (pulled = sent) });
        const response = await app.request('/api/v1/files/upload-multiple', {
          method: 'POST',
          headers: { ...bearer(user.accessToken), 'content-type': streamed.contentType, 'content-length': String(streamed.length) },
          body: streamed.body,
          duplex: 'half',
        } as RequestInit);
        await expectError(response, 413, 'payload_too_large');
        expect(pulled).toBeLessThanOrEqual(64 * 1024 + 1024);
      });
    });

    test('error: a body cut off midway (the client went away) is refused and leaves neither row nor blob', async () => {
      const user = await register(app);
      await leavesNothing(user, async () => {
        for (const failAfter of [1000, 100_000]) {
          const streamed = streamedMultipart({ size: maxFileSize - 10, failAfter });
          const response = await app.request('/api/v1/files/upload', {
            method: 'POST',
            headers: { ...bearer(user.accessToken), 'content-type': streamed.contentType },
            body: streamed.body,
            duplex: 'half',
          } as RequestInit);
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.status).toBeLessThan(500);
          await response.arrayBuffer();
        }
      });
    });

    test('security: names are for display: paths, NUL and control characters and bidi overrides are removed, length capped, extension kept', async () => {
      const user = await register(app);
      const sent = async (filename: string) =>
        (await expectStatus(await upload(app, user.accessToken, [{ field: 'file', filename, type: 'text/plain', data: 'x' }]), 201)).name;
      expect(await sent('../../etc/passwd.txt')).toBe('passwd.txt');
      expect(await sent('..\\..\\windows\\win.txt')).toBe('win.txt');
      expect(await sent('re\u0000port\u0007.txt')).toBe('report.txt');
      expect(await sent('invoice\u202Etxt.exe\u202C.txt')).toBe('invoicetxt.exe.txt');
      expect(await sent('\u2066evil\u2069 name .txt')).toBe('evil name .txt');
      expect(await sent('   spaced.txt   ')).toBe('spaced.txt');
      expect(await sent('../..')).toBe('file');
      expect(await sent('')).toBe('file');
      const long = await sent(`${'é'.repeat(400)}.txt`);
      expect(long.length).toBe(255);
      expect(long.endsWith('.txt')).toBe(true);
      expect(await sent('naïve – 日本語.txt')).toBe('naïve – 日本語.txt');
    });
  });
}

test('happy: a multipart body is sized by Bun’s outer bound, not the 1 MiB JSON limit (a 2 MiB file is read)', async () => {
  const app = await createTestApp(undefined, { ...testEnv, MAX_FILE_SIZE: String(4 * 1024 * 1024) });
  try {
    const user = await register(app);
    const { body, contentType } = multipart([
      { field: 'file', filename: 'two.txt', type: 'text/plain', data: new Uint8Array(2 * 1024 * 1024).fill(0x63) },
    ]);
    const response = await app.request('/api/v1/files/upload', {
      method: 'POST',
      headers: { ...bearer(user.accessToken), 'content-type': contentType, 'content-length': String(body.byteLength) },
      body,
    });
    expect((await expectStatus(response, 201)).size).toBe(2 * 1024 * 1024);
  } finally {
    await app.close();
  }
});
