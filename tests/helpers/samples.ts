// Small files of each kind the upload routes judge, made in code: real signatures and headers
// (enough for file-type to tell them), not whole media. Plus multipart bodies built byte by byte,
// so a test controls every name, type and framing (FormData would escape what we want to send).

const encoder = new TextEncoder();
const bytes = (...parts: (string | number[] | Uint8Array)[]): Uint8Array<ArrayBuffer> =>
  new Uint8Array(Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part)))));
const u32le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u16le = (n: number) => [n & 0xff, (n >>> 8) & 0xff];
const u32be = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** A ZIP of stored (uncompressed) entries, as Office documents are laid out. */
export function zipOf(entries: [name: string, content: string][]): Uint8Array<ArrayBuffer> {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = encoder.encode(content);
    const crc = Bun.hash.crc32(data);
    const head = bytes(
      [0x50, 0x4b, 3, 4],
      u16le(20),
      u16le(0),
      u16le(0),
      u16le(0),
      u16le(0),
      u32le(crc),
      u32le(data.length),
      u32le(data.length),
      u16le(name.length),
      u16le(0),
      name,
    );
    locals.push(head, data);
    centrals.push(
      bytes(
        [0x50, 0x4b, 1, 2],
        u16le(20),
        u16le(20),
        u16le(0),
        u16le(0),
        u16le(0),
        u16le(0),
        u32le(crc),
        u32le(data.length),
        u32le(data.length),
        u16le(name.length),
        u16le(0),
        u16le(0),
        u16le(0),
        u16le(0),
        u32le(0),
        u32le(offset),
        name,
      ),
    );
    offset += head.length + data.length;
  }
  const central = Buffer.concat(centrals);
  const end = bytes(
    [0x50, 0x4b, 5, 6],
    u16le(0),
    u16le(0),
    u16le(entries.length),
    u16le(entries.length),
    u32le(central.length),
    u32le(offset),
    u16le(0),
  );
  return new Uint8Array(Buffer.concat([...locals, central, end]));
}

