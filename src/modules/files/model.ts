import { t } from 'elysia';
import { page } from '../../http/pagination.ts';
import { Provider } from '../../http/vocabulary.ts';

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

export const AnalyzeBody = t.Object(
  {
    prompt: t.Optional(
      t.String({ minLength: 1, maxLength: 20_000, description: 'What to ask about the file; a general analysis when absent' }),
    ),
    provider: t.Optional(Provider),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    temperature: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
    maxTokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
    stream: t.Optional(t.Boolean({ description: 'true (or `Accept: text/event-stream`): the analysis streams as SSE like a reply' })),
  },
  { additionalProperties: false },
);

export const Analysis = t.Object({
  fileId: t.String(),
  analysis: t.String({ description: 'The model’s answer' }),
  provider: t.String(),
  model: t.String(),
  usage: t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() }),
  notes: t.Array(t.String(), { description: 'What of the file the model did not see: cut to fit the context, or not sent (audio)' }),
});
