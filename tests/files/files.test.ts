// Reading and deleting files on both storage kinds: list pages, info, downloads (headers, ranges,
// ETag and 304), delete (the blob goes too), 409 for a file a message carries, and another user's
// file answering 404 on every route.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { attachmentOf } from '../../src/modules/files/download.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, expectError, expectStatus, register, sendJson, testEnv } from '../helpers/client.ts';
import { storedKeys, upload, uploadSample } from '../helpers/files.ts';
import { samples } from '../helpers/samples.ts';

for (const [name, kind] of kinds) {
  describe(`files on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const get = (token: string, path: string, headers: Record<string, string> = {}) =>
      app.request(`/api/v1/files${path}`, { headers: { ...bearer(token), ...headers } });
    const bytesOf = async (response: Response) => new Uint8Array(await response.arrayBuffer());

    test('happy: the list is newest first in pages of ?limit, with every file once; info matches the upload', async () => {
      const user = await register(app);
      const uploaded = [];
      for (let i = 0; i < 5; i++) uploaded.push(await uploadSample(app, user.accessToken, `p${i}.png`));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { data: { id: string }[]; nextCursor: string | null } = await expectStatus(
          await get(user.accessToken, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`),
          200,
        );
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((file) => file.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual(uploaded.map((file) => file.id).reverse());
      expect(await expectStatus(await get(user.accessToken, `/${uploaded[2].id}`), 200)).toEqual(uploaded[2]);
      // Another user's list does not show them.
      const other = await register(app);
      expect((await expectStatus(await get(other.accessToken, ''), 200)).data).toEqual([]);
      await expectError(await get(user.accessToken, '?limit=0'), 422, 'validation_error');
      await expectError(await get(user.accessToken, '?cursor=not-a-cursor'), 422, 'validation_error');
    });

    test('happy: the download is the stored bytes with type, attachment name, nosniff, length, Accept-Ranges and the sha256 as ETag', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken, 'résumé «final».pdf', 'pdf');
      const response = await get(user.accessToken, `/${file.id}/content`);
      expect(response.status).toBe(200);
      expect(await bytesOf(response)).toEqual(samples.pdf.data);
      expect(response.headers.get('content-type')).toBe('application/pdf');
      expect(response.headers.get('content-length')).toBe(String(samples.pdf.data.byteLength));
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(response.headers.get('etag')).toBe(`"${file.sha256}"`);
      expect(response.headers.get('content-disposition')).toBe(
        `attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%C2%ABfinal%C2%BB.pdf`,
      );
      expect(response.headers.get('content-encoding')).toBeNull();
      // A plain ASCII name is quoted too; a quote or backslash in a name cannot break out of the header.
      const plain = await uploadSample(app, user.accessToken, 'plain.png');
      expect((await get(user.accessToken, `/${plain.id}/content`)).headers.get('content-disposition')).toBe(
        `attachment; filename="plain.png"; filename*=UTF-8''plain.png`,
      );
      expect(attachmentOf('say "hi\\".txt')).toBe(`attachment; filename="say _hi__.txt"; filename*=UTF-8''say%20%22hi%5C%22.txt`);
    });

    test('happy: single byte ranges are 206 with Content-Range; several ranges or a malformed one get the whole file', async () => {
      const user = await register(app);
      const data = new Uint8Array(1000).map((_, i) => 0x41 + (i % 26));
      const file = await expectStatus(
        await upload(app, user.accessToken, [{ field: 'file', filename: 'abc.txt', type: 'text/plain', data }]),
        201,
      );
      const cases: [string, number, number][] = [
        ['bytes=0-9', 0, 9],
        ['bytes=990-', 990, 999],
        ['bytes=-5', 995, 999],
        ['bytes=500-5000', 500, 999],
        ['bytes=-5000', 0, 999],
      ];
      for (const [range, start, end] of cases) {
        const response = await get(user.accessToken, `/${file.id}/content`, { range });
        expect({ range, status: response.status }).toEqual({ range, status: 206 });
        expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
        expect(response.headers.get('content-length')).toBe(String(end - start + 1));
        expect(response.headers.get('etag')).toBe(`"${file.sha256}"`);
        expect(await bytesOf(response)).toEqual(data.slice(start, end + 1));
      }
      for (const range of ['bytes=0-1,5-6', 'lines=1-2', 'bytes=5-1', 'bytes=abc']) {
        const response = await get(user.accessToken, `/${file.id}/content`, { range });
        expect({ range, status: response.status }).toEqual({ range, status: 200 });
        expect((await bytesOf(response)).byteLength).toBe(1000);
      }
    });

    test('error: a range past the end is 416 with Content-Range: bytes */size', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      for (const range of [`bytes=${file.size}-`, 'bytes=99999-100000', 'bytes=-0']) {
        const response = await get(user.accessToken, `/${file.id}/content`, { range });
        expect(response.headers.get('content-range')).toBe(`bytes */${file.size}`);
        await expectError(response, 416, 'range_not_satisfiable');
      }
    });

    test('happy: If-None-Match with the ETag is 304 with no body; If-Range with another ETag sends the whole file', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      const etag = `"${file.sha256}"`;
      for (const value of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const response = await get(user.accessToken, `/${file.id}/content`, { 'if-none-match': value });
        expect({ value, status: response.status }).toEqual({ value, status: 304 });
        expect(response.headers.get('etag')).toBe(etag);
        expect((await bytesOf(response)).byteLength).toBe(0);
      }
      expect((await get(user.accessToken, `/${file.id}/content`, { 'if-none-match': '"stale"' })).status).toBe(200);
      const same = await get(user.accessToken, `/${file.id}/content`, { range: 'bytes=0-3', 'if-range': etag });
      expect(same.status).toBe(206);
      const changed = await get(user.accessToken, `/${file.id}/content`, { range: 'bytes=0-3', 'if-range': '"older"' });
      expect(changed.status).toBe(200);
      expect((await bytesOf(changed)).byteLength).toBe(file.size);
    });

    test('happy: delete is 204 and removes the row and the bytes; a second delete is 404', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      expect(await storedKeys(app)).toContain(file.id);
      const response = await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(user.accessToken) });
      expect(response.status).toBe(204);
      expect(await storedKeys(app)).not.toContain(file.id);
      await expectError(await get(user.accessToken, `/${file.id}`), 404, 'not_found');
      await expectError(await get(user.accessToken, `/${file.id}/content`), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(user.accessToken) }),
        404,
        'not_found',
      );
    });

    test('error: a file a message carries is 409 on delete, saying to delete the chat; once the chat is gone it can be deleted', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      const chat = await createChat(app, user.accessToken, { provider: 'echo' });
      const sent = await sendJson(app, user.accessToken, chat.id, { content: 'look at this' });
      // Staged directly: attaching files to messages is another route's work.
      await app.infra.db.run((q) =>
        q.insert(app.infra.db.tables.messageAttachments).values({ messageId: sent.userMessage.id, fileId: file.id }),
      );
      const refused = await expectError(
        await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(user.accessToken) }),
        409,
        'conflict',
      );
      expect(refused.error.message).toContain('delete that chat');
      expect(await storedKeys(app)).toContain(file.id);
      expect((await get(user.accessToken, `/${file.id}/content`)).status).toBe(200);
      await expectStatus(await app.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(user.accessToken) }), 204);
      expect((await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(204);
      expect(await storedKeys(app)).not.toContain(file.id);
    });

    test('security: another user’s file is 404 on info, content (with Range and If-None-Match too) and delete, and stays whole', async () => {
      const owner: Account = await register(app);
      const intruder = await register(app);
      const file = await uploadSample(app, owner.accessToken);
      await expectError(await get(intruder.accessToken, `/${file.id}`), 404, 'not_found');
      await expectError(await get(intruder.accessToken, `/${file.id}/content`), 404, 'not_found');
      await expectError(await get(intruder.accessToken, `/${file.id}/content`, { range: 'bytes=0-1' }), 404, 'not_found');
      await expectError(await get(intruder.accessToken, `/${file.id}/content`, { 'if-none-match': `"${file.sha256}"` }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/files/${file.id}`, { method: 'DELETE', headers: bearer(intruder.accessToken) }),
        404,
        'not_found',
      );
      expect((await expectStatus(await get(intruder.accessToken, ''), 200)).data).toEqual([]);
      expect(await expectStatus(await get(owner.accessToken, `/${file.id}`), 200)).toEqual(file);
      expect(await bytesOf(await get(owner.accessToken, `/${file.id}/content`))).toEqual(samples.png.data);
      // Unknown ids are the same 404.
      await expectError(await get(intruder.accessToken, `/${crypto.randomUUID()}`), 404, 'not_found');
      await expectError(await get(intruder.accessToken, '/../../etc/passwd/content'), 404, 'not_found');
    });

    test('happy: the service’s open and assertOwned serve the owner only (for other modules)', async () => {
      const owner = await register(app);
      const other = await register(app);
      const file = await uploadSample(app, owner.accessToken);
      const opened = await app.services.files.open(owner.userId, file.id);
      expect(opened.file).toEqual(file);
      expect(new Uint8Array(await new Response(opened.stream).arrayBuffer())).toEqual(samples.png.data);
      await expect(app.services.files.open(other.userId, file.id)).rejects.toMatchObject({ code: 'not_found' });
      await app.services.files.assertOwned(owner.userId, [file.id, file.id]);
      await expect(app.services.files.assertOwned(other.userId, [file.id])).rejects.toMatchObject({ code: 'not_found' });
      await expect(app.services.files.assertOwned(owner.userId, [file.id, 'missing'])).rejects.toMatchObject({ code: 'not_found' });
    });
  });
}
