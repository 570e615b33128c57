//! JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters): `<testsuites>`, one
//! `<testsuite>` per case file, one `<testcase>` per case, a `<failure>` naming what
//! differed. Written by hand rather than with an XML crate: it is five elements and their
//! attributes, and the one thing to get right is escaping, done here for text and
//! attributes (`&`, `<`, `>`, quotes; line breaks and tabs as character references in
//! attributes), with characters XML 1.0 cannot carry at all replaced by U+FFFD.

use std::fmt::Write;

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// What differed, when it failed.
    pub failure: Option<String>,
    /// How long it ran, in seconds.
    pub seconds: f64,
}

/// One case file's results.
#[derive(Debug, Clone)]
pub struct SuiteResult {
    /// The file, as shown in messages.
    pub file: String,
    /// Its cases, in order.
    pub cases: Vec<CaseResult>,
}

impl SuiteResult {
    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    fn seconds(&self) -> f64 {
        self.cases.iter().map(|c| c.seconds).sum()
    }
}

/// The whole report as a JUnit XML document.
pub fn render(suites: &[SuiteResult]) -> String {
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(SuiteResult::failures).sum();
    let seconds: f64 = suites.iter().map(SuiteResult::seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `write!` to a String cannot fail.
    let _ = writeln!(
        out,
        "<testsuites name=\"portcullis test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.6}\">"
    );
    for suite in suites {
        let file = attribute(&suite.file);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{:.6}\">",
            suite.cases.len(),
            suite.failures(),
            suite.seconds()
        );
        for case in &suite.cases {
            let head = format!(
                "    <testcase name=\"{}\" classname=\"{file}\" time=\"{:.6}\"",
                attribute(&case.name),
                case.seconds
            );
            match &case.failure {
                None => {
                    let _ = writeln!(out, "{head}/>");
                }
                Some(failure) => {
                    let _ = writeln!(
                        out,
                        "{head}>\n      <failure message=\"{}\" type=\"policy\">{}</failure>\n    </testcase>",
                        attribute(failure),
                        text(failure)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A character XML 1.0 can carry (its `Char` production).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escaped for element content.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escaped for a double-quoted attribute value (line breaks kept as references, since a
/// parser would otherwise normalise them to spaces).
fn attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in text(value).chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(text("a<b>&c\u{1}"), "a&lt;b&gt;&amp;c\u{FFFD}");
        assert_eq!(attribute("\"x\"\n'y'"), "&quot;x&quot;&#10;&apos;y&apos;");
    }
}
