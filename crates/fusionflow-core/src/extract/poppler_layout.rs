//! The two things poppler's `GLib` interface gives that its Rust binding does not: where
//! each character of a page's text is, and which annotation each entry of a page's
//! annotation mapping is. The only unsafe code of the crate: two calls into poppler-glib,
//! each reading what the call documents it returns, and freeing it as documented.
#![allow(unsafe_code)]

use glib::translate::{from_glib_none, ToGlibPtr, ToGlibPtrMut};
use poppler::{ffi, Annot, AnnotMapping, Page, Rectangle};

/// A character's box on the page, in points, y growing downwards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CharBox {
    /// Left.
    pub x1: f64,
    /// Top.
    pub y1: f64,
    /// Right.
    pub x2: f64,
    /// Bottom.
    pub y2: f64,
}

/// The box of each character of `page.text_for_area(area)`, in order
/// (`poppler_page_get_text_layout_for_area`).
pub fn char_boxes(page: &Page, area: &mut Rectangle) -> Vec<CharBox> {
    let mut rectangles: *mut ffi::PopplerRectangle = std::ptr::null_mut();
    let mut count: std::ffi::c_uint = 0;
    // SAFETY: `page` is a live PopplerPage and `area` a rectangle poppler only reads; on
    // success poppler sets `rectangles` to a g_malloc'ed array of `count` rectangles that
    // the caller frees with g_free.
    let ok = unsafe {
        ffi::poppler_page_get_text_layout_for_area(
            page.to_glib_none().0,
            area.to_glib_none_mut().0,
            &raw mut rectangles,
            &raw mut count,
        )
    };
    if ok == glib::ffi::GFALSE || rectangles.is_null() {
        return Vec::new();
    }
    // SAFETY: as above, `count` initialised rectangles, read once and freed once.
    let boxes = unsafe { std::slice::from_raw_parts(rectangles, count as usize) }
        .iter()
        .map(|r| CharBox { x1: r.x1, y1: r.y1, x2: r.x2, y2: r.y2 })
        .collect();
    // SAFETY: allocated by poppler with g_malloc, not used after this.
    unsafe { glib::ffi::g_free(rectangles.cast()) };
    boxes
}

/// The annotation an entry of `page.annot_mapping()` maps.
pub fn annot(mapping: &AnnotMapping) -> Option<Annot> {
    let entry: *const ffi::PopplerAnnotMapping = mapping.to_glib_none().0;
    // SAFETY: `entry` points to the mapping `mapping` owns, alive while it is borrowed;
    // its `annot` is a PopplerAnnot it holds a reference to, which `from_glib_none`
    // takes one more reference to.
    let annot = unsafe { (*entry).annot };
    (!annot.is_null()).then(|| unsafe { from_glib_none(annot) })
}
