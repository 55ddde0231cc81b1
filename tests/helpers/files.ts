// Uploads and what they left behind, for the files suites.
import type { TestApp } from './app.ts';
import { bearer, expectStatus, httpOf, type Json, type Target } from './client.ts';
import { multipart, type Part, samples } from './samples.ts';

/** POST the parts to /files/upload (or /upload-multiple) as a multipart body. */
export function upload(
  target: Target,
  token: string,
  parts: Part[],
  options: { route?: 'upload' | 'upload-multiple'; headers?: Record<string, string> } = {},
): Promise<Response> {
  const { body, contentType } = multipart(parts);
  return httpOf(target)(`/api/v1/files/${options.route ?? 'upload'}`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': contentType, ...options.headers },
    body,
  });
}

/** Uploads one sample (a PNG unless told) and returns its file info. */
export async function uploadSample(
  target: Target,
  token: string,
  name = 'picture.png',
  sample: keyof typeof samples = 'png',
): Promise<Json> {
  const { data, type } = samples[sample];
  return expectStatus(
    await upload(target, token, [{ field: 'file', filename: name, type: type || 'application/octet-stream', data }]),
    201,
  );
}

/** Every key in the app's file storage. */
export async function storedKeys(app: TestApp): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of app.infra.storage.list()) keys.push(entry.key);
  return keys.sort();
}

/** The user's file rows, read straight from the database. */
export async function fileRows(app: TestApp, userId: string) {
  const { files } = app.infra.db.tables;
  const { eq } = await import('drizzle-orm');
  return app.infra.db.run((q) => q.select().from(files).where(eq(files.userId, userId)));
}
