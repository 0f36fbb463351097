//! The self-repair prompt: the task, the rejected candidate and the
//! checker's message, put together by a template.

use super::SynthesisError;

/// A repair prompt template: text with the placeholders `{prompt}` (the
/// task as first asked), `{candidate}` (the rejected answer) and `{error}`
/// (the checker's message); `{{` and `}}` stand for literal braces. It is
/// parsed once, so that a candidate or a message containing `{error}` is
/// never substituted again.
///
/// ```
/// use trellis_engine::synthesis::RepairTemplate;
///
/// let template = RepairTemplate::new("{prompt}\nYou wrote {candidate}: {error}. {{Try again}}")?;
/// assert_eq!(template.render("Sum to 4.", "2+1", "3, not 4"), "Sum to 4.\nYou wrote 2+1: 3, not 4. {Try again}");
/// assert!(RepairTemplate::new("{prompt} {eror}").is_err());
/// # Ok::<(), trellis_engine::synthesis::SynthesisError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairTemplate {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Prompt,
    Candidate,
    Error,
}

impl RepairTemplate {
    /// The template used unless another is given (the README shows it).
    pub const DEFAULT: &'static str = "{prompt}\n\nYour previous answer was:\n{candidate}\n\nIt was rejected with \
                                       this error:\n{error}\n\nWrite a corrected answer.";

    /// Parses `text`. Unknown placeholders and unmatched braces are errors
    /// with their byte offset; so is a template with neither `{candidate}`
    /// nor `{error}`, whose "repair" would be a plain new sample.
    pub fn new(text: &str) -> Result<RepairTemplate, SynthesisError> {
        let invalid = |offset: usize, what: &str| {
            Err(SynthesisError::InvalidConfig(format!(
                "repair template, byte {offset}: {what} (placeholders are {{prompt}}, {{candidate}}, {{error}}; write \
                 {{{{ and }}}} for literal braces)"
            )))
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let offset = text.len() - rest.len();
            match c {
                '{' if rest.starts_with("{{") => {
                    literal.push('{');
                    rest = &rest[2..];
                }
                '}' if rest.starts_with("}}") => {
                    literal.push('}');
                    rest = &rest[2..];
                }
                '{' => {
                    let Some(end) = rest.find('}') else { return invalid(offset, "a `{` that is never closed") };
                    let piece = match &rest[1..end] {
                        "prompt" => Piece::Prompt,
                        "candidate" => Piece::Candidate,
                        "error" => Piece::Error,
                        name => return invalid(offset, &format!("unknown placeholder {{{name}}}")),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                    rest = &rest[end + 1..];
                }
                '}' => return invalid(offset, "a `}` with no `{`"),
                c => {
                    literal.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if !pieces.iter().any(|piece| matches!(piece, Piece::Candidate | Piece::Error)) {
            return Err(SynthesisError::InvalidConfig(
                "the repair template uses neither {candidate} nor {error}: a repair would be a plain new sample".into(),
            ));
        }
        Ok(RepairTemplate { pieces })
    }

    /// The repair prompt.
    pub fn render(&self, prompt: &str, candidate: &str, error: &str) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            text.push_str(match piece {
                Piece::Text(literal) => literal,
                Piece::Prompt => prompt,
                Piece::Candidate => candidate,
                Piece::Error => error,
            });
        }
        text
    }
}

impl Default for RepairTemplate {
    fn default() -> Self {
        RepairTemplate::new(RepairTemplate::DEFAULT).unwrap_or(RepairTemplate { pieces: vec![Piece::Error] })
    }
}

/// `message` cut to at most `max` characters: its head and its tail, since
/// a compiler puts the first error first and a Python traceback puts it
/// last.
pub(crate) fn clip(message: &str, max: usize) -> String {
    let count = message.chars().count();
    if count <= max {
        return message.to_string();
    }
    let half = max / 2;
    let head: String = message.chars().take(half).collect();
    let tail: String = message.chars().skip(count - (max - half)).collect();
    format!("{head}\n… ({} characters left out) …\n{tail}", count - max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_template_parses_and_substitutes_once() {
        let template = RepairTemplate::default();
        assert_eq!(template, RepairTemplate::new(RepairTemplate::DEFAULT).expect("the default parses"));
        let text = template.render("P", "{error}", "E");
        assert!(
            text.starts_with("P\n\n") && text.contains("was:\n{error}\n") && text.contains("error:\nE\n"),
            "{text}"
        );
    }

    #[test]
    fn bad_templates_say_where() {
        for (template, needle) in [
            ("{prompt} {", "byte 9: a `{` that is never closed"),
            ("{prompt} }", "byte 9: a `}` with no `{`"),
            ("{promt} {error}", "byte 0: unknown placeholder {promt}"),
            ("{prompt} again", "neither {candidate} nor {error}"),
        ] {
            let error = RepairTemplate::new(template).expect_err(template).to_string();
            assert!(error.contains(needle), "{template}: {error}");
        }
    }

    #[test]
    fn long_messages_keep_head_and_tail() {
        assert_eq!(clip("short", 10), "short");
        let clipped = clip(&format!("first{}last", "x".repeat(100)), 10);
        assert!(
            clipped.starts_with("first") && clipped.ends_with("xlast") && clipped.contains("99 characters"),
            "{clipped}"
        );
    }
}
