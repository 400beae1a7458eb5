//! Word processing documents: DOCX (Office Open XML) and ODT (`OpenDocument`),
//! both a zip holding the text as XML. Paragraphs end with a newline; tabs
//! and line breaks are kept.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::Extracted;

/// Largest XML part read (a zip bomb's part is refused, not inflated).
const MAX_PART: u64 = 512 << 20;

/// The kinds of zip-based documents read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `word/document.xml`.
    Docx,
    /// `content.xml`.
    Odt,
}

/// Which kind of document the zip in `data` is, if any.
pub fn sniff(data: &[u8]) -> Option<Kind> {
    let archive = zip::ZipArchive::new(Cursor::new(data)).ok()?;
    let has = |name: &str| archive.index_for_name(name).is_some();
    if has("word/document.xml") {
        Some(Kind::Docx)
    } else if has("content.xml") && has("mimetype") {
        Some(Kind::Odt)
    } else {
        None
    }
}

/// Extracts the body text of a DOCX or ODT document.
pub fn extract(data: &[u8], kind: Kind) -> Result<Extracted, String> {
    let (part, name) = match kind {
        Kind::Docx => ("word/document.xml", "DOCX"),
        Kind::Odt => ("content.xml", "ODT"),
    };
    let corrupt = |e: &dyn std::fmt::Display| format!("corrupt {name}: {e}");
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| corrupt(&e))?;
    let file = archive.by_name(part).map_err(|e| corrupt(&e))?;
    let mut xml = String::new();
    file.take(MAX_PART).read_to_string(&mut xml).map_err(|e| corrupt(&e))?;
    let text = match kind {
        Kind::Docx => docx_text(&xml),
        Kind::Odt => odt_text(&xml),
    }
    .map_err(|e| corrupt(&e))?;
    Ok(Extracted { text, ..Default::default() })
}

fn docx_text(xml: &str) -> quick_xml::Result<String> {
    let mut text = String::new();
    let mut in_text = false; // inside <w:t>: its characters are the document's

    // Inside <mc:Fallback>: a copy of the <mc:Choice> before it for older readers (a
    // text box as VML after its DrawingML), so its text would come twice.
    let mut in_fallback = 0usize;
    walk(xml, |event| match event {
        Xml::Start("Fallback") => in_fallback += 1,
        Xml::End("Fallback") => in_fallback = in_fallback.saturating_sub(1),
        _ if in_fallback > 0 => {}
        Xml::Start("t") => in_text = true,
        Xml::End("t") => in_text = false,
        Xml::End("p") | Xml::Empty("br" | "cr") | Xml::Start("br" | "cr") => text.push('\n'),
        Xml::Empty("tab") | Xml::Start("tab") => text.push('\t'),
        Xml::Text(chars) if in_text => text.push_str(chars),
        _ => {}
    })?;
    Ok(text)
}

fn odt_text(xml: &str) -> quick_xml::Result<String> {
    let mut text = String::new();
    let mut in_body = false; // office:text, not styles or metadata
    let mut paragraphs = 0usize; // open text:p / text:h (they nest in frames and notes)
    walk(xml, |event| match event {
        Xml::Start("text") => in_body = true,
        Xml::End("text") => in_body = false,
        Xml::Start("p" | "h") if in_body => paragraphs += 1,
        Xml::End("p" | "h") if in_body => {
            paragraphs = paragraphs.saturating_sub(1);
            text.push('\n');
        }
        Xml::Empty("p" | "h") if in_body => text.push('\n'),
        Xml::Empty("tab") if paragraphs > 0 => text.push('\t'),
        Xml::Empty("line-break") if paragraphs > 0 => text.push('\n'),
        Xml::Empty("s") if paragraphs > 0 => text.push(' '),
        // ODF collapses white space in paragraphs; spaces that count are <text:s/>.
        Xml::Text(chars) if paragraphs > 0 => {
            for c in chars.chars() {
                if !c.is_whitespace() {
                    text.push(c);
                } else if !text.ends_with([' ', '\n', '\t']) {
                    text.push(' ');
                }
            }
        }
        _ => {}
    })?;
    Ok(text)
}

/// The XML events the extractors look at, with local names (no prefixes).
enum Xml<'a> {
    Start(&'a str),
    End(&'a str),
    Empty(&'a str),
    Text(&'a str),
}

fn walk(xml: &str, mut visit: impl FnMut(Xml<'_>)) -> quick_xml::Result<()> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event()? {
            Event::Start(e) => visit(Xml::Start(e.local_name().as_ref())),
            Event::End(e) => visit(Xml::End(e.local_name().as_ref())),
            Event::Empty(e) => visit(Xml::Empty(e.local_name().as_ref())),
            Event::Text(e) => visit(Xml::Text(&e.xml10_content())),
            Event::CData(e) => visit(Xml::Text(&e.xml10_content())),
            Event::GeneralRef(r) => {
                let resolved = quick_xml::escape::unescape(&format!("&{};", &*r))
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_default();
                visit(Xml::Text(&resolved));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docx_paragraphs_tabs_breaks_and_entities() {
        let xml = r#"<w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Hello</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve"> world &amp; co</w:t></w:r></w:p>
            <w:p><w:r><w:t>line</w:t><w:br/><w:t>two &#233;</w:t></w:r></w:p>
            <w:p><w:r><w:instrText>IGNORED</w:instrText></w:r></w:p>
        </w:body></w:document>"#;
        assert_eq!(docx_text(xml).unwrap(), "Hello\t world & co\nline\ntwo é\n\n");
    }

    #[test]
    fn odt_body_text_only() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:automatic-styles>
            <style:style>NOT TEXT</style:style></office:automatic-styles>
            <office:body><office:text><text:h>Title</text:h><text:p>a<text:s/>b<text:tab/>c</text:p>
            <text:p>d<text:line-break/>e</text:p></office:text></office:body></office:document-content>"#;
        assert_eq!(odt_text(xml).unwrap(), "Title\na b\tc\nd\ne\n");
    }
}
