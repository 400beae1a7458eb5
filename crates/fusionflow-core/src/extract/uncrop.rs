//! Pages cropped smaller than their paper: poppler's `GLib` text page holds only what is
//! inside a page's crop box (it draws the page clipped to it), while `pdftotext` reads the
//! whole media box. A crop box hides part of the page in a viewer, not from the text, and
//! one of no area (a broken file's) hides everything. Such pages get their crop box set to
//! their media box (by `rewrite`).

use lopdf::{Dictionary, Document, Object};

/// Page tree levels followed up for an inherited attribute; real trees have a handful.
const MAX_DEPTH: usize = 64;

/// The media box to use as `page`'s crop box, when its crop box shows less than that.
pub fn widened(document: &Document, page: &Dictionary) -> Option<Object> {
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

/// An inheritable attribute (of a page, or of a form field), from the node itself or the
/// nearest one above it (`/Parent`) that has it.
pub fn inherited<'a>(
    document: &'a Document,
    page: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Object> {
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
    let [x1, y1, x2, y2] = numbers(document, value)?[..] else { return None };
    Some([x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2)])
}

/// An array of numbers (a rectangle, a matrix), itself or its items maybe indirect.
pub fn numbers(document: &Document, value: &Object) -> Option<Vec<f32>> {
    let (_, value) = document.dereference(value).ok()?;
    let items = value.as_array().ok()?.iter();
    items.map(|v| document.dereference(v).ok().and_then(|(_, v)| v.as_float().ok())).collect()
}

/// The media and crop boxes found in a file's bytes, as written there.
#[derive(Default)]
pub struct BoxesSeen {
    cropped: bool,
    /// The rectangles seen, up to two; `None` for a box that is not a plain array of
    /// numbers (a reference, say).
    rects: Vec<Option<[f32; 4]>>,
}

impl BoxesSeen {
    pub fn add(&mut self, bytes: &[u8]) {
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

    /// Whether a page may show less than its paper: some page has a crop box, and the
    /// boxes are not all one rectangle (as in most files, where every page is one size and
    /// cropped to it if at all).
    pub fn may_crop(&self) -> bool {
        self.cropped && (self.rects.len() > 1 || self.rects.contains(&None))
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
