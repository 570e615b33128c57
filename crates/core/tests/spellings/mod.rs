//! Spellings of a JSON key that a case-insensitive client reads as that key, for the
//! property tests of redaction and account checks (`mod spellings;`).

use proptest::prelude::*;

/// The non-ASCII letters case-insensitive clients read as an ASCII letter: LONG S and
/// KELVIN SIGN (Go, .NET, Java), dotless and dotted capital I (.NET, Java).
fn lookalikes(c: char) -> &'static [char] {
    match c.to_ascii_lowercase() {
        's' => &['\u{17F}'],
        'k' => &['\u{212A}'],
        'i' => &['\u{131}', '\u{130}'],
        _ => &[],
    }
}

/// A JSON string token (quotes included) read as `key` by a case-insensitive client:
/// each letter in either ASCII case or as one of its lookalikes, each character written
/// raw or as a `\u` escape with upper- or lower-case hex digits.
pub fn spelling(key: &'static str) -> impl Strategy<Value = String> {
    let n = key.chars().count();
    proptest::collection::vec((0usize..4, 0u8..3), n).prop_map(move |choices| {
        let mut out = String::from("\"");
        for (c, (form, escape)) in key.chars().zip(choices) {
            let c = match (form, lookalikes(c)) {
                (0, _) => c.to_ascii_lowercase(),
                (1, _) => c.to_ascii_uppercase(),
                (i, alike) => alike.get(i - 2).or(alike.first()).copied().unwrap_or(c),
            };
            match escape {
                0 => out.push(c),
                1 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
                _ => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            }
        }
        out.push('"');
        out
    })
}
