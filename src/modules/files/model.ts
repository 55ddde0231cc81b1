import { t } from 'elysia';
import { page } from '../../http/pagination.ts';

export const FileInfo = t.Object({
  id: t.String(),
  name: t.String({ description: 'The name the file was sent with, sanitised for display (no path, no control or bidi characters, ≤ 255)' }),
  contentType: t.String({ description: 'Judged from the content (image/png, application/pdf…), or a text type for UTF-8 text' }),
  size: t.Integer({ minimum: 1, description: 'Bytes' }),
  sha256: t.String({ description: 'Hex SHA-256 of the content; also the download’s ETag' }),
  createdAt: t.String({ format: 'date-time' }),
});
export type FileInfo = typeof FileInfo.static;

export const FileList = page(FileInfo);
export const UploadedFiles = t.Object({ data: t.Array(FileInfo) });
export const FileParams = t.Object({ id: t.String({ maxLength: 64 }) });

/** The OpenAPI request body of an upload route, whose body Elysia does not parse (it is streamed). */
export const uploadRequestBody = (field: 'file' | 'files', description: string) => ({
  required: true,
  description,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: [field],
        properties: {
          [field]:
            field === 'file'
              ? { type: 'string', format: 'binary', description: 'The file' }
              : {
                  type: 'array',
                  items: { type: 'string', format: 'binary' },
                  description: 'The files, each as its own part named `files`',
                },
        },
      },
    },
  },
});
