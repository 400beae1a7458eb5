//! Writing thumbnails: JPEG with libjpeg-turbo, WebP with libwebp, the other
//! formats with the `image` crate; metadata kept on request.

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageEncoder, RgbImage};
use serde::Deserialize;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

use super::decode::Format;
use super::jpeg_meta::{self, JpegMeta};

/// The format thumbnails are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The input's format.
    #[default]
    Same,
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// Lossy WebP.
    Webp,
}

impl OutputFormat {
    /// The format an input of `input` format is written in.
    pub fn resolve(self, input: Format) -> Format {
        self.named().unwrap_or(input)
    }

    /// The format asked for, unless it is the input's.
    pub fn named(self) -> Option<Format> {
        match self {
            OutputFormat::Same => None,
            OutputFormat::Jpeg => Some(Format::Jpeg),
            OutputFormat::Png => Some(Format::Png),
            OutputFormat::Webp => Some(Format::Webp),
        }
    }
}

/// Encodes `image` as `format`. `quality` (1–100) applies to JPEG and WebP;
/// `meta`, when given, is written into JPEG and PNG outputs.
pub fn encode(
    image: DynamicImage,
    format: Format,
    quality: u8,
    meta: Option<&JpegMeta>,
) -> Result<Vec<u8>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", format.name());
    match format {
        Format::Jpeg => {
            let jpeg = encode_jpeg(image, quality).map_err(|e| fail(&e))?;
            Ok(match meta {
                Some(meta) => jpeg_meta::insert(&jpeg, meta),
                None => jpeg,
            })
        }
        Format::Png => {
            let mut out = Vec::new();
            let mut encoder =
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            if let Some(meta) = meta {
                // Both only fail when the encoder lacks support, which PNG's has.
                if let Some(icc) = meta.icc.clone() {
                    let _ = encoder.set_icc_profile(icc);
                }
                if let Some(exif) = meta.exif.clone() {
                    let _ = encoder.set_exif_metadata(exif);
                }
            }
            encoder
                .write_image(image.as_bytes(), image.width(), image.height(), image.color().into())
                .map_err(|e| fail(&e))?;
            Ok(out)
        }
        Format::Webp => {
            let (w, h) = (image.width(), image.height());
            let memory = if image.color().has_alpha() {
                webp::Encoder::from_rgba(&image.to_rgba8(), w, h)
                    .encode_simple(false, f32::from(quality))
            } else {
                webp::Encoder::from_rgb(&image.to_rgb8(), w, h)
                    .encode_simple(false, f32::from(quality))
            };
            memory.map(|m| m.to_vec()).map_err(|e| fail(&format!("{e:?}")))
        }
        Format::Gif | Format::Tiff | Format::Bmp => {
            let image = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            let mut out = Cursor::new(Vec::new());
            image.write_to(&mut out, format.image_format()).map_err(|e| fail(&e))?;
            Ok(out.into_inner())
        }
    }
}

fn encode_jpeg(image: DynamicImage, quality: u8) -> turbojpeg::Result<Vec<u8>> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (pixels, format, subsamp) = if image.color().has_color() || image.color().has_alpha() {
        (opaque_rgb(image).into_raw(), PixelFormat::RGB, Subsamp::Sub2x2)
    } else {
        (image.into_luma8().into_raw(), PixelFormat::GRAY, Subsamp::Gray)
    };
    let mut compressor = Compressor::new()?;
    compressor.set_quality(i32::from(quality))?;
    compressor.set_subsamp(subsamp)?;
    let pitch = width * format.size();
    compressor.compress_to_vec(turbojpeg::Image {
        pixels: pixels.as_slice(),
        width,
        pitch,
        height,
        format,
    })
}

/// RGB without alpha: transparent pixels over white, as JPEG has no alpha.
fn opaque_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for px in rgba.pixels() {
        let a = u16::from(px[3]);
        rgb.extend(
            px.0[..3].iter().map(|&c| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8),
        );
    }
    RgbImage::from_raw(w, h, rgb).expect("sized for the image")
}
