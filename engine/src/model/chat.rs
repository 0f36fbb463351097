//! [`ChatTemplate`]: an instruct model's Jinja chat template, rendered with
//! `minijinja` the way Hugging Face `transformers` renders it.

use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;
use trellis_token_index::Tokenizer;

use super::ModelError;

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `"system"`, `"user"` or `"assistant"`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A user message.
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: "user".into(), content: content.into() }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: "system".into(), content: content.into() }
    }
}

/// A compiled chat template.
///
/// The environment matches `transformers`' `apply_chat_template`:
/// `trim_blocks` and `lstrip_blocks` on, Python string methods
/// (`.strip()`, `.startswith()`, …) available, `raise_exception(msg)` and
/// `strftime_now(fmt)` defined, and `bos_token` / `eos_token` set from the
/// tokenizer. Render the result with
/// [`Tokenizer::encode_with_special`], so that `<|im_start|>` in the
/// template becomes the control token and not its characters.
///
/// ```
/// use trellis_engine::model::{ChatMessage, ChatTemplate};
///
/// let template = ChatTemplate::new(
///     "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}\
///      {% if add_generation_prompt %}<|assistant|>{% endif %}",
///     "<s>",
///     "</s>",
/// )?;
/// let prompt = template.render(&[ChatMessage::user("Hi")], true)?;
/// assert_eq!(prompt, "<|user|>Hi\n<|assistant|>");
/// # Ok::<(), trellis_engine::model::ModelError>(())
/// ```
pub struct ChatTemplate {
    environment: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Compiles `source` (Jinja).
    ///
    /// # Errors
    ///
    /// [`ModelError::ChatTemplate`] with the template engine's message
    /// (and line) if the source does not parse.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate, ModelError> {
        let mut environment = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_error)?;
        environment.set_syntax(syntax);
        environment.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function("raise_exception", |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        // Templates that print today's date (Llama 3) get a fixed one: a
        // prompt should not change with the clock.
        environment.add_function("strftime_now", |_format: String| "26 Jul 2024".to_string());
        environment.add_template_owned(NAME, source.to_string()).map_err(template_error)?;
        Ok(ChatTemplate { environment, bos_token: bos_token.to_string(), eos_token: eos_token.to_string() })
    }

    /// The template of `tokenizer` (GGUF `tokenizer.chat_template` or
    /// `tokenizer_config.json`), with its BOS and first EOS token texts;
    /// `None` if the tokenizer has no template (a base model).
    pub fn for_tokenizer(tokenizer: &Tokenizer) -> Result<Option<ChatTemplate>, ModelError> {
        let Some(source) = tokenizer.chat_template() else {
            return Ok(None);
        };
        let vocabulary = tokenizer.vocabulary();
        let text = |id: Option<u32>| {
            id.and_then(|id| vocabulary.token_bytes(id))
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default()
        };
        let bos = text(vocabulary.bos_token());
        let eos = text(vocabulary.eos_tokens().first().copied());
        ChatTemplate::new(source, &bos, &eos).map(Some)
    }

    /// Renders `messages`; with `add_generation_prompt`, ends with the
    /// header of the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, ModelError> {
        let template = self.environment.get_template(NAME).map_err(template_error)?;
        template
            .render(minijinja::context! {
                messages => minijinja::value::Serde(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(template_error)
    }
}

fn template_error(error: Error) -> ModelError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ModelError::ChatTemplate { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's template, as in its GGUF metadata.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_as_transformers_does() {
        let template = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let prompt = template.render(&[ChatMessage::user("Write a haiku about rust.")], true).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nWrite a haiku about rust.<|im_end|>\n<|im_start|>assistant\n"
        );
        let with_system = template.render(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")], false).unwrap();
        assert_eq!(with_system, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    }

    #[test]
    fn python_methods_and_whitespace_control_work() {
        // Expected outputs are Python jinja2's with transformers' settings:
        // lstrip_blocks strips before `{% %}` tags only, not `{{ }}`.
        let render = |source: &str| {
            ChatTemplate::new(source, "", "").unwrap().render(&[ChatMessage::user("  hi ")], false).unwrap()
        };
        assert_eq!(render("{% for m in messages %}\n  {{ m.content.strip().upper() }}\n{% endfor %}"), "  HI\n");
        assert_eq!(
            render("{% for m in messages %}\n  {% if true %}{{ m.content.strip().upper() }}{% endif %}\n{% endfor %}"),
            "HI"
        );
    }

    #[test]
    fn raise_exception_and_syntax_errors_are_reported() {
        let template = ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let err = template.render(&[], false).unwrap_err();
        assert!(err.to_string().contains("roles must alternate"), "{err}");
        let err = ChatTemplate::new("{% for %}", "", "").unwrap_err();
        assert!(matches!(err, ModelError::ChatTemplate { .. }), "{err}");
    }
}
