//! Reading images: the format from the first bytes, the size and orientation
//! from the header, and the pixels, for JPEG at the smallest DCT scale the
//! output allows (libjpeg-turbo), for the other formats with the `image` crate.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use super::jpeg_meta::{self, JpegMeta};

/// The image formats read (and written with `same`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JPEG (baseline and progressive).
    Jpeg,
    /// PNG, 8 and 16 bits.
    Png,
    /// WebP, lossy and lossless.
    Webp,
    /// GIF: the first frame.
    Gif,
    /// TIFF.
    Tiff,
    /// BMP.
    Bmp,
}

impl Format {
    /// The format of `data` from its first bytes; `None` for anything else.
    pub fn sniff(data: &[u8]) -> Option<Format> {
        Some(match image::guess_format(data).ok()? {
            ImageFormat::Jpeg => Format::Jpeg,
            ImageFormat::Png => Format::Png,
            ImageFormat::WebP => Format::Webp,
            ImageFormat::Gif => Format::Gif,
            ImageFormat::Tiff => Format::Tiff,
            ImageFormat::Bmp => Format::Bmp,
            _ => return None,
        })
    }

    /// The name used in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Tiff => "tiff",
            Format::Bmp => "bmp",
        }
    }

    /// File name extensions of the format, the usual one first.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            Format::Png => &["png"],
            Format::Webp => &["webp"],
            Format::Gif => &["gif"],
            Format::Tiff => &["tif", "tiff"],
            Format::Bmp => &["bmp"],
        }
    }

    pub(super) fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::Webp => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
            Format::Tiff => ImageFormat::Tiff,
            Format::Bmp => ImageFormat::Bmp,
        }
    }
}

/// What the header says: enough to plan the output before decoding pixels.
#[derive(Clone, Debug)]
pub struct Header {
    /// The format.
    pub format: Format,
    /// Stored width (before the orientation is applied).
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// How the stored pixels are to be turned for display (EXIF orientation).
    pub orientation: Orientation,
    /// EXIF and ICC profile, kept for `keep_metadata`.
    pub meta: JpegMeta,
}

impl Header {
    /// Width and height as displayed.
    pub fn display_size(&self) -> (u32, u32) {
        if transposes(self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Whether `orientation` swaps width and height.
pub fn transposes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Reads the header of `data`, refusing images of more than `max_pixels`
/// before any pixel memory is allocated (decompression bombs).
pub fn read_header(data: &[u8], max_pixels: u64) -> Result<Header, String> {
    if data.is_empty() {
        return Err("empty file".into());
    }
    let format =
        Format::sniff(data).ok_or("not a supported image (JPEG, PNG, WebP, GIF, TIFF or BMP)")?;
    let header = if format == Format::Jpeg {
        let header = Decompressor::new()
            .and_then(|mut d| d.read_header(data))
            .map_err(|e| format!("corrupt JPEG: {e}"))?;
        let meta = jpeg_meta::read(data);
        let orientation = meta
            .exif
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms);
        Header {
            format,
            width: to_u32(header.width)?,
            height: to_u32(header.height)?,
            orientation,
            meta,
        }
    } else {
        let mut decoder = image_decoder(data, format)?;
        let (width, height) = decoder.dimensions();
        let exif = decoder.exif_metadata().ok().flatten();
        let orientation = match decoder.orientation().unwrap_or(Orientation::NoTransforms) {
            Orientation::NoTransforms => exif
                .as_deref()
                .and_then(exif_orientation)
                .or_else(|| {
                    decoder.xmp_metadata().ok().flatten().as_deref().and_then(xmp_orientation)
                })
                .unwrap_or(Orientation::NoTransforms),
            found => found,
        };
        let meta = JpegMeta { exif, icc: decoder.icc_profile().ok().flatten() };
        Header { format, width, height, orientation, meta }
    };
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels == 0 {
        return Err("image has no pixels".into());
    }
    if pixels > max_pixels {
        return Err(format!(
            "image of {}x{} pixels is larger than max_pixels ({max_pixels})",
            header.width, header.height
        ));
    }
    Ok(header)
}

/// The orientation in an EXIF block, with or without the `Exif\0\0` that WebP writers
/// put before its TIFF header (the image crate expects none, so it missed it).
fn exif_orientation(exif: &[u8]) -> Option<Orientation> {
    Orientation::from_exif_chunk(exif.strip_prefix(b"Exif\0\0").unwrap_or(exif))
}

/// The `tiff:Orientation` of an XMP packet (PNG writers keep it there), as an attribute
/// or an element; Pillow reads it too.
fn xmp_orientation(xmp: &[u8]) -> Option<Orientation> {
    let text = std::str::from_utf8(xmp).ok()?;
    let at = text.find("tiff:Orientation")? + "tiff:Orientation".len();
    let value = text[at..].trim_start_matches(['=', '"', '\'', '>', ' ']);
    let digit = value.chars().next()?.to_digit(10)?;
    Orientation::from_exif(u8::try_from(digit).ok()?)
}

fn to_u32(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "image dimensions out of range".to_string())
}

fn image_decoder(data: &[u8], format: Format) -> Result<impl ImageDecoder + '_, String> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format.image_format());
    // The default limits: 512 MiB of decoder allocations at most.
    reader.limits(Limits::default());
    reader.into_decoder().map_err(|e| format!("corrupt {}: {e}", format.name()))
}

