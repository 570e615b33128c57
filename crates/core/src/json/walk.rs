//! The path-tracking walker: one pass over the input, a [`Visitor`] deciding per member and
//! element, output built from verbatim spans of the input.
//!
//! Output is produced by *cuts*: the bytes between cuts are copied as they are. Dropping an
//! item cuts it together with the comma before it (or, for the first item of a container,
//! just the item; the comma before the next kept item is then cut instead). A decision taken
//! only at the end of an item (an array element found to carry a foreign account id) rolls
//! the output back to where the item began and cuts it whole, so the walk stays one pass.

use super::scan::{after_value_reason, decode, syntax, Cursor};
use super::JsonError;
use std::borrow::Cow;

/// What to do with a value, decided before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<S> {
    /// Leave the value out (it is still validated).
    Drop,
    /// Keep the value verbatim without visiting anything inside it (still validated).
    Copy,
    /// Visit the value with this state: [`Visitor::scalar`] or the container's members and
    /// elements, then [`Visitor::close`].
    Enter(S),
}

/// The kind of a scalar token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// A string (the raw token includes its quotes and escapes).
    String,
    /// A number, exactly as written.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

/// A scalar token as written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalar<'a> {
    /// What kind of token it is.
    pub kind: ScalarKind,
    /// The token's text: strings with quotes and escapes, numbers digit for digit.
    pub raw: &'a str,
}

impl<'a> Scalar<'a> {
    /// The token's value as text: strings decoded (`"q\u0061"` is `qa`), numbers and
    /// literals as written (`1.0e+2` stays `1.0e+2`), so ids compare by their literal text.
    pub fn text(&self) -> Cow<'a, str> {
        match self.kind {
            ScalarKind::String => decode(self.raw),
            _ => Cow::Borrowed(self.raw),
        }
    }
}

/// Decides, value by value, what a walk keeps. States are small copies (an automaton state
/// and a few flags) passed from a container to its members and elements.
pub trait Visitor {
    /// Per-value state, computed from the parent's state and the member key.
    type State: Copy;

    /// The step for the top-level value.
    fn root(&mut self) -> Step<Self::State>;

    /// The step for the value of member `key` (decoded) of an object visited with `parent`.
    fn member(&mut self, parent: &Self::State, key: &str) -> Step<Self::State>;

    /// The step for each element of an array visited with `parent`.
    fn element(&mut self, parent: &Self::State) -> Step<Self::State>;

    /// A scalar visited with `state`; returns whether it is kept.
    fn scalar(&mut self, state: &Self::State, value: Scalar<'_>) -> bool;

    /// A container visited with `state` has ended (`is_object` tells which kind); returns
    /// whether it is kept. Dropping here rolls back everything written for it.
    fn close(&mut self, state: &Self::State, is_object: bool) -> bool;
}

/// Where an item started, to drop it later.
#[derive(Clone, Copy)]
struct Item {
    /// Output length before the item.
    out_len: usize,
    /// Input position copied up to before the item.
    copied: usize,
    /// Where a cut dropping this item starts: the comma before it, or the item itself.
    cut_start: usize,
}

/// An open container being visited.
struct Frame<S> {
    state: S,
    close: u8,
    /// Items started so far.
    items: usize,
    /// Whether an item has been kept (so the next kept item keeps its comma).
    any_kept: bool,
    /// How to drop the container itself; `None` for the top-level value.
    item: Option<Item>,
}

/// The output under construction: input spans between cuts.
struct Writer<'a> {
    input: &'a [u8],
    out: Vec<u8>,
    copied: usize,
    changed: bool,
}

impl Writer<'_> {
    /// Removes input `[from, to)` from the output.
    fn cut(&mut self, from: usize, to: usize) {
        if !self.changed {
            self.out.reserve(self.input.len());
            self.changed = true;
        }
        self.out
            .extend_from_slice(self.input.get(self.copied..from).unwrap_or_default());
        self.copied = to;
    }

    /// Undoes everything written since `item` began, then cuts the item up to `end`.
    fn drop_item(&mut self, item: Item, end: usize) {
        self.out.truncate(item.out_len);
        self.copied = item.copied;
        self.cut(item.cut_start, end);
    }
}

