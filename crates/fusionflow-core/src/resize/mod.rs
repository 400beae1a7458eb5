//! The `resize-images` kernel: thumbnails of many images, in parallel over
//! files, mirroring the input tree under the output directory.
//!
//! Each file is read whole, its header checked against the pixel limit, then
//! decoded at the smallest size the output allows (JPEG DCT scaling), resized
//! with a SIMD convolution (`fast_image_resize`), turned upright (EXIF
//! orientation) and encoded. A file that fails, or whose decoder panics, is a
//! per-file error; the run goes on.

mod decode;
mod encode;
pub mod geometry;
mod jpeg_meta;
mod tiff_extra;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions as FirOptions, Resizer};
use image::DynamicImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use decode::Format;
pub use encode::OutputFormat;
use geometry::{Mode, Target};

use crate::mirror::output_names;
use crate::walk::{InputFile, Skipped, WalkOptions};
use crate::{read, thread_pool, Error, FileError, Progress, Result};

/// The resampling filter of the final resize.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filter {
    /// Nearest neighbour (blocky; fastest).
    Nearest,
    /// Bilinear.
    Bilinear,
    /// Catmull-Rom bicubic.
    CatmullRom,
    /// Mitchell-Netravali bicubic.
    Mitchell,
    /// Lanczos with 3 lobes: the sharpest.
    #[default]
    Lanczos3,
}

impl Filter {
    fn algorithm(self) -> ResizeAlg {
        match self {
            Filter::Nearest => ResizeAlg::Nearest,
            Filter::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
            Filter::CatmullRom => ResizeAlg::Convolution(FilterType::CatmullRom),
            Filter::Mitchell => ResizeAlg::Convolution(FilterType::Mitchell),
            Filter::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
        }
    }
}

/// What thumbnails to make (the pipeline's parameters, as JSON from Python).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResizeOptions {
    /// Largest output width.
    pub max_width: Option<u32>,
    /// Largest output height.
    pub max_height: Option<u32>,
    /// How images are made to fit the box.
    pub mode: Mode,
    /// Enlarge images smaller than the box.
    pub upscale: bool,
    /// The output format.
    pub format: OutputFormat,
    /// JPEG and WebP quality, 1–100.
    pub quality: u8,
    /// Keep EXIF (orientation reset) and the ICC profile in JPEG and PNG outputs.
    pub keep_metadata: bool,
    /// The resampling filter.
    pub filter: Filter,
    /// Images with more pixels are refused before decoding (decompression
    /// bombs), and so are outputs with more (an enlarged box).
    pub max_pixels: u64,
    /// Larger files (once decompressed) are refused.
    pub max_file_bytes: u64,
}

impl Default for ResizeOptions {
    fn default() -> Self {
        ResizeOptions {
            max_width: None,
            max_height: None,
            mode: Mode::Fit,
            upscale: false,
            format: OutputFormat::Same,
            quality: 85,
            keep_metadata: false,
            filter: Filter::Lanczos3,
            max_pixels: 100_000_000,
            max_file_bytes: 256 << 20,
        }
    }
}

impl ResizeOptions {
    fn target(&self) -> Result<Target> {
        let positive = |name: &str, v: Option<u32>| match v {
            Some(0) => Err(Error::invalid(name, "must be at least 1")),
            _ => Ok(v),
        };
        let (max_width, max_height) =
            (positive("max_width", self.max_width)?, positive("max_height", self.max_height)?);
        if max_width.is_none() && max_height.is_none() {
            return Err(Error::invalid("max_width", "give max_width, max_height or both"));
        }
        if self.mode != Mode::Fit && (max_width.is_none() || max_height.is_none()) {
            return Err(Error::invalid(
                "mode",
                "fill and exact need both max_width and max_height",
            ));
        }
        if !(1..=100).contains(&self.quality) {
            return Err(Error::invalid("quality", "must be between 1 and 100"));
        }
        Ok(Target { max_width, max_height, mode: self.mode, upscale: self.upscale })
    }
}

