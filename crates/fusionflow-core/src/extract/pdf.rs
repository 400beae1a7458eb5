//! PDF text through poppler (its `GLib` interface): the text layer of each page
//! in reading order, as `pdftotext` gives it, pages separated by form feeds.

use poppler::Document;

use super::Extracted;

/// Extracts the text of every page of `data`.
pub fn extract(data: Vec<u8>) -> Result<Extracted, String> {
    let bytes = glib::Bytes::from_owned(data);
    let document = Document::from_bytes(&bytes, None).map_err(|e| {
        if e.matches(poppler::Error::Encrypted) {
            "encrypted PDF (a password is needed)".to_owned()
        } else {
            format!("corrupt PDF: {}", e.message())
        }
    })?;
    let pages = document.n_pages().max(0);
    if pages == 0 {
        // A PDF has at least one page: none means a page tree poppler could not read
        // (pdftotext fails on it too, exit 99), not an empty document.
        return Err("corrupt PDF: no page could be read (a broken page tree)".to_owned());
    }
    let mut text = String::new();
    for index in 0..pages {
        if let Some(page) = document.page(index) {
            if let Some(page_text) = page.text() {
                text.push_str(page_text.as_str());
            }
        }
        // Like pdftotext: a form feed after every page, the last included.
        if !text.ends_with('\n') && !text.is_empty() && !text.ends_with('\u{c}') {
            text.push('\n');
        }
        text.push('\u{c}');
    }
    Ok(Extracted { text, pages: u32::try_from(pages).ok(), encoding: None })
}
