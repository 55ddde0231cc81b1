// Reads what an executable is from its headers: ELF (Linux) or Mach-O (macOS), its CPU, its
// dynamic loader (glibc or musl), whether Bun's payload section is there and, on Mach-O, whether
// it carries a code signature (Apple Silicon refuses to run a binary without one). Only the
// 64-bit little-endian forms Parley ships are understood; anything else is `unknown`.

export type ExecutableFormat =
  | { kind: 'elf'; arch: 'x64' | 'arm64' | 'other'; interpreter: string | null; libc: 'glibc' | 'musl' | 'other'; sections: string[] }
  | { kind: 'mach-o'; arch: 'x64' | 'arm64' | 'other'; executable: boolean; segments: string[]; codeSignature: boolean }
  | { kind: 'unknown' };

const cString = (bytes: Uint8Array, start: number, end: number) => {
  const zero = bytes.indexOf(0, start);
  return new TextDecoder().decode(bytes.subarray(start, zero >= 0 && zero < end ? zero : end));
};

type Read = (offset: number, length: number) => Promise<Uint8Array>;
const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

async function readElf(read: Read): Promise<ExecutableFormat> {
  const header = await read(0, 64);
  const view = viewOf(header);
  if (header[4] !== 2 || header[5] !== 1) return { kind: 'unknown' }; // 64-bit, little-endian
  const machine = view.getUint16(18, true);
  const arch = machine === 0x3e ? 'x64' : machine === 0xb7 ? 'arm64' : 'other';
  const phoff = Number(view.getBigUint64(32, true));
  const shoff = Number(view.getBigUint64(40, true));
  const [phentsize, phnum, shentsize, shnum, shstrndx] = [54, 56, 58, 60, 62].map((at) => view.getUint16(at, true)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  let interpreter: string | null = null;
  const programHeaders = viewOf(await read(phoff, phnum * phentsize));
  for (let at = 0; at < phnum * phentsize; at += phentsize) {
    if (programHeaders.getUint32(at, true) !== 3) continue; // PT_INTERP
    const size = Number(programHeaders.getBigUint64(at + 32, true));
    interpreter = cString(await read(Number(programHeaders.getBigUint64(at + 8, true)), size), 0, size);
  }
  const sectionHeaders = viewOf(await read(shoff, shnum * shentsize));
  const namesAt = shstrndx * shentsize;
  const names = await read(
    Number(sectionHeaders.getBigUint64(namesAt + 24, true)),
    Number(sectionHeaders.getBigUint64(namesAt + 32, true)),
  );
  const sections: string[] = [];
  for (let at = 0; at < shnum * shentsize; at += shentsize) sections.push(cString(names, sectionHeaders.getUint32(at, true), names.length));
  const libc =
    interpreter === null ? 'other' : interpreter.includes('ld-musl') ? 'musl' : interpreter.includes('ld-linux') ? 'glibc' : 'other';
  return { kind: 'elf', arch, interpreter, libc, sections };
}

async function readMachO(read: Read): Promise<ExecutableFormat> {
  // The load commands follow the 32-byte header; sizeofcmds says how far they go.
  const bytes = await read(0, 32 + viewOf(await read(0, 32)).getUint32(20, true));
  const view = viewOf(bytes);
  const cpu = view.getUint32(4, true);
  const arch = cpu === 0x01000007 ? 'x64' : cpu === 0x0100000c ? 'arm64' : 'other';
  const executable = view.getUint32(12, true) === 2; // MH_EXECUTE
  const count = view.getUint32(16, true);
  const segments: string[] = [];
  let codeSignature = false;
  let at = 32;
  for (let i = 0; i < count; i++) {
    const command = view.getUint32(at, true);
    if (command === 0x19) segments.push(cString(bytes, at + 8, at + 24)); // LC_SEGMENT_64
    if (command === 0x1d) codeSignature = true; // LC_CODE_SIGNATURE
    at += view.getUint32(at + 4, true);
  }
  return { kind: 'mach-o', arch, executable, segments, codeSignature };
}

/** The format of the executable at `path`, from its headers (only they are read). */
export async function readExecutableFormat(path: string): Promise<ExecutableFormat> {
  const file = Bun.file(path);
  const read: Read = async (offset, length) => new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
  const magic = await read(0, 4);
  if (magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46) return readElf(read);
  if (magic[0] === 0xcf && magic[1] === 0xfa && magic[2] === 0xed && magic[3] === 0xfe) return readMachO(read); // MH_MAGIC_64, little-endian
  return { kind: 'unknown' };
}
