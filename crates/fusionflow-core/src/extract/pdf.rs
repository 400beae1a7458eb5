//! PDF text through poppler (its `GLib` interface): the text layer of each page
//! in reading order, as `pdftotext` gives it, pages separated by form feeds.
//!
//! Where poppler's `GLib` text call gives less than `pdftotext`:
//! - it joins text blocks without a space (`NormalHardLight` for two cells of a table,
//!   Arabic words run together) and some lines without a newline: a space goes wherever
//!   two characters of a line are apart by more than a fifth of the font's size with
//!   nothing between them, a newline where the next character is on another line (the
//!   boxes of its per-character layout);
//! - it loses lines of right-to-left blocks: such pages are selected both ways;
//! - it reads only what is inside a page's crop box, `pdftotext` the whole media box,
//!   and only the page's contents, `pdftotext` its annotations' appearances too: the file
//!   is rewritten first (`rewrite`). Annotations that could not be drawn are read here:
//!   `FreeText` contents and form fields, added after the page's text (text fields'
//!   values, never a password's; the chosen item of a combo box; every item of a list).

use poppler::prelude::AnnotExt;
use poppler::{AnnotType, Document, FormChoiceType, FormField, FormFieldType, Page, Rectangle};

use super::poppler_layout::{self, CharBox};
use super::rewrite;

use super::Extracted;

/// Extracts the text of every page of `data`.
pub fn extract(data: Vec<u8>) -> Result<Extracted, String> {
    let drawn = rewrite::for_text(&data);
    read(data, drawn)
}

/// The text of every page of `drawn` (the file as pdftotext sees it), or of `data` (the
/// file as it is) where drawing a page's annotations lost its own text: an extra pass
/// must never cost a page; the note says which.
fn read(data: Vec<u8>, drawn: Option<Vec<u8>>) -> Result<Extracted, String> {
    let (bytes, plain) = match drawn {
        Some(drawn) => (glib::Bytes::from_owned(drawn), Some(glib::Bytes::from_owned(data))),
        None => (glib::Bytes::from_owned(data), None),
    };
    let document = open(&bytes)?;
    let plain = plain.as_ref().and_then(|b| open(b).ok());
    let pages = document.n_pages().max(0);
    if pages == 0 {
        // A PDF has at least one page: none means a page tree poppler could not read
        // (pdftotext fails on it too, exit 99), not an empty document.
        return Err("corrupt PDF: no page could be read (a broken page tree)".to_owned());
    }
    let mut text = String::new();
    let mut notes = Vec::new();
    for index in 0..pages {
        let mut read = document.page(index).map(|page| read_page(&document, &page, index));
        let unflattened = plain.as_ref().and_then(|p| Some((p, p.page(index)?)));
        if let (Some((own, _)), Some((plain, page))) = (&read, unflattened) {
            let (plain_own, fields) = read_page(plain, &page, index);
            if ink(&plain_own) > ink(own) {
                notes.push(format!(
                    "page {}: drawing its annotations lost text; read without them",
                    index + 1
                ));
                read = Some((plain_own, fields));
            }
        }
        if let Some((own, fields)) = read {
            text.push_str(&own);
            for field in fields {
                if !text.is_empty() && !text.ends_with(['\n', '\u{c}']) {
                    text.push('\n');
                }
                text.push_str(&field);
            }
        }
        // Like pdftotext: a form feed after every page, the last included.
        if !text.ends_with('\n') && !text.is_empty() && !text.ends_with('\u{c}') {
            text.push('\n');
        }
        text.push('\u{c}');
    }
    Ok(Extracted { text, pages: u32::try_from(pages).ok(), encoding: None, notes })
}

fn open(bytes: &glib::Bytes) -> Result<Document, String> {
    Document::from_bytes(bytes, None).map_err(|e| {
        if e.matches(poppler::Error::Encrypted) {
            "encrypted PDF (a password is needed)".to_owned()
        } else {
            format!("corrupt PDF: {}", e.message())
        }
    })
}

/// The page's own text (spaced, annotations drawn into it included), and the text of
/// its annotations that were not drawn (`FreeText` contents, form fields), in order.
fn read_page(document: &Document, page: &Page, index: i32) -> (String, Vec<String>) {
    let own = page_text(page).map(|(text, area)| read_on_past_nuls(page, text, area));
    let fields = form_fields(document, index, page.form_field_mapping().len());
    (own.unwrap_or_default(), free_texts(page).into_iter().chain(fields).collect())
}

