#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The one header-value check, against its definition: visible ASCII, SP/HTAB only
//! between visible characters, for every string.
use portcullis_core::header_value::{check, is_safe};
use proptest::prelude::*;

fn by_definition(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        0x21..=0x7E => true,
        b' ' | b'\t' => i > 0 && i + 1 < bytes.len(),
        _ => false,
    })
}

proptest! {
    #[test]
    fn the_check_is_its_definition(value in any::<String>()) {
        prop_assert_eq!(is_safe(&value), by_definition(&value));
    }

    #[test]
    fn a_safe_value_never_ends_a_header_line(value in "[\\x00-\\x7f]{0,16}") {
        if check(&value).is_ok() {
            prop_assert!(!value.contains(['\r', '\n', '\0']));
        }
    }
}
