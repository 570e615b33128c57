//! The byte-level scanner: whitespace, strings, numbers, literals, and a validating skip of
//! whole values. It never allocates except for decoding escaped strings and the small stack
//! of a skipped value, and never indexes out of bounds (every read goes through `get`).

use super::JsonError;
use std::borrow::Cow;

/// Bytes that end the fast part of a string scan: `"`, `\` and control characters.
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `0x01` in every byte of a word.
const LO: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte of a word.
const HI: u64 = 0x8080_8080_8080_8080;

/// Flags (bit 7 of the byte) the bytes of `x` that end a string run. Each term flags its
/// lowest matching byte exactly (borrows only propagate upwards), so the lowest flag of
/// the union is exact; higher flags may be spurious and are never used.
#[inline(always)]
fn stop_mask(x: u64) -> u64 {
    let quote = x ^ (LO * u64::from(b'"'));
    let backslash = x ^ (LO * u64::from(b'\\'));
    let quote = quote.wrapping_sub(LO) & !quote;
    let backslash = backslash.wrapping_sub(LO) & !backslash;
    let control = x.wrapping_sub(LO * 0x20) & !x;
    (quote | backslash | control) & HI
}

/// Offset of the first `"`, `\` or control character in `bytes`, eight bytes at a time.
#[inline(always)]
fn find_stop(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let mask = stop_mask(u64::from_le_bytes(word));
        if mask != 0 {
            return Some(offset + (mask.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&b| STRING_STOP[usize::from(b)])
        .map(|p| offset + p)
}

/// Shorthand for a grammar error.
pub(super) fn syntax(offset: usize, reason: &'static str) -> JsonError {
    JsonError::Syntax { offset, reason }
}

/// A read position in a UTF-8-validated input.
pub(super) struct Cursor<'a> {
    /// The whole input, already checked to be UTF-8.
    pub text: &'a str,
    /// The same input as bytes.
    pub bytes: &'a [u8],
    /// The next byte to read.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `input`, after checking that it is UTF-8.
    pub fn new(input: &'a [u8]) -> Result<Self, JsonError> {
        let text = std::str::from_utf8(input).map_err(|e| JsonError::Utf8 {
            offset: e.valid_up_to(),
        })?;
        Ok(Cursor {
            text,
            bytes: input,
            pos: 0,
        })
    }

    /// The byte at the read position, if any.
    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Moves past JSON whitespace (space, tab, line feed, carriage return).
    #[inline(always)]
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte` or fails with `reason`.
    #[inline(always)]
    pub fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(syntax(self.pos, reason))
        }
    }

    /// Scans a string starting at the opening quote; returns whether it has escapes.
    /// Afterwards the position is just past the closing quote. The common case (no escape
    /// before the closing quote) is one word-at-a-time search, inlined.
    #[inline(always)]
    pub fn string(&mut self) -> Result<bool, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(syntax(self.pos, "expected a string"));
        }
        self.pos += 1;
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if let Some(run) = find_stop(rest) {
            if rest.get(run) == Some(&b'"') {
                self.pos += run + 1;
                return Ok(false);
            }
        }
        self.string_rest()
    }

    /// The rest of a string after its opening quote, escapes included.
    #[inline(never)]
    fn string_rest(&mut self) -> Result<bool, JsonError> {
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let run =
                find_stop(rest).ok_or_else(|| syntax(self.bytes.len(), "unterminated string"))?;
            self.pos += run;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return Err(syntax(self.pos, "control character in string")),
            }
        }
    }

    /// Validates one escape sequence at the backslash, including surrogate pairing.
    fn escape(&mut self) -> Result<(), JsonError> {
        let at = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                if (0xDC00..0xE000).contains(&unit) {
                    return Err(syntax(at, "lone surrogate escape"));
                }
                if (0xD800..0xDC00).contains(&unit) {
                    let low = (self.peek() == Some(b'\\')
                        && self.bytes.get(self.pos + 1) == Some(&b'u'))
                    .then(|| {
                        self.pos += 2;
                        self.hex4()
                    })
                    .transpose()?;
                    if !low.is_some_and(|l| (0xDC00..0xE000).contains(&l)) {
                        return Err(syntax(at, "lone surrogate escape"));
                    }
                }
                Ok(())
            }
            _ => Err(syntax(at, "invalid escape")),
        }
    }

    /// Reads four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| syntax(self.pos, "invalid unicode escape"))?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Ok(value)
    }

    /// Scans a number (RFC 8259 grammar: no leading zeros, no `+`, digits after `.`/`e`).
    pub fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(syntax(self.pos, "invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), JsonError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(syntax(self.pos, "invalid number"));
        }
        self.digits();
        Ok(())
    }

    /// Consumes the literal `word` (`true`, `false`, `null`).
    pub fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(syntax(self.pos, "invalid literal"))
        }
    }

    /// Scans one scalar at the read position; returns its kind.
    #[inline]
    pub fn scalar(&mut self) -> Result<super::ScalarKind, JsonError> {
        use super::ScalarKind;
        match self.peek() {
            Some(b'"') => self.string().map(|_| ScalarKind::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| ScalarKind::Number),
            Some(b't') => self.literal(b"true").map(|()| ScalarKind::Bool),
            Some(b'f') => self.literal(b"false").map(|()| ScalarKind::Bool),
            Some(b'n') => self.literal(b"null").map(|()| ScalarKind::Null),
            None => Err(syntax(self.pos, "unexpected end of input")),
            Some(_) => Err(syntax(self.pos, "expected a value")),
        }
    }

    /// Skips one complete value, validating it. `depth` is the nesting depth of the value's
    /// container; `stack` is scratch space (cleared here) for the skipped value's brackets.
    pub fn skip_value(
        &mut self,
        depth: usize,
        limit: usize,
        stack: &mut Vec<u8>,
    ) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'{' | b'[') => {}
            Some(b'"') => return self.string().map(|_| ()),
            _ => return self.scalar().map(|_| ()),
        }
        stack.clear();
        loop {
            // A value is expected at the read position.
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth + stack.len() >= limit {
                        return Err(JsonError::TooDeep {
                            offset: self.pos,
                            limit,
                        });
                    }
                    self.pos += 1;
                    self.skip_ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        stack.push(close);
                        if close == b'}' {
                            self.member_key_and_colon()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                _ => {
                    self.scalar()?;
                }
            }
            // A value just ended: find the next one or close containers.
            loop {
                let Some(&close) = stack.last() else {
                    return Ok(());
                };
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                        if close == b'}' {
                            self.member_key_and_colon()?;
                        }
                        break;
                    }
                    Some(b) if b == close => {
                        self.pos += 1;
                        stack.pop();
                    }
                    _ => return Err(syntax(self.pos, after_value_reason(close))),
                }
            }
        }
    }

    /// Skips a member's key, the colon and the whitespace before the value.
    fn member_key_and_colon(&mut self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(syntax(self.pos, "expected a member name"));
        }
        self.string()?;
        self.skip_ws();
        self.expect(b':', "expected `:`")?;
        self.skip_ws();
        Ok(())
    }
}

/// The error phrase for a bad byte after a value inside a container closed by `close`.
pub(super) fn after_value_reason(close: u8) -> &'static str {
    if close == b'}' {
        "expected `,` or `}`"
    } else {
        "expected `,` or `]`"
    }
}

/// Decodes the content of a string token (`raw` includes the quotes). Only called on
/// tokens the scanner accepted, so escapes are well formed; a malformed one decodes to
/// U+FFFD rather than failing.
pub(super) fn decode(raw: &str) -> Cow<'_, str> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let high = hex_unit(&mut chars);
                let code = if (0xD800..0xDC00).contains(&high) {
                    chars.next();
                    chars.next();
                    let low = hex_unit(&mut chars);
                    0x10000 + ((high - 0xD800) << 10) + low.wrapping_sub(0xDC00)
                } else {
                    high
                };
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Reads four hex digits from `chars` (missing or bad digits count as zero).
fn hex_unit(chars: &mut std::str::Chars<'_>) -> u32 {
    (0..4).fold(0, |acc, _| {
        acc * 16 + chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
    })
}
