//! The PDF as `pdftotext` sees it, for poppler's `GLib` text page: pages cropped smaller than
//! their paper widened (`uncrop`), annotations' appearances drawn into their pages
//! (`flatten`). The changes go in an incremental update: the file's bytes unchanged, the
//! new page objects appended after them, in memory only. A scan of the bytes (and of the
//! object streams, where page objects often are) tells whether a file may need either;
//! only those are parsed, with `lopdf`.

use lopdf::{Document, IncrementalDocument, LoadOptions};

use super::{flatten, uncrop};

/// The most one stream may inflate to while scanning or parsing the file.
const MAX_STREAM: usize = 64 << 20;

/// `data` with its cropped pages widened and its annotations drawn; None when no page
/// needs it or the file cannot be rewritten (then poppler reads what it can).
pub fn for_text(data: &[u8]) -> Option<Vec<u8>> {
    let seen = Seen::of(data);
    if !seen.worth_parsing() {
        return None;
    }
    let options = LoadOptions { max_decompressed_size: Some(MAX_STREAM), ..Default::default() };
    let document = Document::load_mem_with_options(data, options).ok()?;
    // A repaired cross-reference table would make the update's offsets lie; encrypted
    // files are left as they are rather than trusting a rewrite of their encryption.
    if document.was_encrypted() || document.xref_recovery.is_some() {
        return None;
    }
    // Fields whose appearances are to be made anew are read from their values (`pdf`).
    let widgets = !needs_appearances(&document);
    let mut edits = Vec::new();
    for id in document.get_pages().into_values() {
        let Ok(page) = document.get_dictionary(id) else { continue };
        let crop = seen.boxes.may_crop().then(|| uncrop::widened(&document, page)).flatten();
        let drawn = flatten::flattened(&document, page, widgets)
            .map(|f| (f, flatten::own_resources(&document, page)));
        if crop.is_some() || drawn.is_some() {
            edits.push((id, crop, drawn));
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut update = IncrementalDocument::create_from(data.to_vec(), document);
    for (id, crop, drawn) in edits {
        if update.opt_clone_object_to_new_document(id).is_err() {
            continue;
        }
        if let (Some(media_box), Ok(page)) = (crop, update.new_document.get_dictionary_mut(id)) {
            page.set("CropBox", media_box);
        }
        if let Some((flattened, resources)) = drawn {
            flattened.apply(&mut update.new_document, id, resources);
        }
    }
    let mut out = Vec::with_capacity(update.get_prev_documents_bytes().len() + 4096);
    update.save_to(&mut out).is_ok().then_some(out)
}

fn needs_appearances(document: &Document) -> bool {
    let form = document.catalog().ok().and_then(|c| c.get(b"AcroForm").ok());
    let form = form.and_then(|f| document.dereference(f).ok()).and_then(|(_, f)| f.as_dict().ok());
    form.and_then(|f| f.get(b"NeedAppearances").ok()).is_some_and(|v| v.as_bool().unwrap_or(false))
}

/// What a file's bytes say about its pages without parsing it.
#[derive(Default)]
struct Seen {
    boxes: uncrop::BoxesSeen,
    /// Some annotation has an appearance (`/AP`).
    appearances: bool,
    /// An object stream did not inflate (not Flate, or encrypted).
    unknown: bool,
}

impl Seen {
    fn of(data: &[u8]) -> Seen {
        let mut seen = Seen::default();
        seen.add(data);
        for at in memchr::memmem::find_iter(data, b"/ObjStm") {
            if seen.worth_parsing() {
                break;
            }
            match inflated_stream(&data[at..]) {
                Some(objects) => seen.add(&objects),
                None => seen.unknown = true,
            }
        }
        seen
    }

    fn add(&mut self, bytes: &[u8]) {
        self.boxes.add(bytes);
        // `/AP` as a key: followed by a delimiter or a space, not by more of a name.
        self.appearances |= memchr::memmem::find_iter(bytes, b"/AP").any(|at| {
            bytes
                .get(at + 3)
                .is_some_and(|&c| matches!(c, b'<' | b' ' | b'\r' | b'\n' | b'\t' | b'0'..=b'9'))
        });
    }

    fn worth_parsing(&self) -> bool {
        self.unknown || self.appearances || self.boxes.may_crop()
    }
}

/// The Flate-compressed stream that follows `data`'s start, inflated (at most
/// [`MAX_STREAM`] bytes).
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
    use lopdf::{Dictionary, Object};

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
        uncrop::numbers(&document, uncrop::inherited(&document, page, b"CropBox")?)?.try_into().ok()
    }

    fn worth_parsing(data: &[u8]) -> bool {
        Seen::of(data).worth_parsing()
    }

    #[test]
    fn a_page_cropped_by_its_tree_is_widened_in_an_update() {
        let media = ("MediaBox", box_of([0, 0, 300, 200]));
        let original = pdf(&[("CropBox", box_of([10, 10, 20, 20]))], std::slice::from_ref(&media));
        let widened = for_text(&original).unwrap();
        assert!(widened.starts_with(&original)); // the file's own bytes unchanged
        assert_eq!(crop_box(&widened), Some([0.0, 0.0, 300.0, 200.0]));
        // Cropped to its paper already: nothing to change.
        let uncut = pdf(&[], &[media, ("CropBox", box_of([300, 200, 0, 0]))]);
        assert_eq!(for_text(&uncut), None);
    }

    #[test]
    fn only_files_with_cropped_pages_or_appearances_are_parsed() {
        let page =
            |boxes: &str| format!("%PDF-1.4\n1 0 obj << /Type /Page {boxes} >>").into_bytes();
        assert!(!worth_parsing(&page("/MediaBox [0 0 612 792]")));
        assert!(!worth_parsing(&page("/MediaBox [0 0 612 792] /CropBox[0.0 0.0 612.0 792.0]")));
        assert!(worth_parsing(&page("/MediaBox [0 0 612 792] /CropBox [0 0 300 300]")));
        assert!(worth_parsing(&page("/MediaBox [0 0 612 792] /CropBox 7 0 R")));
        // Pages of two sizes, none cropped: nothing to widen.
        assert!(!worth_parsing(&page("/MediaBox [0 0 612 792] /MediaBox [0 0 792 612]")));
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
        assert!(worth_parsing(&in_stream(b"3 0 << /Type /Page /CropBox [1 1 8 8] >>")));
        assert!(!worth_parsing(&in_stream(b"3 0 << /Type /Page /CropBox [0 0 9 9] >>")));
        // An appearance: drawn into the page.
        assert!(worth_parsing(&page("/MediaBox [0 0 9 9] /Annots [<< /AP << /N 4 0 R >> >>]")));
        assert!(!worth_parsing(&page("/MediaBox [0 0 9 9] /APPLE 1")));
        // An object stream that does not inflate: the file is parsed.
        assert!(worth_parsing(b"%PDF-1.5\n2 0 obj << /Type /ObjStm >>\nstream\nxyz"));
    }
}
