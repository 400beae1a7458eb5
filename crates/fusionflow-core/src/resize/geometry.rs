//! Sizes: the output size for a mode and box, and how much of a JPEG to decode.

use serde::Deserialize;

/// How an image is made to fit the box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Inside the box, keeping the aspect ratio.
    #[default]
    Fit,
    /// Exactly the box, keeping the aspect ratio: the centre is cropped.
    Fill,
    /// Exactly the box, stretched.
    Exact,
}

/// The requested box and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Largest output width (none: any).
    pub max_width: Option<u32>,
    /// Largest output height (none: any).
    pub max_height: Option<u32>,
    /// How the image is made to fit.
    pub mode: Mode,
    /// Whether images smaller than the box may be enlarged.
    pub upscale: bool,
}

/// The output of one image: its size, and the part of the source it shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Width of the centred source region shown (less than the source's with `fill`).
    pub region_width: f64,
    /// Height of the centred source region shown.
    pub region_height: f64,
}

/// Plans the output of a `width`×`height` image (as displayed, after its orientation).
pub fn plan(width: u32, height: u32, target: &Target) -> Plan {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let bound = |max: Option<u32>| max.map_or(f64::INFINITY, f64::from);
    let (box_w, box_h) = (bound(target.max_width), bound(target.max_height));
    let full = |out_w: f64, out_h: f64| Plan {
        width: to_pixels(out_w),
        height: to_pixels(out_h),
        region_width: w,
        region_height: h,
    };
    match target.mode {
        Mode::Fit => {
            let mut scale = (box_w / w).min(box_h / h);
            if !target.upscale {
                scale = scale.min(1.0);
            }
            if !scale.is_finite() {
                scale = 1.0; // no bound at all
            }
            full(w * scale, h * scale)
        }
        Mode::Exact if target.upscale => full(box_w, box_h),
        Mode::Exact => full(box_w.min(w), box_h.min(h)),
        Mode::Fill => {
            // Without upscaling, a box larger than the image shrinks, keeping its shape.
            let shrink = if target.upscale { 1.0 } else { (w / box_w).min(h / box_h).min(1.0) };
            let (out_w, out_h) = (box_w * shrink, box_h * shrink);
            let aspect = out_w / out_h;
            let (region_w, region_h) =
                if w / h > aspect { (h * aspect, h) } else { (w, w / aspect) };
            Plan {
                width: to_pixels(out_w),
                height: to_pixels(out_h),
                region_width: region_w,
                region_height: region_h,
            }
        }
    }
}

#[allow(clippy::cast_sign_loss)] // clamped to 1.. first
fn to_pixels(size: f64) -> u32 {
    size.round().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// The JPEG DCT scaling to decode with, as a numerator over 8 (1, 2, 4 or 8):
/// the smallest whose decoded region is still at least the output size, so
/// that the final resize only ever reduces (what libvips calls shrink-on-load).
/// `plan` is in the stored orientation of the image.
pub fn jpeg_scale(plan: &Plan) -> usize {
    [1, 2, 4]
        .into_iter()
        .find(|&n| {
            let factor = n as f64 / 8.0;
            (plan.region_width * factor).floor() >= f64::from(plan.width)
                && (plan.region_height * factor).floor() >= f64::from(plan.height)
        })
        .unwrap_or(8)
}

impl Plan {
    /// The same plan for the image turned a quarter (width and height swapped).
    #[must_use]
    pub fn transposed(self) -> Plan {
        Plan {
            width: self.height,
            height: self.width,
            region_width: self.region_height,
            region_height: self.region_width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(w: Option<u32>, h: Option<u32>, mode: Mode, upscale: bool) -> Target {
        Target { max_width: w, max_height: h, mode, upscale }
    }

    fn size(p: Plan) -> (u32, u32) {
        (p.width, p.height)
    }

    #[test]
    fn fit_keeps_the_aspect_ratio_inside_the_box() {
        let t = target(Some(1024), Some(1024), Mode::Fit, false);
        assert_eq!(size(plan(3000, 2000, &t)), (1024, 683));
        assert_eq!(size(plan(2000, 3000, &t)), (683, 1024));
        let t = target(Some(300), None, Mode::Fit, false);
        assert_eq!(size(plan(3000, 2000, &t)), (300, 200));
        let t = target(None, Some(100), Mode::Fit, false);
        assert_eq!(size(plan(3000, 2000, &t)), (150, 100));
    }

    #[test]
    fn small_images_are_not_enlarged_unless_asked() {
        let t = target(Some(1024), Some(1024), Mode::Fit, false);
        assert_eq!(size(plan(400, 300, &t)), (400, 300));
        let t = target(Some(1024), Some(1024), Mode::Fit, true);
        assert_eq!(size(plan(400, 300, &t)), (1024, 768));
        let t = target(Some(200), Some(200), Mode::Fill, false);
        assert_eq!(size(plan(100, 50, &t)), (50, 50));
        let t = target(Some(200), Some(200), Mode::Exact, false);
        assert_eq!(size(plan(100, 500, &t)), (100, 200));
        let t = target(Some(200), Some(200), Mode::Exact, true);
        assert_eq!(size(plan(100, 500, &t)), (200, 200));
    }

    #[test]
    fn fill_crops_the_centre_to_the_box_shape() {
        let t = target(Some(200), Some(200), Mode::Fill, false);
        let p = plan(3000, 2000, &t);
        assert_eq!(size(p), (200, 200));
        assert!((p.region_width - 2000.0).abs() < 1e-9 && (p.region_height - 2000.0).abs() < 1e-9);
        let t = target(Some(400), Some(100), Mode::Fill, false);
        let p = plan(1000, 1000, &t);
        assert_eq!(size(p), (400, 100));
        assert!((p.region_width - 1000.0).abs() < 1e-9 && (p.region_height - 250.0).abs() < 1e-9);
    }

    #[test]
    fn tiny_outputs_keep_at_least_one_pixel() {
        let t = target(Some(10), Some(10), Mode::Fit, false);
        assert_eq!(size(plan(10_000, 10, &t)), (10, 1));
    }

    #[test]
    fn jpeg_scale_decodes_no_less_than_the_output() {
        let t = target(Some(1024), Some(1024), Mode::Fit, false);
        assert_eq!(jpeg_scale(&plan(3000, 2000, &t)), 4); // 4/8: 1500x1000 >= 1024x683
        let t = target(Some(256), Some(256), Mode::Fit, false);
        assert_eq!(jpeg_scale(&plan(3000, 2000, &t)), 1); // 375x250 >= 256x171
        let t = target(Some(2000), Some(2000), Mode::Fit, false);
        assert_eq!(jpeg_scale(&plan(3000, 2000, &t)), 8);
        // fill: the cropped region must still cover the output
        let t = target(Some(700), Some(700), Mode::Fill, false);
        assert_eq!(jpeg_scale(&plan(3000, 2000, &t)), 4); // region 2000x2000 at 1/4 is 500 < 700
    }

    #[test]
    fn transposed_swaps_the_axes() {
        let t = target(Some(1024), Some(1024), Mode::Fit, false);
        let p = plan(2000, 3000, &t).transposed();
        assert_eq!(size(p), (1024, 683));
    }
}
