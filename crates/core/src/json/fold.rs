//! Key case folding: object keys are compared with configured path keys up to case.
//!
//! Many clients bind JSON keys to their fields case-insensitively: Go's `encoding/json` by
//! default (Unicode simple case folding, `bytes.EqualFold`), .NET with
//! `PropertyNameCaseInsensitive` (`OrdinalIgnoreCase`), Jackson with
//! `ACCEPT_CASE_INSENSITIVE_PROPERTIES`, Java's `equalsIgnoreCase`. For them `Mother` *is*
//! `mother`, so a rule about a key must hold for every key such a client reads as it. The
//! automaton ([`super::dfa`]) therefore stores its path keys folded ([`fold`]) and folds
//! each decoded object key before the lookup ([`lookup_form`], allocation-free unless the
//! key holds a non-ASCII character that changes under folding).
//!
//! Folding a character: ASCII letters to lower case; the code points of [`SPECIAL`] to
//! their ASCII letters; any other character `c` to `lower(upper(lower(c)))` with Unicode's
//! (full) case mappings, which puts every member of a case orbit (`σ`, `ς`, `Σ`; `µ`, `μ`,
//! `Μ`; `ß`, `ẞ`, `ss`) on one spelling. Folding never makes two keys that such a client
//! tells apart differ here; it may merge a few that a strict client tells apart (`ß` and
//! `ss`), which only makes the gateway hide or check more.

use std::borrow::Cow;
use std::cmp::Ordering;

/// Every non-ASCII code point whose folding consists of ASCII letters only, with that
/// folding (Unicode 14 `UnicodeData.txt`, `CaseFolding.txt` and `SpecialCasing.txt`).
/// These are the spellings of ASCII keys that case-insensitive clients accept:
///
/// - U+0130 `İ` -> `i`: its simple lower-case mapping (Java `equalsIgnoreCase`, Jackson in
///   a Turkish locale). Listed for correctness, not only speed: the full lower-case
///   mapping is `i` + U+0307, so the generic rule would not give `i`.
/// - U+0131 `ı` -> `i`: simple upper case `I` (.NET `OrdinalIgnoreCase`, Java).
/// - U+017F `ſ` -> `s`: simple case folding (Go `EqualFold`, .NET, Java).
/// - U+212A `K` (KELVIN SIGN) -> `k`: simple case folding (Go, Java, Jackson).
/// - U+00DF `ß`, U+1E9E `ẞ` -> `ss`; U+FB00..U+FB06 `ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ` -> `ff fi fl ffi ffl st
///   st`: full case folding (Python's `str.casefold`, comparisons through JavaScript's
///   `toUpperCase`).
///
/// No other code point qualifies (a unit test checks the whole range): U+212B ANGSTROM
/// SIGN folds to `å`, U+00B5 MICRO SIGN to `μ`, fullwidth letters to fullwidth letters.
pub(crate) const SPECIAL: &[(char, &str)] = &[
    ('\u{00DF}', "ss"),
    ('\u{0130}', "i"),
    ('\u{0131}', "i"),
    ('\u{017F}', "s"),
    ('\u{1E9E}', "ss"),
    ('\u{212A}', "k"),
    ('\u{FB00}', "ff"),
    ('\u{FB01}', "fi"),
    ('\u{FB02}', "fl"),
    ('\u{FB03}', "ffi"),
    ('\u{FB04}', "ffl"),
    ('\u{FB05}', "st"),
    ('\u{FB06}', "st"),
];

/// The explicit folding of `c`, if it is one of [`SPECIAL`].
fn special(c: char) -> Option<&'static str> {
    SPECIAL.iter().find(|(from, _)| *from == c).map(|e| e.1)
}

/// The generic folding of a non-ASCII character: `lower(upper(lower(c)))`.
fn generic(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
}

/// Appends the folding of `c` to `out`.
fn push_folded(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if let Some(to) = special(c) {
        out.push_str(to);
    } else {
        out.extend(generic(c));
    }
}

/// Whether the non-ASCII character `c` folds to itself.
fn is_folded(c: char) -> bool {
    if special(c).is_some() {
        return false;
    }
    let mut folded = generic(c);
    folded.next() == Some(c) && folded.next().is_none()
}

/// `key` folded: the spelling every case variant of it shares (`ContractOwner`,
/// `CONTRACTOWNER` and `contractOwner` all give `contractowner`; `uſer` gives `user`).
/// Two keys match the same path key exactly when their foldings are equal. Used for
/// configured path keys when the automaton is built; public so that callers and tests
/// can compare keys the way the gateway does.
pub fn fold(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        push_folded(c, &mut out);
    }
    out
}