/// Characters that are not white space.
fn ink(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The page's text, and the area it was selected over. Poppler's selection reads a
/// right-to-left block from its top right corner: selected the usual way (top left to
/// bottom right) it loses lines of such blocks (`ArabicCIDTrueType.pdf`: two of four),
/// selected the other way it loses left-to-right text. A page with right-to-left words
/// is selected both ways, and the one that holds more of the page's text is kept.
fn page_text(page: &Page) -> Option<(glib::GString, Rectangle)> {
    let mut area = whole_page(false);
    let text = page.text_for_area(&mut area)?;
    // Poppler embeds each right-to-left word in U+202B ... U+202C.
    if text.contains('\u{202b}') {
        let mut back = whole_page(true);
        if let Some(other) = page.text_for_area(&mut back).filter(|t| ink(t) > ink(&text)) {
            return Some((other, back));
        }
    }
    Some((text, area))
}

/// The most times one page's text is selected again after a U+0000.
const MAX_NULS: usize = 64;

/// The page's text selected over `area` (as `first`), spaced, and read on past each
/// U+0000. Poppler's `GLib` text call returns a C string, which a glyph read as U+0000
/// ends (`issue19971.pdf` p. 6: 485 characters lost); its layout call still gives every
/// character's box. So where the boxes outnumber the text, the rest is selected again
/// from the box of the character that ended it, as often as it is cut. (`pdftotext`
/// writes the U+0000; here it is left out.)
fn read_on_past_nuls(page: &Page, first: glib::GString, mut area: Rectangle) -> String {
    let mut boxes = poppler_layout::char_boxes(page, &mut area);
    let mut text = first;
    let mut out = String::new();
    let mut last_box: Option<CharBox> = None;
    for _ in 0..MAX_NULS {
        let Some((shown, rest, rest_area, rest_boxes)) = rest_after_cut(page, &text, &boxes, &area)
        else {
            break;
        };
        join(&mut out, last_box, &spaced(text.as_str(), &boxes[..shown]), boxes.first());
        last_box = shown.checked_sub(1).map(|i| boxes[i]);
        (text, area, boxes) = (rest, rest_area, rest_boxes);
    }
    join(&mut out, last_box, &spaced(text.as_str(), &boxes), boxes.first());
    out
}

/// Where `text` was cut (the count of its characters that have boxes), and the text
/// after it, with its area and boxes; None when `text` is whole.
fn rest_after_cut(
    page: &Page,
    text: &str,
    boxes: &[CharBox],
    area: &Rectangle,
) -> Option<(usize, glib::GString, Rectangle, Vec<CharBox>)> {
    let all = text.chars().count();
    if boxes.len() <= all {
        return None; // whole (direction marks have boxes on some pages only)
    }
    let unmarked = text.chars().filter(|&c| !is_bidi_control(c)).count();
    // The character that ended it is the one after those shown: marks boxed or not.
    [all, unmarked].into_iter().find_map(|shown| {
        let cut = boxes[shown];
        let right_to_left = area.x1() > area.x2();
        let mut rest_area = Rectangle::new();
        rest_area.set_x1(if right_to_left { cut.x2 } else { cut.x1 });
        rest_area.set_y1(f64::midpoint(cut.y1, cut.y2));
        rest_area.set_x2(area.x2());
        rest_area.set_y2(area.y2());
        let rest = page.text_for_area(&mut rest_area)?;
        let rest_boxes = poppler_layout::char_boxes(page, &mut rest_area);
        // Selected from there, the rest holds exactly the characters not yet read.
        (rest_boxes.len() == boxes.len() - shown).then_some((shown, rest, rest_area, rest_boxes))
    })
}

/// `piece` appended to `out`, apart from what came before as the boxes say.
fn join(out: &mut String, before: Option<CharBox>, piece: &str, first: Option<&CharBox>) {
    if let (Some(a), Some(b)) = (before, first) {
        let apart = !out.ends_with(char::is_whitespace) && !piece.starts_with(char::is_whitespace);
        if apart {
            out.extend(separator(&a, b));
        }
    }
    out.push_str(piece);
}

/// An area holding any page, from its top left corner to its bottom right, or from its
/// top right to its bottom left (`right_to_left`). Poppler's text call selects the page's
/// box; its text page holds somewhat more (characters at and past the edges), which
/// `pdftotext` reads too.
fn whole_page(right_to_left: bool) -> Rectangle {
    let mut area = Rectangle::new();
    // 200 inches either way of the origin: the largest page PDF allows, wherever it is.
    let (near, far) = (-14_400.0, 28_800.0);
    let (left, right) = if right_to_left { (far, near) } else { (near, far) };
    area.set_x1(left);
    area.set_y1(near);
    area.set_x2(right);
    area.set_y2(far);
    area
}

/// `text` with a space or a newline put between characters that are apart on the page
/// and have nothing between them in the text; `boxes` holds one box per character (else
/// `text` is kept as it is).
fn spaced(text: &str, boxes: &[CharBox]) -> String {
    // Direction marks have a box of their own in some pages' layouts, none in others.
    let marks_boxed = text.chars().count() == boxes.len();
    if !marks_boxed && text.chars().filter(|&c| !is_bidi_control(c)).count() != boxes.len() {
        return text.to_owned();
    }
    let mut boxes = boxes.iter();
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous: Option<(char, &CharBox)> = None;
    // Direction marks met since the last character: they take no room on the page.
    let (mut closing, mut opening) = (String::new(), String::new());
    for c in text.chars() {
        if is_bidi_control(c) {
            if marks_boxed {
                boxes.next();
            }
            if matches!(c, '\u{202c}' | '\u{2069}') {
                closing.push(c);
            } else {
                opening.push(c);
            }
            continue;
        }
        let Some(b) = boxes.next() else { break };
        let separator = match previous {
            Some((p, a)) if !p.is_whitespace() && !c.is_whitespace() => separator(a, b),
            _ => None,
        };
        // A word's closing marks stay with it, the next word's opening marks go with that.
        out.push_str(&closing);
        out.extend(separator);
        out.push_str(&opening);
        closing.clear();
        opening.clear();
        out.push(c);
        previous = Some((c, b));
    }
    out.push_str(&closing);
    out.push_str(&opening);
    // Poppler embeds each right-to-left word on its own (U+202B ... U+202C): one embedding
    // for words next to each other means the same and reads as pdftotext's.
    out.replace("\u{202c} \u{202b}", " ")
}

/// What goes between two characters next to each other in the text: a space if they are
/// on one line (across the page, or down it for rotated text) but apart by more than a
/// fifth of the font's size, a newline if they are on different lines (a table's next
/// cell may be higher).
fn separator(a: &CharBox, b: &CharBox) -> Option<char> {
    let (height, width) = ((a.y2 - a.y1).min(b.y2 - b.y1), (a.x2 - a.x1).min(b.x2 - b.x1));
    let across = a.y2.min(b.y2) - a.y1.max(b.y1) >= height.max(0.0) / 2.0;
    // Rotated glyphs' boxes are wider than tall (the font's size across, the advance
    // along); upright ones taller than wide, so a character below another is a new line.
    let lying = |c: &CharBox| c.x2 - c.x1 > c.y2 - c.y1;
    let down = lying(a) && lying(b) && a.x2.min(b.x2) - a.x1.max(b.x1) >= width.max(0.0) / 2.0;
    let apart = if across {
        (b.x1 - a.x2).max(a.x1 - b.x2) > height / 5.0
    } else if down {
        (b.y1 - a.y2).max(a.y1 - b.y2) > width / 5.0
    } else {
        return Some('\n');
    };
    apart.then_some(' ')
}

/// Marks that set the direction of text, and take no room on the page.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The text of the page's `FreeText` annotations (the text boxes readers add), in order.
fn free_texts(page: &Page) -> Vec<String> {
    page.annot_mapping()
        .iter()
        .filter_map(poppler_layout::annot)
        .filter(|annot| annot.annot_type() == AnnotType::FreeText)
        .filter_map(|annot| annot.contents().map(|t| t.to_string()))
        .filter(|text| !text.trim().is_empty())
        .collect()
}

/// What the `count` form fields of page `index` show, in the page's order.
fn form_fields(document: &Document, index: i32, count: usize) -> Vec<String> {
    // poppler-glib's field ids: the page number (from 1) above 16 bits, the field's index
    // on the page below. Ids are asked for only below `count`: poppler does not check.
    let Some(page) = index.checked_add(1).and_then(|n| n.checked_mul(1 << 16)) else {
        return Vec::new();
    };
    let count = i32::try_from(count.min(1 << 16)).unwrap_or(0);
    (0..count)
        .filter_map(|n| document.form_field(page + n))
        .filter_map(|field| shown(&field))
        .filter(|value| !value.trim().is_empty())
        .collect()
}

fn shown(field: &FormField) -> Option<String> {
    match field.field_type() {
        FormFieldType::Text if !field.text_is_password() => {
            field.text_get_text().map(|t| t.to_string())
        }
        FormFieldType::Choice => {
            let items = (0..field.choice_get_n_items())
                .filter(|&i| {
                    field.choice_get_choice_type() == FormChoiceType::List
                        || field.choice_is_item_selected(i)
                })
                .filter_map(|i| field.choice_get_item(i).map(|t| t.to_string()));
            let mut shown: Vec<String> = items.collect();
            if shown.is_empty() {
                shown.extend(field.choice_get_text().map(|t| t.to_string())); // typed in
            }
            Some(shown.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF showing `words` (none: an empty page).
    fn one_page(words: Option<&str>) -> Vec<u8> {
        use lopdf::{dictionary, Document as Pdf, Object, Stream};
        let mut pdf = Pdf::with_version("1.4");
        let pages = pdf.new_object_id();
        let font = pdf.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let content =
            words.map_or_else(String::new, |w| format!("BT /F1 12 Tf 72 700 Td ({w}) Tj ET"));
        let content = pdf.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page = pdf.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        });
        pdf.objects.insert(
            pages,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1,
            }),
        );
        let catalog = pdf.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        pdf.trailer.set("Root", catalog);
        let mut out = Vec::new();
        pdf.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn a_page_the_drawing_pass_lost_is_read_without_it_and_said_so() {
        let file = one_page(Some("Hello world"));
        let drawn_right = read(file.clone(), Some(one_page(Some("Hello world drawn")))).unwrap();
        assert_eq!(drawn_right.text, "Hello world drawn\n\u{c}");
        assert!(drawn_right.notes.is_empty());
        // The drawn file lost the page's text (as a nested contents array once did).
        let lost = read(file.clone(), Some(one_page(None))).unwrap();
        assert_eq!(lost.text, "Hello world\n\u{c}");
        assert_eq!(lost.notes, ["page 1: drawing its annotations lost text; read without them"]);
        assert_eq!(read(file, None).unwrap().text, "Hello world\n\u{c}");
    }

    /// A 10 pt character at `x`, `y` (its top left), `w` wide and `h` high.
    fn at(x: f64, y: f64, w: f64, h: f64) -> CharBox {
        CharBox { x1: x, y1: y, x2: x + w, y2: y + h }
    }

    #[test]
    fn characters_apart_on_the_page_are_kept_apart() {
        let line = |xs: &[f64]| xs.iter().map(|&x| at(x, 100.0, 6.0, 10.0)).collect::<Vec<_>>();
        // Touching: one word. 3 pt apart (over a fifth of 10 pt): two words.
        assert_eq!(spaced("ab", &line(&[0.0, 6.0])), "ab");
        assert_eq!(spaced("ab", &line(&[0.0, 9.0])), "a b");
        // A space already there is kept, not doubled.
        assert_eq!(spaced("a b", &line(&[0.0, 6.0, 12.0])), "a b");
        // The next character on another line, lower or higher (a table's next cell).
        assert_eq!(spaced("ab", &[at(0.0, 100.0, 6.0, 10.0), at(0.0, 112.0, 6.0, 10.0)]), "a\nb");
        assert_eq!(spaced("ab", &[at(50.0, 100.0, 6.0, 10.0), at(0.0, 80.0, 6.0, 10.0)]), "a\nb");
        // Rotated text runs down the page: characters stacked, 10 pt wide.
        let down = |ys: &[f64]| ys.iter().map(|&y| at(0.0, y, 10.0, 6.0)).collect::<Vec<_>>();
        assert_eq!(spaced("ab", &down(&[0.0, 6.0])), "ab");
        assert_eq!(spaced("ab", &down(&[0.0, 10.0])), "a b");
        // Boxes that do not match the text: the text as it is.
        assert_eq!(spaced("abc", &line(&[0.0, 20.0])), "abc");
    }

    #[test]
    fn right_to_left_words_get_one_embedding() {
        // Each word embedded on its own, the marks with no box of their own.
        let text = "\u{202b}ab\u{202c}\u{202b}cd\u{202c}";
        let boxes = [30.0, 24.0, 10.0, 4.0].map(|x| at(x, 0.0, 6.0, 10.0));
        assert_eq!(spaced(text, &boxes), "\u{202b}ab cd\u{202c}");
    }
}
