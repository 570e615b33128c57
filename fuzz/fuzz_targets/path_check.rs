//! `path::check_path`. Invariants: no panic; an accepted path starts with `/`, has no
//! empty segment but a trailing one, no raw `\`, `;`, `#`, control, whitespace or
//! non-ASCII byte; and after percent-decoding each segment once *and twice* no segment is
//! `.` or `..`, none holds `/` or `\`, and every segment is UTF-8: no encoding trick turns
//! an accepted path into another path at a backend that decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::path::{check_path, segments};

fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A segment that would change the path's shape at a backend that decodes it. (`;` is
/// refused raw only: an encoded `%3B` is a literal character, see docs/tenants-and-paths.md.)
fn dangerous(seg: &[u8]) -> bool {
    seg == b"."
        || seg == b".."
        || seg.contains(&b'/')
        || seg.contains(&b'\\')
        || seg.iter().any(|b| b.is_ascii_control())
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checked) = check_path(raw) else {
        return;
    };
    let path = checked.path;
    assert!(raw.starts_with(path));
    assert!(path.starts_with('/'));
    assert!(!path.contains("//"), "{raw:?}");
    assert!(
        !path
            .bytes()
            .any(|b| b == b'\\' || b == b';' || b == b'#' || b <= b' ' || b >= 0x7f),
        "{raw:?}"
    );
    let parts: Vec<&str> = path[1..].split('/').collect();
    let n = parts.len();
    for (i, seg) in parts.iter().enumerate() {
        if seg.is_empty() {
            assert_eq!(i + 1, n, "empty segment in {raw:?}");
            continue;
        }
        let once = decode(seg.as_bytes());
        let twice = decode(&once);
        assert!(!dangerous(seg.as_bytes()) && !seg.contains(';'), "{raw:?}");
        assert!(
            !dangerous(&once),
            "segment {seg:?} decodes to {:?}",
            String::from_utf8_lossy(&once)
        );
        assert!(
            !dangerous(&twice),
            "segment {seg:?} double-decodes to {:?}",
            String::from_utf8_lossy(&twice)
        );
        assert!(
            std::str::from_utf8(&once).is_ok(),
            "segment {seg:?} is not utf-8 once decoded"
        );
    }
    assert_eq!(
        segments(path).count(),
        parts.iter().filter(|s| !s.is_empty()).count()
    );
    if let Some(q) = checked.query {
        assert!(
            !q.bytes().any(|b| b == b'#' || b <= b' ' || b >= 0x7f),
            "query {q:?}"
        );
    }
});