/// Walks `input` once with `visitor`; returns the rewritten document, or `None` when
/// nothing was cut (the output would equal the input byte for byte). Arrays and objects
/// may nest `max_depth` levels deep.
pub fn rewrite<V: Visitor>(
    input: &[u8],
    visitor: &mut V,
    max_depth: usize,
) -> Result<Option<Vec<u8>>, JsonError> {
    let mut cur = Cursor::new(input)?;
    let mut w = Writer {
        input,
        out: Vec::new(),
        copied: 0,
        changed: false,
    };
    let mut stack: Vec<Frame<V::State>> = Vec::new();
    let mut scratch: Vec<u8> = Vec::new();
    let mut key_buf = String::new();
    cur.skip_ws();
    let mut step = visitor.root();
    let mut item: Option<Item> = None;
    let mut comma: Option<usize> = None;
    loop {
        // A value starts at `cur.pos`, as `item` of the top frame (None: the root).
        let start = cur.pos;
        let parent_any_kept = stack.last().is_some_and(|f| f.any_kept);
        let fix_comma = |w: &mut Writer<'_>| {
            if let (Some(c), false) = (comma, parent_any_kept) {
                w.cut(c, c + 1);
            }
        };
        let kept = match step {
            Step::Drop => {
                cur.skip_value(stack.len(), max_depth, &mut scratch)?;
                let Some(it) = item else {
                    return Err(JsonError::RootRemoved);
                };
                w.cut(it.cut_start, cur.pos);
                false
            }
            Step::Copy => {
                fix_comma(&mut w);
                cur.skip_value(stack.len(), max_depth, &mut scratch)?;
                true
            }
            Step::Enter(state) => {
                let snapshot = item.map(|it| Item {
                    out_len: w.out.len(),
                    copied: w.copied,
                    ..it
                });
                match cur.peek() {
                    Some(open @ (b'{' | b'[')) => {
                        if stack.len() >= max_depth {
                            return Err(JsonError::TooDeep {
                                offset: start,
                                limit: max_depth,
                            });
                        }
                        fix_comma(&mut w);
                        cur.pos += 1;
                        stack.push(Frame {
                            state,
                            close: if open == b'{' { b'}' } else { b']' },
                            items: 0,
                            any_kept: false,
                            item: snapshot,
                        });
                        // Its items are handled below; its end decides whether it is kept.
                        false
                    }
                    _ => {
                        let kind = cur.scalar()?;
                        let raw = cur.text.get(start..cur.pos).unwrap_or_default();
                        if visitor.scalar(&state, Scalar { kind, raw }) {
                            fix_comma(&mut w);
                            true
                        } else {
                            let Some(it) = item else {
                                return Err(JsonError::RootRemoved);
                            };
                            w.cut(it.cut_start, cur.pos);
                            false
                        }
                    }
                }
            }
        };
        if kept {
            if let Some(frame) = stack.last_mut() {
                frame.any_kept = true;
            }
        }
        // Find the next item, closing finished containers on the way.
        loop {
            let Some(frame) = stack.last_mut() else {
                cur.skip_ws();
                if cur.pos < input.len() {
                    return Err(JsonError::Trailing { offset: cur.pos });
                }
                if !w.changed {
                    return Ok(None);
                }
                w.cut(input.len(), input.len());
                return Ok(Some(w.out));
            };
            cur.skip_ws();
            let close = frame.close;
            comma = None;
            match cur.peek() {
                Some(b) if b == close => {
                    cur.pos += 1;
                    let Some(done) = stack.pop() else { continue };
                    let keep = visitor.close(&done.state, close == b'}');
                    match (keep, done.item) {
                        (true, _) => {
                            if let Some(parent) = stack.last_mut() {
                                parent.any_kept = true;
                            }
                        }
                        (false, Some(it)) => w.drop_item(it, cur.pos),
                        (false, None) => return Err(JsonError::RootRemoved),
                    }
                    continue;
                }
                Some(b',') if frame.items > 0 => {
                    comma = Some(cur.pos);
                    cur.pos += 1;
                    cur.skip_ws();
                }
                _ if frame.items == 0 => {}
                _ => return Err(syntax(cur.pos, after_value_reason(close))),
            }
            let item_start = cur.pos;
            frame.items += 1;
            item = Some(Item {
                out_len: 0,
                copied: 0,
                cut_start: comma.unwrap_or(item_start),
            });
            step = if close == b'}' {
                if cur.peek() != Some(b'"') {
                    return Err(syntax(cur.pos, "expected a member name"));
                }
                let escaped = cur.string()?;
                let key: &str = if escaped {
                    key_buf.clear();
                    key_buf.push_str(&decode(
                        cur.text.get(item_start..cur.pos).unwrap_or_default(),
                    ));
                    &key_buf
                } else {
                    cur.text
                        .get(item_start + 1..cur.pos.saturating_sub(1))
                        .unwrap_or_default()
                };
                let next = visitor.member(&frame.state, key);
                cur.skip_ws();
                cur.expect(b':', "expected `:`")?;
                cur.skip_ws();
                next
            } else {
                visitor.element(&frame.state)
            };
            break;
        }
    }
}

/// A visitor that keeps everything and looks at nothing.
struct KeepAll;

impl Visitor for KeepAll {
    type State = ();
    fn root(&mut self) -> Step<()> {
        Step::Copy
    }
    fn member(&mut self, _: &(), _: &str) -> Step<()> {
        Step::Copy
    }
    fn element(&mut self, _: &()) -> Step<()> {
        Step::Copy
    }
    fn scalar(&mut self, _: &(), _: Scalar<'_>) -> bool {
        true
    }
    fn close(&mut self, _: &(), _: bool) -> bool {
        true
    }
}

/// Checks that `input` is one valid JSON text nesting at most `max_depth` levels.
pub fn validate(input: &[u8], max_depth: usize) -> Result<(), JsonError> {
    rewrite(input, &mut KeepAll, max_depth).map(|_| ())
}
