//! The TIFFs the image crate refuses or misreads and libtiff (so Pillow and libvips) reads:
//! colour-mapped (palette) images, grey of 2 and 4 bits, and `FillOrder=2`, read with the
//! `tiff` crate underneath it as grey samples and expanded here; YCbCr without chroma
//! subsampling, made RGB here; and uncompressed tiled
//! images with separate colour planes, on which the `tiff` crate panics
//! (image-rs/image-tiff#403), put together here from their tiles.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, RgbImage};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

const PALETTE: u16 = 3;
const BLACK_IS_ZERO: u16 = 1;
const WHITE_IS_ZERO: u16 = 0;
const YCBCR: u16 = 6;
const JPEG: u16 = 7;

/// What this module reads differently, found from the first image's tags.
#[derive(Debug, Default)]
pub struct Quirks {
    /// The colour map (red, green, blue, 16 bits each), for a palette image.
    palette: Option<Vec<u16>>,
    /// Bits per sample of a grey or palette image read here (1, 2, 4 or 8).
    bits: Option<u8>,
    /// `FillOrder=2`: the image data's bits are lowest first.
    bits_reversed: bool,
    /// Width and height, and the `Orientation` tag (1 if none).
    pub size: (u32, u32),
    /// The `Orientation` tag's value (1: as stored).
    pub orientation: u8,
    /// Tiled with separate planes: read here if uncompressed 8-bit, else refused.
    planar_tiles: Option<Result<PlanarTiles, String>>,
    /// YCbCr of 8 bits, a sample per pixel each (no subsampling), not JPEG-compressed:
    /// the `tiff` crate reads the samples, the image crate refuses the colour type.
    ycbcr: bool,
}

/// Where the tiles of an uncompressed, tiled, planar image are.
#[derive(Debug)]
struct PlanarTiles {
    samples: u16,
    tile: (u32, u32),
    offsets: Vec<u64>,
}

impl Quirks {
    /// The quirks of `data`, a TIFF; none for what the image crate reads right.
    pub fn of(data: &[u8]) -> Quirks {
        let Ok(mut tiff) = Decoder::new(Cursor::new(data)) else { return Quirks::default() };
        let photometric = short(&mut tiff, Tag::PhotometricInterpretation);
        let bits = short(&mut tiff, Tag::BitsPerSample).and_then(|b| u8::try_from(b).ok());
        let samples = short(&mut tiff, Tag::SamplesPerPixel).unwrap_or(1);
        let bits_reversed = short(&mut tiff, Tag::FillOrder) == Some(2);
        let orientation = short(&mut tiff, Tag::Orientation).and_then(|o| u8::try_from(o).ok());
        let one_sample_of =
            |wanted: &[u8]| samples == 1 && bits.is_some_and(|b| wanted.contains(&b));
        let (palette, bits) = match photometric {
            Some(PALETTE) if one_sample_of(&[1, 2, 4, 8]) => {
                (tiff.find_tag_unsigned_vec::<u16>(Tag::ColorMap).ok().flatten(), bits)
            }
            Some(BLACK_IS_ZERO | WHITE_IS_ZERO) if one_sample_of(&[2, 4]) => (None, bits),
            _ => (None, None),
        };
        let size = tiff.dimensions().unwrap_or_default();
        let planar_tiles = (short(&mut tiff, Tag::PlanarConfiguration) == Some(2)
            && tiff.find_tag(Tag::TileWidth).ok().flatten().is_some())
        .then(|| planar_tiles(&mut tiff, samples));
        let orientation = orientation.unwrap_or(1);
        let ycbcr = photometric == Some(YCBCR)
            && samples == 3
            && short(&mut tiff, Tag::Compression) != Some(JPEG)
            && tiff.find_tag_unsigned_vec::<u16>(Tag::BitsPerSample).ok().flatten()
                == Some(vec![8, 8, 8])
            // The tag's default is (2, 2): without it the chroma is subsampled.
            && tiff.find_tag_unsigned_vec::<u16>(Tag::ChromaSubsampling).ok().flatten()
                == Some(vec![1, 1]);
        Quirks { palette, bits, bits_reversed, size, orientation, planar_tiles, ycbcr }
    }

    /// Whether the image is read here rather than by the image crate.
    pub fn read_here(&self) -> bool {
        self.bits.is_some() || self.planar_tiles.is_some() || self.ycbcr
    }

    /// `data` as the `tiff` crate reads it right: image bits in the usual order, and a
    /// palette image's samples marked grey (the crate refuses palettes); `None` if `data`
    /// needs neither.
    pub fn prepared(&self, data: &[u8]) -> Option<Vec<u8>> {
        if !self.bits_reversed && self.palette.is_none() {
            return None;
        }
        let mut fixed = data.to_vec();
        let mut tiff = Decoder::new(Cursor::new(data)).ok()?;
        if self.bits_reversed {
            reverse_image_bits(&mut tiff, &mut fixed)?;
        }
        if self.palette.is_some() {
            set_photometric(&mut fixed, BLACK_IS_ZERO)?;
        }
        Some(fixed)
    }

