//! Annotations drawn into the page, as `pdftotext` sees them: it draws every annotation's
//! appearance (the labels of media players, check marks, a comb field's letters in their
//! cells, stamps), while poppler's `GLib` text page holds the page's contents only. Each
//! annotation with an appearance is painted at its rectangle by a content stream added
//! after the page's own (PDF 32000-1, 12.5.5), and taken off the page's annotations, so
//! that `pdf`'s own reading of `FreeText` annotations and form fields does not give its
//! text twice; what has no appearance (or must have one made: `NeedAppearances`) is left
//! to that.

use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use super::uncrop::{inherited, numbers};

/// Annotation flags (PDF 32000-1, 12.5.3) that keep an annotation off the page.
const HIDDEN: i64 = 1 << 1;
const NO_VIEW: i64 = 1 << 5;

/// What drawing a page's annotations changes on the page.
pub struct Flattened {
    /// Operators painting each appearance, named `/FFAnnotN` in the page's resources.
    draw: Vec<u8>,
    /// Each appearance, with a copy to put in its place where it does not say it is a
    /// form (annotations need not; `Do` does).
    appearances: Vec<(ObjectId, Option<Stream>)>,
    /// The annotations left on the page.
    annots: Vec<Object>,
    /// The page's own content streams, read in the original document (the update holds
    /// only what it changes).
    contents: Vec<Object>,
}

/// The annotations of `page` that can be drawn into it, if any.
pub fn flattened(document: &Document, page: &Dictionary, widgets: bool) -> Option<Flattened> {
    let annots = document.dereference(page.get(b"Annots").ok()?).ok()?.1.as_array().ok()?;
    let contents = page_contents(document, page);
    let mut out =
        Flattened { draw: Vec::new(), appearances: Vec::new(), annots: Vec::new(), contents };
    for annot in annots {
        let drawn = document
            .dereference(annot)
            .ok()
            .and_then(|(_, a)| a.as_dict().ok())
            .filter(|a| widgets || !is_subtype(a, b"Widget"))
            .filter(|a| !is_password(document, a))
            .and_then(|a| appearance(document, a));
        match drawn {
            Some((id, form, transform)) => {
                let name = out.appearances.len();
                let cm: Vec<String> = transform.iter().map(f32::to_string).collect();
                out.draw.extend(format!("q {} cm /FFAnnot{name} Do Q\n", cm.join(" ")).bytes());
                let marked =
                    form.dict.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == b"Form");
                let patched = (!marked).then(|| {
                    let mut form = form.clone();
                    form.dict.set("Type", Object::Name(b"XObject".to_vec()));
                    form.dict.set("Subtype", Object::Name(b"Form".to_vec()));
                    form
                });
                out.appearances.push((id, patched));
            }
            None => out.annots.push(annot.clone()),
        }
    }
    (!out.appearances.is_empty()).then_some(out)
}

impl Flattened {
    /// Changes `page` (in the update's document) to draw the annotations.
    pub fn apply(self, document: &mut Document, page_id: ObjectId, resources: Dictionary) {
        // The page's own contents in a q ... Q of their own: whatever state they leave
        // does not move the annotations.
        let open = document.add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));
        let mut draw = b"Q\n".to_vec();
        draw.extend(self.draw);
        let draw = document.add_object(Stream::new(Dictionary::new(), draw));
        let Ok(page) = document.get_dictionary_mut(page_id) else { return };
        let mut contents = vec![Object::Reference(open)];
        contents.extend(self.contents);
        contents.push(Object::Reference(draw));
        page.set("Contents", contents);
        let mut resources = resources;
        let mut xobjects = match resources.get(b"XObject") {
            Ok(Object::Dictionary(d)) => d.clone(),
            _ => Dictionary::new(),
        };
        for (n, &(id, _)) in self.appearances.iter().enumerate() {
            xobjects.set(format!("FFAnnot{n}"), Object::Reference(id));
        }
        resources.set("XObject", xobjects);
        page.set("Resources", resources);
        page.set("Annots", self.annots);
        for (id, patched) in self.appearances {
            if let Some(form) = patched {
                document.set_object(id, form);
            }
        }
    }
}

/// The page's resources as a dictionary of its own (they may be inherited or indirect),
/// with its `XObject` dictionary direct too, ready to take the appearances.
pub fn own_resources(document: &Document, page: &Dictionary) -> Dictionary {
    let deref =
        |o: &Object| document.dereference(o).ok().and_then(|(_, o)| o.as_dict().ok()).cloned();
    let mut resources = inherited(document, page, b"Resources").and_then(deref).unwrap_or_default();
    if let Some(xobjects) = resources.get(b"XObject").ok().and_then(deref) {
        resources.set("XObject", xobjects);
    }
    resources
}

/// The references to the page's content streams. `Contents` may be one stream, an array
/// of them, or a reference to such an array (`issue6127.pdf`, `i1040nr.pdf`: put inside
/// the new array as it was, that reference hid the page's whole text).
fn page_contents(document: &Document, page: &Dictionary) -> Vec<Object> {
    let Ok(contents) = page.get(b"Contents") else { return Vec::new() };
    let target = match contents {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    };
    match target {
        Some(Object::Array(parts)) => parts.clone(),
        Some(Object::Stream(_)) if matches!(contents, Object::Reference(_)) => {
            vec![contents.clone()]
        }
        _ => Vec::new(),
    }
}