const officeTypes = (main: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/main.xml" ContentType="${main}"/></Types>`;

/** One 1×1 transparent PNG. */
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

/** Samples by name: the bytes, and the type the server must store for them. */
export const samples = {
  png: { data: new Uint8Array(png), type: 'image/png' },
  jpeg: {
    data: bytes([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10], 'JFIF', [0, 1, 1, 0, 0, 1, 0, 1, 0, 0], new Array(64).fill(0), [0xff, 0xd9]),
    type: 'image/jpeg',
  },
  gif: {
    data: bytes(
      'GIF89a',
      [1, 0, 1, 0, 0x80, 0, 0],
      [0, 0, 0, 0xff, 0xff, 0xff],
      '!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;',
    ),
    type: 'image/gif',
  },
  webp: { data: bytes('RIFF', u32le(30), 'WEBPVP8 ', u32le(18), new Array(18).fill(0)), type: 'image/webp' },
  pdf: { data: bytes('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n'), type: 'application/pdf' },
  docx: {
    data: zipOf([
      ['[Content_Types].xml', officeTypes('application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml')],
      ['word/document.xml', '<w:document/>'],
    ]),
    type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  },
  xlsx: {
    data: zipOf([
      ['[Content_Types].xml', officeTypes('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml')],
      ['xl/workbook.xml', '<workbook/>'],
    ]),
    type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  },
  wav: {
    data: bytes(
      'RIFF',
      u32le(36 + 8),
      'WAVEfmt ',
      u32le(16),
      u16le(1),
      u16le(1),
      u32le(8000),
      u32le(16000),
      u16le(2),
      u16le(16),
      'data',
      u32le(8),
      new Array(8).fill(0),
    ),
    type: 'audio/wav',
  },
  mp3: { data: bytes('ID3', [4, 0, 0, 0, 0, 0, 0], [0xff, 0xfb, 0x90, 0x64], new Array(100).fill(0)), type: 'audio/mpeg' },
  ogg: {
    data: bytes('OggS', [0, 2], new Array(8).fill(0), u32le(1), u32le(0), u32le(0), [1, 30], '\x01vorbis', new Array(23).fill(0)),
    type: 'audio/ogg',
  },
  flac: { data: bytes('fLaC', [0x80, 0, 0, 34], new Array(34).fill(0)), type: 'audio/flac' },
  m4a: { data: bytes(u32be(24), 'ftypM4A ', u32be(0), 'M4A isom', u32be(8), 'free'), type: 'audio/x-m4a' },
  webm: {
    data: bytes(
      [0x1a, 0x45, 0xdf, 0xa3, 0x9f],
      [0x42, 0x86, 0x81, 0x01],
      [0x42, 0xf7, 0x81, 0x01],
      [0x42, 0xf2, 0x81, 0x04],
      [0x42, 0xf3, 0x81, 0x08],
      [0x42, 0x82, 0x84],
      'webm',
      [0x42, 0x87, 0x81, 0x04],
      [0x42, 0x85, 0x81, 0x02],
    ),
    type: 'video/webm',
  },
  text: { data: encoder.encode('Hello, files! Ünïcödé ✓\n'), type: 'text/plain; charset=utf-8' },
  markdown: { data: encoder.encode('# Title\n\nSome *text*.\n'), type: 'text/markdown; charset=utf-8' },
  csv: { data: encoder.encode('a,b\n1,2\n'), type: 'text/csv; charset=utf-8' },
  json: { data: encoder.encode('{"a":1}\n'), type: 'application/json' },
  exe: { data: bytes('MZ', [0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0], new Array(200).fill(0)), type: '' },
  elf: { data: bytes([0x7f], 'ELF', [2, 1, 1, 0], new Array(56).fill(0)), type: '' },
  zip: { data: zipOf([['notes.txt', 'just a zip']]), type: '' },
};

/** One part of a multipart body: a file (with a filename) unless `filename` is undefined. */
export type Part = { field: string; filename?: string; type?: string; data: Uint8Array | string };

const crlf = '\r\n';

/** The head of a part, as browsers write it (the filename as raw UTF-8 between quotes, `"` escaped). */
function partHead(boundary: string, part: Part): Uint8Array {
  const disposition = `form-data; name="${part.field}"${part.filename === undefined ? '' : `; filename="${part.filename.replaceAll('"', '%22')}"`}`;
  const type = part.type ?? (part.filename === undefined ? undefined : 'application/octet-stream');
  return encoder.encode(
    `--${boundary}${crlf}Content-Disposition: ${disposition}${crlf}${type ? `Content-Type: ${type}${crlf}` : ''}${crlf}`,
  );
}

/** A whole multipart/form-data body of `parts`, with its Content-Type. */
export function multipart(parts: Part[], boundary = `----parley${crypto.randomUUID()}`): { body: Uint8Array; contentType: string } {
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    chunks.push(partHead(boundary, part), typeof part.data === 'string' ? encoder.encode(part.data) : part.data, encoder.encode(crlf));
  }
  chunks.push(encoder.encode(`--${boundary}--${crlf}`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * A multipart body made as it is read: one file part of `size` bytes (`first`, then filler) that
 * is never whole in memory. `failAfter` makes the stream error after that many bytes (a client
 * that went away); `onPull` sees the bytes handed out so far.
 */
export function streamedMultipart(options: {
  field?: string;
  filename?: string;
  type?: string;
  first?: Uint8Array;
  size: number;
  chunkBytes?: number;
  failAfter?: number;
  onPull?: (sent: number) => void;
}): { body: ReadableStream<Uint8Array>; contentType: string; length: number } {
  const boundary = `----parley${crypto.randomUUID()}`;
  const head = partHead(boundary, {
    field: options.field ?? 'file',
    filename: options.filename ?? 'big.txt',
    type: options.type ?? 'text/plain',
    data: '',
  });
  const tail = encoder.encode(`${crlf}--${boundary}--${crlf}`);
  const first = options.first ?? new Uint8Array(0);
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  let fileSent = 0;
  let sent = 0;
  let stage: 'head' | 'file' | 'tail' | 'done' = 'head';
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (options.failAfter !== undefined && sent >= options.failAfter) {
          controller.error(new Error('the client went away'));
          return;
        }
        let chunk: Uint8Array;
        if (stage === 'head') {
          chunk = Buffer.concat([head, first]);
          fileSent = first.length;
          stage = fileSent >= options.size ? 'tail' : 'file';
        } else if (stage === 'file') {
          const n = Math.min(chunkBytes, options.size - fileSent);
          chunk = new Uint8Array(n).fill(0x61);
          fileSent += n;
          if (fileSent >= options.size) stage = 'tail';
        } else if (stage === 'tail') {
          chunk = tail;
          stage = 'done';
        } else {
          controller.close();
          return;
        }
        sent += chunk.byteLength;
        options.onPull?.(sent);
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, length: head.length + options.size + tail.length };
}