/// Everything one run needs.
#[derive(Clone, Debug, Default)]
pub struct ResizeRequest {
    /// Files and directories to read.
    pub inputs: Vec<PathBuf>,
    /// The inputs whose trees are mirrored (a job's inputs, when `inputs` are
    /// the exact files of one of its shards); empty means `inputs`.
    pub roots: Vec<PathBuf>,
    /// How to discover files under directories.
    pub walk: WalkOptions,
    /// What thumbnails to make.
    pub options: ResizeOptions,
    /// Where the thumbnails and `manifest.jsonl` are written.
    pub output_dir: PathBuf,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// One thumbnail written: a line of `manifest.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The input file.
    pub input: String,
    /// The output, relative to the output directory.
    pub output: String,
    /// Format read.
    pub format: String,
    /// Format written.
    pub output_format: String,
    /// Size of the input as displayed.
    pub width: u32,
    /// Height of the input as displayed.
    pub height: u32,
    /// Output width.
    pub new_width: u32,
    /// Output height.
    pub new_height: u32,
    /// Size of the input file.
    pub bytes_in: u64,
    /// Size of the output file.
    pub bytes_out: u64,
    /// What the decoder read past (a JPEG with a defect that Pillow also reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A file read past a defect: see [`Thumbnail::warning`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// The input file.
    pub path: String,
    /// What was read past.
    pub warning: String,
}

/// The result of a run: the contents of `summary.json`.
///
/// `files_total == files_resized + errors.len()`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResizeSummary {
    /// Files found.
    pub files_total: u64,
    /// Thumbnails written.
    pub files_resized: u64,
    /// Bytes of the images read.
    pub bytes_in: u64,
    /// Bytes of the thumbnails written.
    pub bytes_out: u64,
    /// Thumbnails by output format.
    pub formats: BTreeMap<String, u64>,
    /// Files that are not images, are corrupt or too large, with the reason.
    pub errors: Vec<FileError>,
    /// Thumbnails written from files with a defect the decoder read past.
    pub recovered: Vec<Recovered>,
    /// Paths left out during discovery.
    pub skipped: Vec<Skipped>,
    /// The manifest's name inside the output directory.
    pub manifest: String,
    /// Wall time of the run in seconds.
    pub elapsed_s: f64,
    /// Worker threads used.
    pub threads: usize,
}

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.jsonl";