/// A password field's widget: what its appearance shows is never written (it should be
/// dots, but need not be); `pdf` leaves it out.
fn is_password(document: &Document, widget: &Dictionary) -> bool {
    const PASSWORD: i64 = 1 << 13;
    let flags = inherited(document, widget, b"Ff").and_then(|f| f.as_i64().ok()).unwrap_or(0);
    let text = inherited(document, widget, b"FT").and_then(|t| t.as_name().ok()) == Some(b"Tx");
    text && flags & PASSWORD != 0
}

fn is_subtype(annot: &Dictionary, subtype: &[u8]) -> bool {
    annot.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == subtype)
}

/// The appearance stream `annot` shows and the matrix that puts it at the annotation's
/// rectangle, for an annotation on view.
fn appearance<'a>(
    document: &'a Document,
    annot: &Dictionary,
) -> Option<(ObjectId, &'a Stream, [f32; 6])> {
    let flags = annot.get(b"F").and_then(Object::as_i64).unwrap_or(0);
    if flags & (HIDDEN | NO_VIEW) != 0 || is_subtype(annot, b"Popup") {
        return None;
    }
    let ap = document.dereference(annot.get(b"AP").ok()?).ok()?.1.as_dict().ok()?;
    let mut normal = ap.get(b"N").ok()?;
    // A state dictionary (check boxes, radio buttons): the state `AS` names.
    if let Ok((_, Object::Dictionary(states))) = document.dereference(normal) {
        normal = states.get(annot.get(b"AS").and_then(Object::as_name).ok()?).ok()?;
    }
    let id = normal.as_reference().ok()?;
    let form = document.get_object(id).ok()?.as_stream().ok()?;
    let bbox = numbers(document, form.dict.get(b"BBox").ok()?)?;
    let matrix = match form.dict.get(b"Matrix") {
        Ok(m) => numbers(document, m)?,
        Err(_) => vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    };
    let rect = numbers(document, annot.get(b"Rect").ok()?)?;
    Some((id, form, placed(&bbox, &matrix, &rect)?))
}

/// The matrix mapping the form's box, as its matrix transforms it, onto the rectangle:
/// PDF 32000-1, 12.5.5, algorithm 8.1 (the form's own matrix is applied by `Do`).
fn placed(bbox: &[f32], matrix: &[f32], rect: &[f32]) -> Option<[f32; 6]> {
    let [x1, y1, x2, y2] = <[f32; 4]>::try_from(bbox).ok()?;
    let m = <[f32; 6]>::try_from(matrix).ok()?;
    let corners = [(x1, y1), (x2, y1), (x1, y2), (x2, y2)]
        .map(|(x, y)| (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]));
    let (lo_x, hi_x) =
        corners.iter().fold((f32::MAX, f32::MIN), |(l, h), &(x, _)| (l.min(x), h.max(x)));
    let (lo_y, hi_y) =
        corners.iter().fold((f32::MAX, f32::MIN), |(l, h), &(_, y)| (l.min(y), h.max(y)));
    let (width, height) = (hi_x - lo_x, hi_y - lo_y);
    if width.abs() < f32::EPSILON || height.abs() < f32::EPSILON {
        return None;
    }
    let [left, bottom, right, top] = <[f32; 4]>::try_from(rect).ok()?;
    let (sx, sy) = ((right - left).abs() / width, (top - bottom).abs() / height);
    let transform = [sx, 0.0, 0.0, sy, left.min(right) - lo_x * sx, bottom.min(top) - lo_y * sy];
    transform.iter().all(|v| v.is_finite()).then_some(transform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appearance_is_scaled_and_moved_onto_its_rectangle() {
        let identity = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        // A 100 × 20 form on a 50 × 10 rectangle at (200, 300).
        let m = placed(&[0.0, 0.0, 100.0, 20.0], &identity, &[200.0, 300.0, 250.0, 310.0]);
        assert_eq!(m, Some([0.5, 0.0, 0.0, 0.5, 200.0, 300.0]));
        // Its box away from the origin, the rectangle's corners the other way round.
        let m = placed(&[10.0, 10.0, 110.0, 30.0], &identity, &[250.0, 310.0, 200.0, 300.0]);
        assert_eq!(m, Some([0.5, 0.0, 0.0, 0.5, 195.0, 295.0]));
        // Turned a quarter by its matrix: the turned box (20 wide, 100 high) is fitted.
        let m = placed(
            &[0.0, 0.0, 100.0, 20.0],
            &[0.0, 1.0, -1.0, 0.0, 0.0, 0.0],
            &[0.0, 0.0, 20.0, 100.0],
        );
        assert_eq!(m, Some([1.0, 0.0, 0.0, 1.0, 20.0, 0.0]));
        // A box of no area cannot be fitted.
        assert_eq!(placed(&[0.0, 0.0, 0.0, 20.0], &identity, &[0.0, 0.0, 1.0, 1.0]), None);
    }
}
