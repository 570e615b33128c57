//! The one check every header value the filters write goes through (issue 18).
//!
//! Gateways write a filter's header values as given: Envoy puts a local reply's headers
//! on the wire unchecked, so a CR or LF in a value ends the header line and starts a new
//! one (response splitting: a client that sets `Set-Cookie`), and an upstream header with
//! CR/LF, NUL or bytes a backend decodes in its own way becomes a header the backend
//! reads differently from the gateway. So a value the filters write must be visible ASCII
//! (0x21-0x7E), with SP or HTAB only between visible characters; anything else (CR, LF,
//! NUL, other controls, DEL, every byte >= 0x80, leading or trailing whitespace) is
//! refused, never cleaned up: a cleaned-up value is one the token did not say.
//!
//! The wasm adapter (`portcullis-proxy`) and the native [`crate::flow::mock::MockHost`]
//! both refuse an unsafe value as a host error (which every flow turns into a deny);
//! flows that write values derived from a token check them first with [`check`] and deny
//! with their own reason.

use std::fmt;

/// Why a header value was refused: which byte, where. Names no part of the value beyond
/// the offending byte's position and class, so it is safe in any log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeHeaderValue {
    /// A byte that is not visible ASCII, SP or HTAB (CR, LF, NUL, controls, DEL, >= 0x80).
    Byte {
        /// Offset of the byte in the value.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// SP or HTAB at the start or the end of the value.
    EdgeWhitespace {
        /// Offset of the whitespace byte.
        at: usize,
    },
}

impl fmt::Display for UnsafeHeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeHeaderValue::Byte { at, byte } => {
                write!(f, "header value has byte 0x{byte:02x} at offset {at}")
            }
            UnsafeHeaderValue::EdgeWhitespace { at } => {
                write!(
                    f,
                    "header value has leading or trailing whitespace at offset {at}"
                )
            }
        }
    }
}

impl std::error::Error for UnsafeHeaderValue {}

/// Whether `byte` may appear anywhere in a header value the filters write.
fn visible(byte: u8) -> bool {
    (0x21..=0x7E).contains(&byte)
}

/// Checks that `value` is safe to write as a header value: visible ASCII, SP/HTAB only
/// between visible characters. The empty value is safe (it holds no byte at all).
pub fn check(value: &str) -> Result<(), UnsafeHeaderValue> {
    let bytes = value.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        if byte == b' ' || byte == b'\t' {
            if at == 0 || at + 1 == bytes.len() {
                return Err(UnsafeHeaderValue::EdgeWhitespace { at });
            }
        } else if !visible(byte) {
            return Err(UnsafeHeaderValue::Byte { at, byte });
        }
    }
    Ok(())
}

/// [`check`] as a yes/no answer.
pub fn is_safe(value: &str) -> bool {
    check(value).is_ok()
}

/// Checks every value of a header list (a local reply's headers), naming the first
/// unsafe one's header.
pub fn check_all(headers: &[(String, String)]) -> Result<(), (String, UnsafeHeaderValue)> {
    headers
        .iter()
        .try_for_each(|(name, value)| check(value).map_err(|e| (name.clone(), e)))
}

/// The local reply sent instead of one whose headers are unsafe: a fixed 500 that echoes
/// nothing (status, headers, body).
pub fn refusal_reply() -> (u16, Vec<(String, String)>, Vec<u8>) {
    (
        500,
        vec![("content-type".to_string(), "application/json".to_string())],
        br#"{"error":"response_header_invalid","message":"internal error","status":500}"#.to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_with_inner_spaces_and_tabs_is_safe() {
        for value in [
            "",
            "u1",
            "demostore,qa",
            "Bearer error=\"x\"",
            "a b\tc",
            "~!",
        ] {
            assert_eq!(check(value), Ok(()), "{value:?}");
        }
    }

    #[test]
    fn cr_lf_and_nul_are_refused_where_they_are() {
        assert_eq!(
            check("a\r\nSet-Cookie: x"),
            Err(UnsafeHeaderValue::Byte { at: 1, byte: b'\r' })
        );
        assert_eq!(
            check("a\nb"),
            Err(UnsafeHeaderValue::Byte { at: 1, byte: b'\n' })
        );
        assert_eq!(check("\0"), Err(UnsafeHeaderValue::Byte { at: 0, byte: 0 }));
    }

    #[test]
    fn every_control_byte_and_del_are_refused() {
        for byte in (0u8..0x20).filter(|b| *b != b'\t').chain([0x7F]) {
            let value = format!("a{}b", char::from(byte));
            assert!(!is_safe(&value), "0x{byte:02x}");
        }
    }

    #[test]
    fn non_ascii_is_refused_at_its_first_byte() {
        assert_eq!(
            check("d\u{e9}mo"),
            Err(UnsafeHeaderValue::Byte { at: 1, byte: 0xC3 })
        );
        assert!(!is_safe("x\u{2028}y"));
        assert!(!is_safe("\u{feff}u1"));
    }

    #[test]
    fn leading_or_trailing_space_or_tab_is_refused() {
        for value in [" u1", "u1 ", "\tu1", "u1\t", " "] {
            assert!(
                matches!(check(value), Err(UnsafeHeaderValue::EdgeWhitespace { .. })),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_header_list_names_its_first_unsafe_header() {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("www-authenticate".to_string(), "Bearer\r\nx: 1".to_string()),
        ];
        assert_eq!(
            check_all(&headers).map_err(|e| e.0),
            Err("www-authenticate".into())
        );
    }

    #[test]
    fn the_refusal_reply_is_itself_safe_and_fixed() {
        let (status, headers, body) = refusal_reply();
        assert_eq!(status, 500);
        assert_eq!(check_all(&headers), Ok(()));
        assert!(body.iter().all(|b| visible(*b) || *b == b' '));
    }
}
