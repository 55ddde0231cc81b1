// Real files made on the spot for the extraction tests: PDFs written by pdf-lib, DOCX by docx,
// a PNG and a WAV byte for byte, zips by fflate. Each is what a user could upload.
import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { zipSync } from 'fflate';
import { PDFDocument, PDFHexString, StandardFonts } from 'pdf-lib';

/** A PDF with one page per entry, each line of an entry drawn as a line of text (Helvetica, so ASCII and Latin-1). */
export async function makePdf(pages: string[][], options: { encrypted?: boolean } = {}): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage([400, 60 + 24 * lines.length]);
    for (const [i, line] of lines.entries()) page.drawText(line, { x: 20, y: page.getHeight() - 40 - 24 * i, size: 14, font });
  }
  if (options.encrypted) {
    // A standard security handler whose user password is not empty: readers must ask for one.
    const encrypt = pdf.context.obj({
      Filter: 'Standard',
      V: 1,
      R: 2,
      O: PDFHexString.of('00'.repeat(32)),
      U: PDFHexString.of('11'.repeat(32)),
      P: -4,
    });
    pdf.context.trailerInfo.Encrypt = pdf.context.register(encrypt);
    pdf.context.trailerInfo.ID = pdf.context.obj([PDFHexString.of('ab'.repeat(16)), PDFHexString.of('ab'.repeat(16))]);
  }
  return pdf.save({ useObjectStreams: !options.encrypted });
}

/** A DOCX: a heading, then one paragraph per entry, each entry's runs alternating plain and bold. */
export async function makeDocx(heading: string, paragraphs: string[][]): Promise<Uint8Array> {
  const document = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: heading, heading: HeadingLevel.HEADING_1 }),
          ...paragraphs.map((runs) => new Paragraph({ children: runs.map((text, i) => new TextRun({ text, bold: i % 2 === 1 })) })),
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(document));
}

/** A valid 1×1 transparent PNG. */
export const png = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='),
  (char) => char.charCodeAt(0),
);

/** A valid WAV: 16-bit mono PCM at 8 kHz, `samples` samples of silence. */
export function makeWav(samples = 800): Uint8Array {
  const bytes = new Uint8Array(44 + samples * 2);
  const view = new DataView(bytes.buffer);
  const ascii = (offset: number, text: string) => bytes.set(new TextEncoder().encode(text), offset);
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + samples * 2, true);
  ascii(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, 8000, true);
  view.setUint32(28, 16_000, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, samples * 2, true);
  return bytes;
}

/** A zip of the given entries (deflated), such as a DOCX's parts or a plain archive. */
export function makeZip(entries: Record<string, Uint8Array | string>): Uint8Array {
  return zipSync(
    Object.fromEntries(
      Object.entries(entries).map(([name, data]) => [name, typeof data === 'string' ? new TextEncoder().encode(data) : data]),
    ),
  );
}
