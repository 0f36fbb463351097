//! The GPT-2 byte↔unicode map of byte-level BPE.
//!
//! Byte-level BPE vocabularies (GPT-2, SmolLM2, Llama 3, Qwen, …) store each
//! token as a string in which every *byte* is written as one printable
//! character: the printable bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` stand for
//! themselves and the other 68 bytes are moved, in order, to U+0100 and up
//! (so a space is `Ġ` U+0120 and a newline `Ċ` U+010A). Reversing the map
//! recovers the token's raw bytes (design.md §2, "Tokens are bytes").

/// Whether byte `b` is written as the character with the same code point.
fn is_printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// The character byte-level BPE writes for each byte (the forward map, used
/// by tests to check the inverse).
#[cfg(test)]
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_moved = 256u32;
    for b in 0..=255u8 {
        let code = if is_printable(b) {
            u32::from(b)
        } else {
            let code = next_moved;
            next_moved += 1;
            code
        };
        // Every code is below 256 + 68, far from the surrogate range.
        table[usize::from(b)] = char::from_u32(code).unwrap_or('\0');
    }
    table
}

/// The byte a byte-level character stands for, or `None` if `ch` is not in
/// the alphabet: the plain definition, kept as the oracle for the table below.
#[cfg(test)]
pub(crate) fn char_to_byte(ch: char) -> Option<u8> {
    let code = u32::from(ch);
    if code < 256 {
        let b = code as u8;
        return is_printable(b).then_some(b);
    }
    // The moved bytes, in increasing order, took 256, 257, … .
    let rank = code - 256;
    (0..=255u8).filter(|&b| !is_printable(b)).nth(rank as usize)
}

/// Decodes a byte-level token string to its bytes; on failure returns the
/// first character outside the alphabet.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, char> {
    let mut bytes = Vec::with_capacity(text.len());
    for ch in text.chars() {
        bytes.push(fast_char_to_byte(ch).ok_or(ch)?);
    }
    Ok(bytes)
}

/// [`char_to_byte`] through a table built once: vocabularies decode a few
/// hundred thousand characters.
fn fast_char_to_byte(ch: char) -> Option<u8> {
    use std::sync::OnceLock;
    static MOVED: OnceLock<[u8; 68]> = OnceLock::new();
    let code = u32::from(ch);
    if code < 256 {
        let b = code as u8;
        return is_printable(b).then_some(b);
    }
    let moved = MOVED.get_or_init(|| {
        let mut moved = [0u8; 68];
        for (slot, b) in moved.iter_mut().zip((0..=255u8).filter(|&b| !is_printable(b))) {
            *slot = b;
        }
        moved
    });
    moved.get((code - 256) as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_characters() {
        let table = byte_to_char_table();
        assert_eq!(table[usize::from(b' ')], 'Ġ');
        assert_eq!(table[usize::from(b'\n')], 'Ċ');
        assert_eq!(table[usize::from(b'\t')], 'ĉ');
        assert_eq!(table[0], 'Ā');
        assert_eq!(table[usize::from(b'a')], 'a');
        assert_eq!(table[0xAD], 'Ń', "soft hyphen is moved");
        assert_eq!(decode("Ġthe"), Ok(b" the".to_vec()));
        assert_eq!(decode("ĊĊ"), Ok(b"\n\n".to_vec()));
        // "é" as UTF-8 is C3 A9, written Ã©.
        assert_eq!(decode("Ã©"), Ok("é".as_bytes().to_vec()));
        assert_eq!(decode("a▁b"), Err('▁'));
    }

    #[test]
    fn map_is_a_bijection() {
        let table = byte_to_char_table();
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let ch = table[usize::from(b)];
            assert!(seen.insert(ch), "{ch:?} used twice");
            assert_eq!(char_to_byte(ch), Some(b));
            assert_eq!(fast_char_to_byte(ch), Some(b));
        }
        assert_eq!(char_to_byte(' '), None);
        assert_eq!(char_to_byte(char::from_u32(256 + 68).unwrap_or('\0')), None);
        assert_eq!(fast_char_to_byte('\u{0144}'), None);
        assert_eq!(fast_char_to_byte('中'), None);
    }
}
