// Text clean-up that transformers' slow CLIPTokenizer runs before its regex when ftfy is absent.
//
// CLIPTokenizer (transformers 4.38, tokenization_clip.py) falls back to
// `BasicTokenizer(strip_accents=False, do_split_on_punc=False)` from tokenization_bert.py, keeping
// the defaults do_lower_case=True, tokenize_chinese_chars=True and an empty never_split. In order:
//   1. _clean_text: drop U+0000, U+FFFD and every category-C character except \t \n \r; turn
//      \t \n \r, ' ' and category Zs into ' ';
//   2. _tokenize_chinese_chars: put spaces around CJK ideographs (the block list below);
//   3. NFC;
//   4. split on whitespace (str.split()), lower-case each piece (str.lower(), accents kept);
//   5. no punctuation split; join the pieces with one space.
// Written by hand because no library runs this exact sequence. The fast CLIP tokenizer.json skips
// steps 1 and 2 altogether. @huggingface/tokenizers 0.2.0's BertNormalizer (clean_text,
// handle_chinese_chars, strip_accents: false, lowercase) plus NFC comes close but, tested, keeps
// unassigned code points (it checks Cc/Cf/Co/Cs, Python checks every C*) and leaves CJK Extension
// B–F ideographs (U+20000 and up) unspaced, because it walks UTF-16 code units.

/** CJK Unified Ideographs blocks as BasicTokenizer._is_chinese_char lists them (not kana, not hangul). */
function isCjkIdeograph(codePoint: number): boolean {
  return (
    (codePoint >= 0x4e00 && codePoint <= 0x9fff) ||
    (codePoint >= 0x3400 && codePoint <= 0x4dbf) ||
    (codePoint >= 0x20000 && codePoint <= 0x2a6df) ||
    (codePoint >= 0x2a700 && codePoint <= 0x2b73f) ||
    (codePoint >= 0x2b740 && codePoint <= 0x2b81f) ||
    (codePoint >= 0x2b820 && codePoint <= 0x2ceaf) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0x2f800 && codePoint <= 0x2fa1f)
  );
}

const spaceSeparator = /^\p{Zs}$/u;
// Category C (Cc, Cf, Cs, Co, Cn): control, format (ZWJ, ZWSP, BOM, tag characters), lone surrogates,
// private use and unassigned. Python decides "unassigned" by its own Unicode version, so a character
// newer than the reference's Python (an emoji added in Unicode 14 under Python 3.10) is kept here but
// dropped there; nothing short of pinning a Unicode table fixes that, and prompts rarely hit it.
const otherCategory = /^\p{C}$/u;

/**
 * The text as BasicTokenizer.tokenize returns it, joined with single spaces: cleaned, CJK ideographs
 * spaced out, NFC, lower-cased, whitespace folded and trimmed.
 */
export function basicTokenize(text: string): string {
  let cleaned = '';
  for (const character of text) {
    const codePoint = character.codePointAt(0)!;
    // Whitespace first: \t \n \r are category Cc yet count as spaces, not as control characters.
    if (character === ' ' || character === '\t' || character === '\n' || character === '\r' || spaceSeparator.test(character)) {
      cleaned += ' ';
    } else if (codePoint === 0 || codePoint === 0xfffd || otherCategory.test(character)) {
      continue;
    } else if (isCjkIdeograph(codePoint)) {
      cleaned += ` ${character} `;
    } else {
      cleaned += character;
    }
  }
  // After clean-up the only whitespace left is ' ' and U+2028/U+2029, which Python's split() also splits on.
  const words = cleaned.normalize('NFC').split(/\s+/u).filter((word) => word.length > 0);
  return words.map((word) => word.toLowerCase()).join(' ');
}