    /// Decodes a TIFF that [`Quirks::read_here`]: samples unpacked, mapped through the
    /// palette (to RGB) or scaled to 8-bit grey.
    pub fn decode(&self, data: &[u8], max_bytes: usize) -> Result<DynamicImage, String> {
        if let Some(tiles) = &self.planar_tiles {
            return tiles.as_ref().map_err(Clone::clone)?.decode(data, self.size, max_bytes);
        }
        let prepared = self.prepared(data);
        let mut limits = Limits::default();
        limits.decoding_buffer_size = max_bytes;
        let corrupt = |e: tiff::TiffError| format!("corrupt tiff: {e}");
        let mut tiff =
            Decoder::new(Cursor::new(prepared.as_deref().unwrap_or(data))).map_err(corrupt)?;
        tiff = tiff.with_limits(limits);
        let (width, height) = tiff.dimensions().map_err(corrupt)?;
        let photometric = tiff.find_tag_unsigned::<u16>(Tag::PhotometricInterpretation);
        let white_is_zero = matches!(photometric, Ok(Some(WHITE_IS_ZERO)));
        let DecodingResult::U8(packed) = tiff.read_image().map_err(corrupt)? else {
            return Err("corrupt tiff: unexpected sample type".into());
        };
        if self.ycbcr {
            let rgb = packed.chunks_exact(3).flat_map(|p| ycbcr_to_rgb(p[0], p[1], p[2]));
            return RgbImage::from_raw(width, height, rgb.collect())
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(|| "corrupt tiff: too few samples".into());
        }
        let bits = self.bits.ok_or("not a TIFF read here")?;
        let samples = unpack(&packed, width as usize, height as usize, bits);
        let levels = (1u16 << bits) - 1;
        if let Some(map) = &self.palette {
            let entries = map.len() / 3;
            let colour =
                |i: usize, c: usize| map.get(c * entries + i).map_or(0, |v| (v >> 8) as u8);
            let rgb = samples.iter().flat_map(|&i| (0..3).map(move |c| colour(i.into(), c)));
            RgbImage::from_raw(width, height, rgb.collect())
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(|| "corrupt tiff: too few samples".into())
        } else {
            let grey = samples.iter().map(|&v| {
                let v = if white_is_zero { levels - u16::from(v) } else { u16::from(v) };
                ((v * 255 + levels / 2) / levels) as u8
            });
            GrayImage::from_raw(width, height, grey.collect())
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(|| "corrupt tiff: too few samples".into())
        }
    }
}

/// A tag of one unsigned value.
fn short(tiff: &mut Decoder<Cursor<&[u8]>>, tag: Tag) -> Option<u16> {
    tiff.find_tag_unsigned::<u16>(tag).ok().flatten()
}

fn planar_tiles(tiff: &mut Decoder<Cursor<&[u8]>>, samples: u16) -> Result<PlanarTiles, String> {
    let unsupported = "a tiled TIFF with separate colour planes, compressed or not of 8 bits a \
        sample, which the TIFF decoder cannot read (image-rs/image-tiff#403)";
    let mut tag = |t| tiff.find_tag_unsigned::<u32>(t).ok().flatten().unwrap_or(0);
    // No Compression tag means none (1).
    let compression = tag(Tag::Compression).max(1);
    let tile = (tag(Tag::TileWidth), tag(Tag::TileLength));
    let bits = tiff.find_tag_unsigned_vec::<u16>(Tag::BitsPerSample).ok().flatten();
    let offsets = tiff.find_tag_unsigned_vec::<u64>(Tag::TileOffsets).ok().flatten();
    match (compression, bits, offsets) {
        (1, Some(bits), Some(offsets))
            if bits.iter().all(|&b| b == 8)
                && matches!(samples, 1 | 3 | 4)
                && tile.0 * tile.1 > 0 =>
        {
            Ok(PlanarTiles { samples, tile, offsets })
        }
        _ => Err(unsupported.to_owned()),
    }
}

