//! Reading images: the format from the first bytes, the size and orientation
//! from the header, and the pixels, for JPEG at the smallest DCT scale the
//! output allows (libjpeg-turbo), for the other formats with the `image` crate.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use super::jpeg_meta::{self, JpegMeta};
use super::tiff_extra::Quirks;

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
        // BigTIFF (64-bit offsets), which the image crate reads but does not recognise.
        if data.starts_with(b"II+\0") || data.starts_with(b"MM\0+") {
            return Some(Format::Tiff);
        }
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
    /// What libjpeg-turbo found wrong in a JPEG it would not read past (it stops at its
    /// warnings); the image crate's decoder reads it instead.
    pub recovered: Option<String>,
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
    let turbo = (format == Format::Jpeg).then(|| Decompressor::new()?.read_header(data));
    let header = if let Some(Ok(header)) = turbo {
        jpeg_header(data, to_u32(header.width)?, to_u32(header.height)?, None)
    } else if let Some(Err(e)) = turbo {
        let warning = recoverable(&e).ok_or_else(|| format!("corrupt JPEG: {e}"))?;
        let (width, height) = image_decoder(data, format)?.dimensions();
        jpeg_header(data, width, height, Some(warning))
    } else if let Some(quirks) = Some(tiff_quirks(data, format)).filter(Quirks::read_here) {
        let (width, height) = quirks.size;
        let orientation = Orientation::from_exif(quirks.orientation);
        let orientation = orientation.unwrap_or(Orientation::NoTransforms);
        Header { format, width, height, orientation, meta: JpegMeta::default(), recovered: None }
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
        Header { format, width, height, orientation, meta, recovered: None }
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

/// A JPEG's header: its metadata from our marker reader.
fn jpeg_header(data: &[u8], width: u32, height: u32, recovered: Option<String>) -> Header {
    let meta = jpeg_meta::read(data);
    let orientation = meta
        .exif
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Header { format: Format::Jpeg, width, height, orientation, meta, recovered }
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

/// The ways a TIFF is read apart from the image crate (none for other formats).
fn tiff_quirks(data: &[u8], format: Format) -> Quirks {
    if format == Format::Tiff {
        Quirks::of(data)
    } else {
        Quirks::default()
    }
}

/// The image crate's default limit on what its decoders allocate.
const DECODER_BYTES: usize = 512 << 20;

fn image_decoder(data: &[u8], format: Format) -> Result<impl ImageDecoder + '_, String> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format.image_format());
    // The default limits: 512 MiB of decoder allocations at most.
    reader.limits(Limits::default());
    reader.into_decoder().map_err(|e| format!("corrupt {}: {e}", format.name()))
}

/// The warning to report if `error` is one of libjpeg's warnings about data it can read
/// past ("Corrupt JPEG data: 5 extraneous bytes before marker 0xdb", a bad ICC marker, a
/// bad Huffman code), which libjpeg-turbo's API turns into errors. Pillow and libvips
/// ignore them; a truncated file ("Premature end of JPEG file") stays an error, as in
/// Pillow.
fn recoverable(error: &turbojpeg::Error) -> Option<String> {
    const WARNINGS: [&str; 5] = [
        "Corrupt JPEG data:",
        "Invalid SOS parameters for sequential JPEG",
        "Inconsistent progression sequence",
        "Warning: unknown JFIF revision number",
        "Unknown Adobe color transform code",
    ];
    let turbojpeg::Error::TurboJpegError(message) = error else { return None };
    WARNINGS
        .iter()
        .any(|w| message.starts_with(w))
        .then(|| format!("read past a defect (libjpeg: {message})"))
}

/// Decodes the pixels in their stored orientation, and says what was read past. JPEGs
/// are decoded at `jpeg_scale`/8 of their size by libjpeg-turbo, or whole by the image
/// crate where libjpeg-turbo stops at a warning.
pub fn decode(
    data: &[u8],
    header: &Header,
    jpeg_scale: usize,
) -> Result<(DynamicImage, Option<String>), String> {
    if header.format == Format::Jpeg && header.recovered.is_none() {
        match decode_jpeg(data, jpeg_scale) {
            Ok(decoded) => return Ok(decoded),
            Err(e) => {
                let warning = recoverable(&e).ok_or_else(|| format!("corrupt JPEG: {e}"))?;
                return decode_image(data, header.format).map(|image| (image, Some(warning)));
            }
        }
    }
    decode_image(data, header.format).map(|image| (image, header.recovered.clone()))
}

/// Decodes with the image crate.
fn decode_image(data: &[u8], format: Format) -> Result<DynamicImage, String> {
    let quirks = tiff_quirks(data, format);
    if quirks.read_here() {
        return quirks.decode(data, DECODER_BYTES);
    }
    let prepared = quirks.prepared(data);
    let decoder = image_decoder(prepared.as_deref().unwrap_or(data), format)?;
    DynamicImage::from_decoder(decoder).map_err(|e| format!("corrupt {}: {e}", format.name()))
}

/// With libjpeg-turbo, and what it read past: its API reports a warning as an error, but
/// only once the whole image is decoded, as libjpeg (so Pillow) decodes it.
fn decode_jpeg(data: &[u8], scale: usize) -> turbojpeg::Result<(DynamicImage, Option<String>)> {
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
    let warning = match decompressor.decompress(data, image) {
        Ok(()) => None,
        Err(e) => Some(recoverable(&e).ok_or(e)?),
    };
    let (width, height) = (scaled.width as u32, scaled.height as u32);
    let image = match format {
        PixelFormat::GRAY => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        PixelFormat::CMYK => {
            RgbImage::from_raw(width, height, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8)
        }
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    }
    .expect("the buffer was sized for the image");
    Ok((image, warning))
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