/// Decodes the pixels in their stored orientation. JPEGs are decoded at
/// `jpeg_scale`/8 of their size.
pub fn decode(data: &[u8], header: &Header, jpeg_scale: usize) -> Result<DynamicImage, String> {
    if header.format == Format::Jpeg {
        return decode_jpeg(data, jpeg_scale).map_err(|e| format!("corrupt JPEG: {e}"));
    }
    let decoder = image_decoder(data, header.format)?;
    DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("corrupt {}: {e}", header.format.name()))
}

fn decode_jpeg(data: &[u8], scale: usize) -> turbojpeg::Result<DynamicImage> {
    let mut decompressor = Decompressor::new()?;
    let factor = ScalingFactor::new(scale, 8);
    decompressor.set_scaling_factor(factor)?;
    let header = decompressor.read_header(data)?;
    let scaled = header.scaled(factor);
    let format = match header.colorspace {
        Colorspace::Gray => PixelFormat::GRAY,
        Colorspace::CMYK | Colorspace::YCCK => PixelFormat::CMYK,
        _ => PixelFormat::RGB,
    };
    let pitch = scaled.width * format.size();
    let mut pixels = vec![0; pitch * scaled.height];
    let image = turbojpeg::Image {
        pixels: pixels.as_mut_slice(),
        width: scaled.width,
        pitch,
        height: scaled.height,
        format,
    };
    decompressor.decompress(data, image)?;
    let (width, height) = (scaled.width as u32, scaled.height as u32);
    Ok(match format {
        PixelFormat::GRAY => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        PixelFormat::CMYK => {
            RgbImage::from_raw(width, height, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8)
        }
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    }
    .expect("the buffer was sized for the image"))
}

/// CMYK as stored by Adobe applications (inverted: 255 is no ink) to RGB, the
/// conversion browsers and libvips use without a colour profile.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = u16::from(px[3]);
        rgb.extend(px[..3].iter().map(|&c| ((u16::from(c) * k + 127) / 255) as u8));
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_from_xmp_attributes_and_elements_and_prefixed_exif() {
        let attribute = br#"<rdf:Description tiff:Orientation="6"/>"#;
        assert_eq!(xmp_orientation(attribute), Some(Orientation::Rotate90));
        let element = b"<tiff:Orientation>8</tiff:Orientation>";
        assert_eq!(xmp_orientation(element), Some(Orientation::Rotate270));
        assert_eq!(xmp_orientation(b"<x:xmpmeta/>"), None);
        // Little-endian TIFF with one IFD entry: Orientation (0x0112) = 3.
        let tiff = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x03\0\0\0\0\0\0\0";
        assert_eq!(exif_orientation(tiff), Some(Orientation::Rotate180));
        let prefixed = [b"Exif\0\0".as_slice(), tiff].concat();
        assert_eq!(exif_orientation(&prefixed), Some(Orientation::Rotate180));
    }

    #[test]
    fn sniffs_formats_by_content_not_name() {
        assert_eq!(Format::sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
        assert_eq!(Format::sniff(b"GIF89a...."), Some(Format::Gif));
        assert_eq!(Format::sniff(b"%PDF-1.7"), None);
        assert_eq!(Format::sniff(b""), None);
    }

    #[test]
    fn empty_and_unknown_files_are_refused_with_a_reason() {
        assert_eq!(read_header(b"", 1000).unwrap_err(), "empty file");
        assert!(read_header(b"hello world", 1000)
            .unwrap_err()
            .starts_with("not a supported image"));
        assert!(read_header(b"\xFF\xD8\xFF\xE0\x00", 1000)
            .unwrap_err()
            .starts_with("corrupt JPEG"));
    }

    #[test]
    fn cmyk_white_and_full_ink() {
        assert_eq!(
            cmyk_to_rgb(&[255, 255, 255, 255, 0, 255, 255, 255]),
            vec![255, 255, 255, 0, 255, 255]
        );
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0]), vec![0, 0, 0]);
    }
}