impl PlanarTiles {
    /// The image of `size`, each plane's tiles (left to right, top to bottom) interleaved.
    fn decode(
        &self,
        data: &[u8],
        size: (u32, u32),
        max_bytes: usize,
    ) -> Result<DynamicImage, String> {
        let (width, height) = (size.0 as usize, size.1 as usize);
        let (tile_w, tile_h) = (self.tile.0 as usize, self.tile.1 as usize);
        let samples = usize::from(self.samples);
        if width.saturating_mul(height).saturating_mul(samples) > max_bytes {
            return Err(format!("decoding needs more than {max_bytes} bytes"));
        }
        let (across, down) = (width.div_ceil(tile_w), height.div_ceil(tile_h));
        if self.offsets.len() < across * down * samples {
            return Err("corrupt tiff: too few tiles".into());
        }
        let mut pixels = vec![0u8; width * height * samples];
        for (n, &offset) in self.offsets.iter().take(across * down * samples).enumerate() {
            let (plane, tile) = (n / (across * down), n % (across * down));
            let (x0, y0) = (tile % across * tile_w, tile / across * tile_h);
            let start = usize::try_from(offset).map_err(|_| "corrupt tiff: a tile offset")?;
            for row in 0..tile_h.min(height - y0) {
                let at = start + row * tile_w;
                let run = tile_w.min(width - x0);
                let source = data.get(at..at + run).ok_or("corrupt tiff: a tile past the end")?;
                let first = ((y0 + row) * width + x0) * samples + plane;
                for (x, &value) in source.iter().enumerate() {
                    pixels[first + x * samples] = value;
                }
            }
        }
        let (w, h) = (size.0, size.1);
        match samples {
            1 => GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
            3 => RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
            _ => image::RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        }
        .ok_or_else(|| "corrupt tiff: too few samples".into())
    }
}

/// One pixel of full-range YCbCr (ITU-R BT.601, as JPEG and libtiff's defaults) as RGB.
#[allow(clippy::cast_sign_loss)] // clamped to 0..=255 first
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let channel = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [channel(y + 1.402 * cr), channel(y - 0.344_136 * cb - 0.714_136 * cr), channel(y + 1.772 * cb)]
}

/// The samples of `bits` bits each, rows padded to whole bytes, one byte each.
fn unpack(packed: &[u8], width: usize, height: usize, bits: u8) -> Vec<u8> {
    if bits == 8 {
        return packed.to_vec();
    }
    let per_byte = 8 / usize::from(bits);
    let row_bytes = width.div_ceil(per_byte);
    let mask = (1u8 << bits) - 1;
    let mut out = Vec::with_capacity(width * height);
    for row in packed.chunks(row_bytes.max(1)).take(height) {
        out.extend((0..width).map(|x| {
            let byte = row.get(x / per_byte).copied().unwrap_or(0);
            let shift = 8 - usize::from(bits) * (x % per_byte + 1);
            (byte >> shift) & mask
        }));
    }
    out
}

/// Reverses the bits of every byte of the first image's strips or tiles in `data`.
fn reverse_image_bits(tiff: &mut Decoder<Cursor<&[u8]>>, data: &mut [u8]) -> Option<()> {
    let (offsets, counts) = if tiff.find_tag(Tag::TileOffsets).ok()?.is_some() {
        (Tag::TileOffsets, Tag::TileByteCounts)
    } else {
        (Tag::StripOffsets, Tag::StripByteCounts)
    };
    let offsets = tiff.find_tag_unsigned_vec::<u64>(offsets).ok()??;
    let counts = tiff.find_tag_unsigned_vec::<u64>(counts).ok()??;
    for (&offset, &count) in offsets.iter().zip(&counts) {
        let start = usize::try_from(offset).ok()?.min(data.len());
        let end = start.saturating_add(usize::try_from(count).ok()?).min(data.len());
        data[start..end].iter_mut().for_each(|b| *b = b.reverse_bits());
    }
    Some(())
}

/// Sets the first image's `PhotometricInterpretation` (a SHORT held in its IFD entry) in
/// `data`, a classic or Big TIFF.
fn set_photometric(data: &mut [u8], value: u16) -> Option<()> {
    let big_endian = match data.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let read = |bytes: &[u8]| -> u64 {
        let mut n = 0u64;
        for i in 0..bytes.len() {
            let b = if big_endian { bytes[i] } else { bytes[bytes.len() - 1 - i] };
            n = (n << 8) | u64::from(b);
        }
        n
    };
    let big = read(data.get(2..4)?) == 43;
    let (ifd, count_size, entry_size) = if big {
        (usize::try_from(read(data.get(8..16)?)).ok()?, 8, 20)
    } else {
        (usize::try_from(read(data.get(4..8)?)).ok()?, 2, 12)
    };
    let entries = usize::try_from(read(data.get(ifd..ifd + count_size)?)).ok()?;
    for n in 0..entries.min(4096) {
        let at = ifd + count_size + n * entry_size;
        if read(data.get(at..at + 2)?) == 262 {
            let value_at = at + if big { 12 } else { 8 };
            let bytes = if big_endian { value.to_be_bytes() } else { value.to_le_bytes() };
            data.get_mut(value_at..value_at + 2)?.copy_from_slice(&bytes);
            return Some(());
        }
    }
    None
}
