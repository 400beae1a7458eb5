//! Pages cropped smaller than their paper: poppler's `GLib` text page holds only what is
//! inside a page's crop box (it draws the page clipped to it), while `pdftotext` reads the
//! whole media box. A crop box hides part of the page in a viewer, not from the text, and
//! one of no area (a broken file's) hides everything. Such pages get their crop box set to
//! their media box in an incremental update (the file's bytes unchanged, the new page
//! objects appended after them) before poppler reads the file.

use lopdf::{Dictionary, Document, IncrementalDocument, LoadOptions, Object, ObjectId};

/// The most one stream may inflate to while looking for crop boxes.
const MAX_STREAM: usize = 64 << 20;

/// Page tree levels followed up for an inherited box; real trees have a handful.
const MAX_DEPTH: usize = 64;

/// `data` with every page's crop box widened to its media box, or `data` as it is when no
/// page is cropped or the file cannot be rewritten (then poppler reads what it can).
pub fn uncropped(data: Vec<u8>) -> Vec<u8> {
    if !may_be_cropped(&data) {
        return data;
    }
    let options = LoadOptions { max_decompressed_size: Some(MAX_STREAM), ..Default::default() };
    let Ok(document) = Document::load_mem_with_options(&data, options) else { return data };
    // A repaired cross-reference table would make the update's offsets lie; encrypted
    // files are left as they are rather than trusting a rewrite of their encryption.
    if document.was_encrypted() || document.xref_recovery.is_some() {
        return data;
    }
    let cropped: Vec<(ObjectId, Object)> = document
        .get_pages()
        .into_values()
        .filter_map(|id| Some((id, widened(&document, document.get_dictionary(id).ok()?)?)))
        .collect();
    if cropped.is_empty() {
        return data;
    }
    let mut update = IncrementalDocument::create_from(data, document);
    for (id, media_box) in cropped {
        if update.opt_clone_object_to_new_document(id).is_err() {
            continue;
        }
        if let Ok(page) = update.new_document.get_dictionary_mut(id) {
            page.set("CropBox", media_box);
        }
    }
    let mut out = Vec::with_capacity(update.get_prev_documents_bytes().len() + 4096);
    match update.save_to(&mut out) {
        Ok(()) => out,
        Err(_) => update.get_prev_documents_bytes().to_vec(),
    }
}

/// The media box to use as `page`'s crop box, when its crop box shows less than that.
fn widened(document: &Document, page: &Dictionary) -> Option<Object> {
    let media = inherited(document, page, b"MediaBox")?;
    let media_rect = rect(document, media)?;
    let crop = rect(document, inherited(document, page, b"CropBox")?);
    // Like every reader, poppler shows the part of the crop box on the paper; a crop box
    // that is not a rectangle of four numbers it ignores already.
    let shown = crop.map(|c| {
        [
            c[0].max(media_rect[0]),
            c[1].max(media_rect[1]),
            c[2].min(media_rect[2]),
            c[3].min(media_rect[3]),
        ]
    })?;
    let same = shown.iter().zip(media_rect).all(|(a, b)| (a - b).abs() < 0.01);
    (!same).then(|| media.clone())
}

/// A page attribute, from the page or the nearest node above it that has it.
fn inherited<'a>(document: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..MAX_DEPTH {
        if let Ok(value) = node.get(key) {
            return Some(value);
        }
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = document.get_dictionary(parent).ok()?;
    }
    None
}

/// A rectangle's corners, lower left first, whichever order the file gives them in.
fn rect(document: &Document, value: &Object) -> Option<[f32; 4]> {
    let (_, value) = document.dereference(value).ok()?;
    let numbers: Vec<f32> = value
        .as_array()
        .ok()?
        .iter()
        .map(|v| document.dereference(v).ok().and_then(|(_, v)| v.as_float().ok()))
        .collect::<Option<_>>()?;
    let [x1, y1, x2, y2] = numbers[..] else { return None };
    Some([x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2)])
}

/// Whether a page of `data` may show less than its paper, from its bytes alone: some page
/// has a crop box, and the boxes are not all one rectangle (as in most files, where every
/// page is one size and cropped to it if at all). Page objects are in the file's bytes or
/// in its object streams (compressed; PDFs since 1.5 often keep them there).
fn may_be_cropped(data: &[u8]) -> bool {
    let mut boxes = BoxesSeen::default();
    boxes.add(data);
    for at in memchr::memmem::find_iter(data, b"/ObjStm") {
        match inflated_stream(&data[at..]) {
            Some(objects) => boxes.add(&objects),
            None => return true, // not Flate, or encrypted: only parsing the file can tell
        }
        if boxes.mixed() {
            break;
        }
    }
    boxes.cropped && boxes.mixed()
}

/// The media and crop boxes found in a file's bytes, as written there.
#[derive(Default)]
struct BoxesSeen {
    cropped: bool,
    /// The rectangles seen, up to two; `None` for a box that is not a plain array of
    /// numbers (a reference, say).
    rects: Vec<Option<[f32; 4]>>,
}

impl BoxesSeen {
    fn add(&mut self, bytes: &[u8]) {
        for key in [&b"/CropBox"[..], b"/MediaBox"] {
            for at in memchr::memmem::find_iter(bytes, key) {
                self.cropped |= key == b"/CropBox";
                let rect = written_rect(&bytes[at + key.len()..]);
                if !self.rects.contains(&rect) && self.rects.len() < 2 {
                    self.rects.push(rect);
                }
            }
        }
    }