/// Lists the inputs, writes a thumbnail of each image and the manifest.
pub fn run(request: &ResizeRequest, progress: &Progress) -> Result<ResizeSummary> {
    let started = Instant::now();
    let target = request.options.target()?;
    let walker = request.walk.build()?;
    let pool = thread_pool(request.threads)?;
    let listing = walker.list(&request.inputs, &pool)?;
    progress.set_plan(listing.files.len() as u64, listing.total_bytes());
    let roots = if request.roots.is_empty() { &request.inputs } else { &request.roots };
    let format = request.options.format;
    let names = output_names(&listing.files, roots, |name| output_path(&name, format));

    let outcomes: Vec<Outcome> = pool.install(|| {
        listing
            .files
            .par_iter()
            .zip(names)
            .map(|(file, name)| {
                let _reading = progress.start_file(&file.path);
                name.map_or_else(Outcome::Failed, |name| {
                    guarded(|| thumbnail(file, &name, &target, request, progress))
                })
            })
            .collect()
    });

    let mut summary = ResizeSummary {
        files_total: listing.files.len() as u64,
        manifest: MANIFEST.to_owned(),
        skipped: listing.skipped,
        threads: pool.current_num_threads(),
        ..ResizeSummary::default()
    };
    let mut manifest = Vec::new();
    for (file, outcome) in listing.files.iter().zip(outcomes) {
        match outcome {
            Outcome::Written(thumb) => {
                summary.files_resized += 1;
                summary.bytes_in += thumb.bytes_in;
                summary.bytes_out += thumb.bytes_out;
                *summary.formats.entry(thumb.output_format.clone()).or_default() += 1;
                if let Some(warning) = &thumb.warning {
                    let path = thumb.input.clone();
                    summary.recovered.push(Recovered { path, warning: warning.clone() });
                }
                manifest.push(thumb);
            }
            Outcome::Failed(error) => {
                summary.errors.push(FileError { path: crate::names::display(&file.path), error });
            }
            Outcome::Cancelled => return Err(Error::Cancelled),
            Outcome::Transient(message) => return Err(Error::Transient { message }),
        }
    }
    crate::write_atomically(&request.output_dir.join(MANIFEST), |out| {
        for thumb in &manifest {
            serde_json::to_writer(&mut *out, thumb)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What became of one file.
enum Outcome {
    Written(Thumbnail),
    Failed(String),
    /// The run was cancelled while this file was read.
    Cancelled,
    /// Reading failed in a way worth retrying the whole run for.
    Transient(String),
}

/// Runs `work`, turning a panic (a decoder bug on a hostile file) into a per-file error.
fn guarded(work: impl FnOnce() -> Outcome) -> Outcome {
    crate::catch_panic(work)
        .unwrap_or_else(|message| Outcome::Failed(format!("the decoder crashed: {message}")))
}

fn thumbnail(
    file: &InputFile,
    name: &Path,
    target: &Target,
    request: &ResizeRequest,
    progress: &Progress,
) -> Outcome {
    if progress.is_cancelled() {
        return Outcome::Cancelled;
    }
    let limit = request.options.max_file_bytes;
    let data = match read::read_all(&file.path, progress, limit) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            return Outcome::Failed(format!("larger than max_file_bytes ({limit})"));
        }
        Err(e) if read::is_cancelled(&e) => return Outcome::Cancelled,
        Err(e) if read::is_transient(&e) => return Outcome::Transient(e.to_string()),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let options = &request.options;
    let made = make_thumbnail(&data, target, options).and_then(|(made, header)| {
        let format = options.format.resolve(header.format);
        let path = request.output_dir.join(name);
        let bytes = made.bytes.len() as u64;
        crate::write_atomically(&path, |out| out.write_all(&made.bytes))
            .map_err(|e| e.to_string())?;
        let (width, height) = header.display_size();
        Ok(Thumbnail {
            input: crate::names::display(&file.path),
            output: crate::names::display(name),
            format: header.format.name().to_owned(),
            output_format: format.name().to_owned(),
            width,
            height,
            new_width: made.width,
            new_height: made.height,
            bytes_in: data.len() as u64,
            bytes_out: bytes,
            warning: made.warning,
        })
    });
    made.map_or_else(Outcome::Failed, Outcome::Written)
}

/// An encoded thumbnail and its size.
struct Made {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
    warning: Option<String>,
}

/// Decodes `data`, resizes, orients and encodes it.
fn make_thumbnail(
    data: &[u8],
    target: &Target,
    options: &ResizeOptions,
) -> Result<(Made, decode::Header), String> {
    let header = decode::read_header(data, options.max_pixels)?;
    let (width, height) = header.display_size();
    let shown = geometry::plan(width, height, target);
    if u64::from(shown.width) * u64::from(shown.height) > options.max_pixels {
        return Err(format!(
            "an output of {}x{} pixels is larger than max_pixels ({})",
            shown.width, shown.height, options.max_pixels
        ));
    }
    // Planned upright, resized as stored, turned upright last (on the small image).
    let stored = if decode::transposes(header.orientation) { shown.transposed() } else { shown };
    let scale = geometry::jpeg_scale(&stored);
    let (pixels, warning) = decode::decode(data, &header, scale)?;
    let mut small = resize(&pixels, stored.width, stored.height, options)?;
    drop(pixels);
    small.apply_orientation(header.orientation);
    let format = options.format.resolve(header.format);
    let meta = options.keep_metadata.then(|| {
        let mut meta = header.meta.clone();
        if let Some(exif) = meta.exif.as_mut() {
            let _ = image::metadata::Orientation::remove_from_exif_chunk(exif);
        }
        // A profile for other colours than those written (CMYK made RGB) would mislead.
        meta.icc = meta.icc.filter(|icc| icc_fits(icc, &small, format));
        meta
    });
    let (out_w, out_h) = (small.width(), small.height());
    let bytes = encode::encode(small, format, options.quality, meta.as_ref())?;
    Ok((Made { bytes, width: out_w, height: out_h, warning }, header))
}

/// Whether an ICC profile describes the colours `image` is written in: its
/// colour space (header bytes 16..20) is RGB for colour output, GRAY for grey.
fn icc_fits(icc: &[u8], image: &DynamicImage, format: Format) -> bool {
    // JPEG has no grey with alpha: such images are written as RGB.
    let colour = image.color().has_color() || (format == Format::Jpeg && image.color().has_alpha());
    match icc.get(16..20) {
        Some(b"RGB ") => colour,
        Some(b"GRAY") => !colour,
        _ => false,
    }
}

fn resize(
    source: &DynamicImage,
    width: u32,
    height: u32,
    options: &ResizeOptions,
) -> Result<DynamicImage, String> {
    let fill = options.mode == Mode::Fill;
    if source.width() == width && source.height() == height {
        return Ok(source.clone());
    }
    let source = match source {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => std::borrow::Cow::Borrowed(source),
        // 32-bit float and anything newer: 16 bits are plenty for a thumbnail.
        other => std::borrow::Cow::Owned(DynamicImage::ImageRgba16(other.to_rgba16())),
    };
    let mut resized = DynamicImage::new(width, height, source.color());
    let mut fir = FirOptions::new().resize_alg(options.filter.algorithm());
    if fill {
        fir = fir.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new()
        .resize(source.as_ref(), &mut resized, &fir)
        .map_err(|e| format!("cannot resize: {e}"))?;
    Ok(resized)
}

/// The output's path: the input's, unless another format is asked for and
/// the input's extension does not name it already (then it gets that
/// format's extension). Decided from names alone, before reading, so that
/// two inputs bound for one output are caught up front.
fn output_path(name: &Path, format: OutputFormat) -> PathBuf {
    let Some(format) = format.named() else { return name.to_path_buf() };
    let extension = name.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if extension.is_some_and(|e| format.extensions().contains(&e.as_str())) {
        name.to_path_buf()
    } else {
        name.with_extension(format.extensions()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_a_matching_extension_and_change_others() {
        let p = |n: &str, f| output_path(Path::new(n), f);
        assert_eq!(p("a/b.JPG", OutputFormat::Jpeg), Path::new("a/b.JPG"));
        assert_eq!(p("a/b.jpeg", OutputFormat::Jpeg), Path::new("a/b.jpeg"));
        assert_eq!(p("a/b.jpg", OutputFormat::Webp), Path::new("a/b.webp"));
        assert_eq!(p("a/b.png.tmp", OutputFormat::Png), Path::new("a/b.png.png"));
        assert_eq!(p("noext", OutputFormat::Jpeg), Path::new("noext.jpg"));
        assert_eq!(p("a/b.gif", OutputFormat::Same), Path::new("a/b.gif"));
    }

    #[test]
    fn options_need_a_bound_and_both_for_fill() {
        let mut o = ResizeOptions::default();
        assert!(o.target().is_err());
        o.max_width = Some(100);
        assert!(o.target().is_ok());
        o.mode = Mode::Fill;
        assert!(o.target().unwrap_err().to_string().contains("both"));
        o.max_height = Some(0);
        assert!(o.target().unwrap_err().to_string().contains("max_height"));
        o.max_height = Some(10);
        o.quality = 0;
        assert!(o.target().unwrap_err().to_string().contains("quality"));
    }

    #[test]
    fn colour_profiles_are_kept_only_for_their_colour_space() {
        let profile = |space: &[u8; 4]| [&[0u8; 16][..], space, &[0u8; 8]].concat();
        let rgb = DynamicImage::new_rgb8(1, 1);
        let grey = DynamicImage::new_luma8(1, 1);
        let grey_alpha = DynamicImage::new_luma_a8(1, 1);
        assert!(icc_fits(&profile(b"RGB "), &rgb, Format::Jpeg));
        assert!(!icc_fits(&profile(b"CMYK"), &rgb, Format::Jpeg)); // a CMYK JPEG made RGB
        assert!(icc_fits(&profile(b"GRAY"), &grey, Format::Png));
        assert!(!icc_fits(&profile(b"GRAY"), &grey_alpha, Format::Jpeg)); // written as RGB
        assert!(icc_fits(&profile(b"GRAY"), &grey_alpha, Format::Png));
        assert!(!icc_fits(b"short", &rgb, Format::Png));
    }

    #[test]
    fn a_panic_is_a_per_file_error() {
        let outcome = guarded(|| panic!("boom"));
        assert!(matches!(outcome, Outcome::Failed(m) if m.contains("boom")));
    }
}
