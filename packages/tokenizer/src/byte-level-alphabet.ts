/**
 * GPT-2's reversible byte <-> printable character mapping (openai/gpt-2 encoder.py `bytes_to_unicode`):
 * printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order, so that a
 * byte-level BPE vocabulary is a set of printable strings.
 */

const byteToChar: string[] = new Array<string>(256);
const charToByte = new Map<number, number>();

{
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const cpt = printable(b) ? b : next++;
    byteToChar[b] = String.fromCodePoint(cpt);
    charToByte.set(cpt, b);
  }
}

const utf8 = new TextEncoder();

/** The byte-level spelling of a string: each of its UTF-8 bytes as its GPT-2 character. */
export function byteLevelEncode(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += byteToChar[b]!;
  return out;
}

/** The character standing for one byte. */
export function byteLevelChar(byte: number): string {
  return byteToChar[byte]!;
}

/**
 * Bytes of a byte-level token text. A character outside the alphabet (never found in a real
 * byte-level vocabulary) is written the way llama.cpp's `llama_decode_text` writes it:
 * "[UNK_BYTE_0x<its UTF-8 in hex><the whole token text>]".
 */
export function byteLevelDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const b = charToByte.get(ch.codePointAt(0)!);
    if (b !== undefined) {
      out.push(b);
      continue;
    }
    const hex = Array.from(utf8.encode(ch), (x) => x.toString(16).padStart(2, '0')).join('');
    out.push(...utf8.encode(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return Uint8Array.from(out);
}