/// `key` ready to be compared with folded path keys by [`cmp_folded`]: borrowed as it is
/// when folding would only lower ASCII letters (which [`cmp_folded`] does on the fly; the
/// common case, checked without allocating), folded into a new string otherwise.
#[inline]
pub(crate) fn lookup_form(key: &str) -> Cow<'_, str> {
    if key.is_ascii() || key.chars().all(|c| c.is_ascii() || is_folded(c)) {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(fold(key))
    }
}

/// Compares the folded path key `folded` with `key` (a [`lookup_form`]) as if `key` were
/// folded: byte order of the folded spellings, so sorted path keys can be searched.
#[inline]
pub(crate) fn cmp_folded(folded: &str, key: &str) -> Ordering {
    folded
        .bytes()
        .cmp(key.bytes().map(|b| b.to_ascii_lowercase()))
}

/// Whether the folded path key `folded` equals `key` (a [`lookup_form`]) folded.
#[inline]
pub(crate) fn eq_folded(folded: &str, key: &str) -> bool {
    folded.len() == key.len()
        && folded
            .bytes()
            .zip(key.bytes())
            .all(|(a, b)| a == b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folds_like(a: &str, b: &str) -> bool {
        let a = lookup_form(a);
        eq_folded(&fold(b), &a) && cmp_folded(&fold(b), &a) == Ordering::Equal
    }

    #[test]
    fn ascii_case_is_folded() {
        assert_eq!(fold("ContractOwner"), "contractowner");
        assert!(folds_like("MOTHER", "mother"));
        assert!(folds_like("cPf", "CPF"));
        assert!(!folds_like("mothers", "mother"));
    }

    #[test]
    fn non_ascii_lookalikes_fold_onto_ascii_letters() {
        assert!(folds_like("u\u{17F}er", "user"));
        assert!(folds_like("\u{212A}ey", "key"));
        assert!(folds_like("\u{131}d", "ID"));
        assert!(folds_like("\u{130}D", "id"));
        assert!(folds_like("stra\u{DF}e", "STRASSE"));
        assert!(folds_like("\u{FB01}eld", "field"));
    }

    #[test]
    fn non_ascii_case_is_folded() {
        assert!(folds_like("M\u{C3}E", "m\u{E3}e"));
        assert!(folds_like("\u{3A3}\u{3C2}", "\u{3C3}\u{3C3}"));
        assert!(!folds_like("\u{212B}", "a"));
        assert!(!folds_like("m\u{E3}e", "mae"));
    }

    #[test]
    fn keys_that_need_no_folding_are_borrowed() {
        assert!(matches!(lookup_form("contractOwner"), Cow::Borrowed(_)));
        assert!(matches!(lookup_form("Usu\u{E1}rio"), Cow::Borrowed(_)));
        assert!(matches!(lookup_form("M\u{C3}E"), Cow::Owned(_)));
        assert!(matches!(lookup_form("u\u{17F}er"), Cow::Owned(_)));
    }

    #[test]
    fn folding_is_idempotent_for_every_code_point() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let once = fold(c.encode_utf8(&mut [0; 4]));
            assert_eq!(fold(&once), once, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn single_character_case_mappings_fold_alike() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let folded = fold(c.encode_utf8(&mut [0; 4]));
            for mapped in [
                c.to_uppercase().collect::<String>(),
                c.to_lowercase().collect(),
            ] {
                if mapped.chars().count() == 1 {
                    assert_eq!(fold(&mapped), folded, "U+{:04X}", u32::from(c));
                }
            }
        }
    }

    #[test]
    fn special_lists_exactly_the_code_points_that_fold_onto_ascii_letters() {
        let onto_ascii: Vec<char> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| {
                let folded = fold(c.encode_utf8(&mut [0; 4]));
                folded.bytes().all(|b| b.is_ascii_alphabetic())
            })
            .collect();
        let listed: Vec<char> = SPECIAL.iter().map(|e| e.0).collect();
        assert_eq!(onto_ascii, listed);
        // Apart from U+0130 (whose full lower-case mapping adds U+0307), the explicit
        // entries are what the generic rule gives: the table changes nothing but speed.
        for &(c, to) in SPECIAL.iter().filter(|e| e.0 != '\u{130}') {
            assert_eq!(generic(c).collect::<String>(), to, "U+{:04X}", u32::from(c));
        }
    }
}
