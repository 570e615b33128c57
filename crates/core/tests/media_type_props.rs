#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the media-type reader (`media_type::parse`) and of the checked-route
//! content-type rule built on it (`flow::content_type::check_json_utf8`): no panics on
//! any input, every RFC 9110 spelling read back as written, and no charset but UTF-8
//! ever accepted.

use portcullis_core::flow::content_type::check_json_utf8;
use portcullis_core::media_type::{parse, Parameter};
use proptest::prelude::*;

const TCHARS: &str = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}";

fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// A parameter value: (as written, unescaped).
fn value() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        TCHARS.prop_map(|t| (t.clone(), t)),
        proptest::collection::vec(
            prop_oneof![
                "[ !#-\\[\\]-~]".prop_map(|c| (c.clone(), c)),
                "[\"\\\\]".prop_map(|c| (format!("\\{c}"), c)),
                "[a-z]".prop_map(|c| (format!("\\{c}"), c)),
            ],
            0..6
        )
        .prop_map(|parts| {
            let raw: String = parts.iter().map(|(r, _)| r.as_str()).collect();
            let value: String = parts.iter().map(|(_, v)| v.as_str()).collect();
            (format!("\"{raw}\""), value)
        }),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,40}") {
        let _ = parse(&text);
        let _ = check_json_utf8(&[("content-type".into(), text)]);
    }

    #[test]
    fn every_well_formed_media_type_is_read_back(
        kind in TCHARS, subtype in TCHARS,
        params in proptest::collection::vec((TCHARS, value(), ows(), ows()), 0..4),
        lead in ows(), trail in ows(),
    ) {
        let mut text = format!("{lead}{kind}/{subtype}");
        for (name, (raw, _), before, after) in &params {
            text.push_str(&format!("{before};{after}{name}={raw}"));
        }
        text.push_str(&trail);
        let media = parse(&text).unwrap();
        prop_assert_eq!(media.kind, kind.to_ascii_lowercase());
        prop_assert_eq!(media.subtype, subtype.to_ascii_lowercase());
        let expected: Vec<Parameter> = params
            .iter()
            .map(|(name, (raw, value), _, _)| Parameter {
                name: name.to_ascii_lowercase(),
                value: value.clone(),
                raw: raw.clone(),
            })
            .collect();
        prop_assert_eq!(media.parameters, expected);
    }

    #[test]
    fn whitespace_around_equals_is_never_read(
        name in TCHARS, (raw, _) in value(), before in "[ \t]{0,2}", after in "[ \t]{0,2}",
    ) {
        prop_assume!(!before.is_empty() || !after.is_empty());
        let text = format!("application/json; {name}{before}={after}{raw}");
        prop_assert!(parse(&text).is_err());
    }

    #[test]
    fn only_utf8_is_ever_accepted_as_a_charset(
        prefix in "application/([a-z]{1,5}\\+)?json(; [a-z]{1,4}=[a-z0-9]{1,4}){0,2}",
        (raw, value) in value(),
    ) {
        prop_assume!(!prefix.contains("charset"));
        let text = format!("{prefix}; charset={raw}");
        let accepted = check_json_utf8(&[("content-type".into(), text)]).is_ok();
        let utf8 = value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8");
        prop_assert!(!accepted || utf8, "accepted charset {:?}", value);
    }
}
