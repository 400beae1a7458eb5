//! HTML's visible text: html5ever's tokenizer (entities decoded as browsers
//! do), without scripts, styles and templates; block elements end lines and
//! runs of white space collapse, except inside `<pre>`.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use super::Extracted;

/// Elements whose content is not text a reader sees.
const HIDDEN: &[&str] = &["script", "style", "template", "noscript", "svg", "math"];
/// What may stand in `<head>`: any other start tag ends it, as `</head>` may be left out.
const HEAD: &[&str] =
    &["head", "title", "meta", "link", "style", "script", "base", "noscript", "template"];
/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
    "title",
    "caption",
];

/// Extracts the visible text of an HTML document (already decoded to UTF-8).
pub fn extract(html: &str) -> Extracted {
    let sink = TextSink::default();
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let text = tokenizer.sink.state.into_inner().text;
    Extracted { text, ..Default::default() }
}

#[derive(Default)]
struct TextSink {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    text: String,
    /// Depth inside hidden elements.
    hidden: usize,
    /// Inside `<head>`, whose only visible text is the `<title>`.
    in_head: bool,
    in_title: bool,
    in_pre: usize,
}

impl State {
    fn newline(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn push(&mut self, chars: &str) {
        if self.in_head && !self.in_title && !chars.trim().is_empty() {
            self.in_head = false; // text cannot stand in <head>: the body has begun
        }
        if !self.in_title && (self.hidden > 0 || self.in_head) {
            return;
        }
        if self.in_pre > 0 {
            self.text.push_str(chars);
            return;
        }
        for c in chars.chars() {
            if c.is_whitespace() {
                if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
                    self.text.push(' ');
                }
            } else {
                self.text.push(c);
            }
        }
    }

    fn tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        let start = tag.kind == TagKind::StartTag;
        if name == "head" {
            self.in_head = start;
        } else if start && !HEAD.contains(&name) {
            self.in_head = false; // <body>, or any body element
        }
        if HIDDEN.contains(&name) && !tag.self_closing {
            if start {
                self.hidden += 1;
            } else {
                self.hidden = self.hidden.saturating_sub(1);
            }
        }
        if name == "title" {
            self.in_title = start;
        }
        if name == "pre" {
            self.in_pre = if start { self.in_pre + 1 } else { self.in_pre.saturating_sub(1) };
        }
        if BLOCKS.contains(&name) {
            self.newline();
        } else if matches!(name, "td" | "th") && !start {
            self.text.push('\t');
        }
        // What the tree builder would tell the tokenizer: these hold raw text, not markup.
        match (start, name) {
            (true, "script") => TokenSinkResult::RawData(RawKind::ScriptData),
            (true, "style" | "xmp" | "iframe" | "noembed" | "noframes") => {
                TokenSinkResult::RawData(RawKind::Rawtext)
            }
            (true, "title" | "textarea") => TokenSinkResult::RawData(RawKind::Rcdata),
            _ => TokenSinkResult::Continue,
        }
    }
}

impl TokenSink for TextSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        match token {
            Token::CharacterTokens(chars) => state.push(&chars),
            Token::TagToken(tag) => return state.tag(&tag),
            Token::EOFToken => state.newline(),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_left_open_ends_at_the_body() {
        let html = "<html><head><title>T</title><meta charset=utf-8><body><p>Hello";
        assert_eq!(extract(html).text, "T\nHello\n");
        assert_eq!(extract("<head><meta x=1>Stray<p>Body").text, "Stray\nBody\n");
    }

    #[test]
    fn visible_text_only_with_lines_per_block() {
        let html = "<!doctype html><html><head><title>The  title</title><style>p{color:red}</style>\
            <script>if (a < b) document.write('<p>no</p>')</script></head><body>\
            <h1>Caf&eacute; &amp; bar</h1><p>one\n   two <b>bold</b></p><ul><li>x</li><li>y</li></ul>\
            <pre>  kept\n  as is</pre><table><tr><td>a</td><td>b</td></tr></table></body></html>";
        assert_eq!(
            extract(html).text,
            "The title\nCafé & bar\none two bold\nx\ny\n  kept\n  as is\na\tb\t\n"
        );
    }
}