    fn mixed(&self) -> bool {
        self.rects.len() > 1 || self.rects.contains(&None)
    }
}

/// The rectangle `[a b c d]` at the start of `bytes`, if written as four numbers.
fn written_rect(bytes: &[u8]) -> Option<[f32; 4]> {
    let bytes = bytes.trim_ascii_start().strip_prefix(b"[")?;
    let end = memchr::memchr(b']', &bytes[..bytes.len().min(256)])?;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    let numbers: Vec<f32> =
        text.split_ascii_whitespace().map(|n| n.parse().ok()).collect::<Option<_>>()?;
    numbers.try_into().ok()
}

/// The Flate-compressed stream that follows `data`'s start, inflated (at most
/// [`MAX_STREAM`] bytes: a crop box is near the start of an object stream if anywhere).
fn inflated_stream(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let start = memchr::memmem::find(data, b"stream")? + b"stream".len();
    let body = data[start..].strip_prefix(b"\r").unwrap_or(&data[start..]);
    let body = body.strip_prefix(b"\n").unwrap_or(body);
    let mut inflated = Vec::new();
    let reader = flate2::read::ZlibDecoder::new(body);
    reader.take(MAX_STREAM as u64).read_to_end(&mut inflated).ok()?;
    Some(inflated)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF, `tree` set on its page tree node and `page` on its page.
    fn pdf(tree: &[(&str, Object)], page: &[(&str, Object)]) -> Vec<u8> {
        let mut document = Document::with_version("1.4");
        let tree_id = document.new_object_id();
        let mut page_dict =
            Dictionary::from_iter([("Type", "Page".into()), ("Parent", tree_id.into())]);
        for (key, value) in page {
            page_dict.set(*key, value.clone());
        }
        let page_id = document.add_object(page_dict);
        let kids: Vec<Object> = vec![page_id.into()];
        let mut tree_dict = Dictionary::from_iter([
            ("Type", "Pages".into()),
            ("Kids", kids.into()),
            ("Count", 1.into()),
        ]);
        for (key, value) in tree {
            tree_dict.set(*key, value.clone());
        }
        document.objects.insert(tree_id, tree_dict.into());
        let catalog =
            Dictionary::from_iter([("Type", "Catalog".into()), ("Pages", tree_id.into())]);
        let catalog = document.add_object(catalog);
        document.trailer.set("Root", catalog);
        let mut out = Vec::new();
        document.save_to(&mut out).unwrap();
        out
    }

    fn box_of(corners: [i64; 4]) -> Object {
        corners.iter().map(|&v| Object::Integer(v)).collect::<Vec<_>>().into()
    }

    fn crop_box(data: &[u8]) -> Option<[f32; 4]> {
        let document = Document::load_mem(data).unwrap();
        let (_, &page) = document.get_pages().iter().next().unwrap();
        let page = document.get_dictionary(page).unwrap();
        rect(&document, inherited(&document, page, b"CropBox")?)
    }

    #[test]
    fn a_page_cropped_by_its_tree_is_widened_in_an_update() {
        let media = ("MediaBox", box_of([0, 0, 300, 200]));
        let original = pdf(&[("CropBox", box_of([10, 10, 20, 20]))], std::slice::from_ref(&media));
        let widened = uncropped(original.clone());
        assert!(widened.starts_with(&original)); // the file's own bytes unchanged
        assert_eq!(crop_box(&widened), Some([0.0, 0.0, 300.0, 200.0]));
        // Cropped to its paper already: the same bytes back.
        let uncut = pdf(&[], &[media, ("CropBox", box_of([300, 200, 0, 0]))]);
        assert_eq!(uncropped(uncut.clone()), uncut);
    }

    #[test]
    fn only_files_whose_boxes_differ_are_parsed() {
        let page =
            |boxes: &str| format!("%PDF-1.4\n1 0 obj << /Type /Page {boxes} >>").into_bytes();
        assert!(!may_be_cropped(&page("/MediaBox [0 0 612 792]")));
        assert!(!may_be_cropped(&page("/MediaBox [0 0 612 792] /CropBox[0.0 0.0 612.0 792.0]")));
        assert!(may_be_cropped(&page("/MediaBox [0 0 612 792] /CropBox [0 0 300 300]")));
        assert!(may_be_cropped(&page("/MediaBox [0 0 612 792] /CropBox 7 0 R")));
        // Pages of two sizes, none cropped: nothing to widen.
        assert!(!may_be_cropped(&page("/MediaBox [0 0 612 792] /MediaBox [0 0 792 612]")));
        // In an object stream: found once inflated.
        let in_stream = |objects: &[u8]| {
            let mut packed =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut packed, objects).unwrap();
            let mut file = b"%PDF-1.5\n1 0 obj << /Type /Page /MediaBox [0 0 9 9] >>\n".to_vec();
            file.extend(b"2 0 obj << /Type /ObjStm /N 1 >>\nstream\r\n");
            file.extend(packed.finish().unwrap());
            file
        };
        assert!(may_be_cropped(&in_stream(b"3 0 << /Type /Page /CropBox [1 1 8 8] >>")));
        assert!(!may_be_cropped(&in_stream(b"3 0 << /Type /Page /CropBox [0 0 9 9] >>")));
        // An object stream that does not inflate: the file is parsed.
        assert!(may_be_cropped(b"%PDF-1.5\n2 0 obj << /Type /ObjStm >>\nstream\nxyz"));
    }
}
