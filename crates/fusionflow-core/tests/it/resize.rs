use fusionflow_core::resize::{self, geometry::Mode, ResizeOptions, ResizeRequest, Thumbnail};
use fusionflow_core::{Error, Progress};
use image::{DynamicImage, ImageFormat, RgbImage};

use crate::testutil::Dir;

/// A `width`×`height` picture with a gradient, encoded as `format`.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image).write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height).flat_map(|i| [(i % 251) as u8, 90, 200]).collect();
    let image = turbojpeg::Image {
        pixels: pixels.as_slice(),
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2).unwrap().to_vec()
}

/// The size of an encoded image, decoding it whole (JPEG with libjpeg-turbo: the `image`
/// crate is built without its JPEG decoder).
fn decoded_size(data: &[u8]) -> (u32, u32) {
    if data.starts_with(&[0xFF, 0xD8]) {
        let image = turbojpeg::decompress(data, turbojpeg::PixelFormat::RGB).unwrap();
        return (image.width as u32, image.height as u32);
    }
    let image = image::load_from_memory(data).unwrap();
    (image.width(), image.height())
}

fn request(dir: &Dir, options: ResizeOptions) -> ResizeRequest {
    ResizeRequest {
        inputs: vec![dir.input()],
        options,
        output_dir: dir.output(),
        threads: 2,
        ..Default::default()
    }
}

fn manifest(dir: &Dir) -> Vec<Thumbnail> {
    std::fs::read_to_string(dir.output().join(resize::MANIFEST))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn writes_thumbnails_mirroring_the_tree_and_a_manifest_in_input_order() {
    let dir = Dir::new();
    dir.write("2024/big.jpg", jpeg(1600, 1200));
    dir.write("2024/small.png", picture(100, 50, ImageFormat::Png));
    dir.write("z.bmp", picture(400, 400, ImageFormat::Bmp));
    let options =
        ResizeOptions { max_width: Some(200), max_height: Some(200), ..Default::default() };
    let summary = resize::run(&request(&dir, options), &Progress::new()).unwrap();
    assert_eq!((summary.files_total, summary.files_resized), (3, 3));
    assert!(summary.errors.is_empty());
    let entries = manifest(&dir);
    let outputs: Vec<(&str, u32, u32)> =
        entries.iter().map(|t| (t.output.as_str(), t.new_width, t.new_height)).collect();
    assert_eq!(
        outputs,
        [("2024/big.jpg", 200, 150), ("2024/small.png", 100, 50), ("z.bmp", 200, 200)]
    );
    for entry in &entries {
        let written = std::fs::read(dir.output().join(&entry.output)).unwrap();
        assert_eq!(decoded_size(&written), (entry.new_width, entry.new_height));
        assert_eq!(
            entry.bytes_out,
            std::fs::metadata(dir.output().join(&entry.output)).unwrap().len()
        );
    }
    assert_eq!(summary.bytes_out, entries.iter().map(|t| t.bytes_out).sum::<u64>());
}

#[test]
fn bad_files_are_per_file_errors() {
    let dir = Dir::new();
    dir.write("ok.jpg", jpeg(64, 64));
    dir.write("empty.jpg", b"");
    dir.write("text.jpg", b"hello");
    let mut truncated = jpeg(640, 480);
    truncated.truncate(truncated.len() / 2);
    dir.write("truncated.jpg", truncated);
    let options = ResizeOptions { max_width: Some(32), ..Default::default() };
    let summary = resize::run(&request(&dir, options), &Progress::new()).unwrap();
    assert_eq!((summary.files_total, summary.files_resized), (4, 1));
    let errors: Vec<String> = summary.errors.iter().map(|e| e.error.clone()).collect();
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().any(|e| e == "empty file"));
    assert!(errors.iter().any(|e| e.starts_with("not a supported image")));
    assert!(errors.iter().any(|e| e.starts_with("corrupt JPEG")), "{errors:?}");
}

#[test]
fn fill_gives_the_exact_box_and_shards_name_outputs_by_the_job_inputs() {
    let dir = Dir::new();
    let file = dir.write("deep/er/a.jpg", jpeg(300, 200));
    let options = ResizeOptions {
        max_width: Some(50),
        max_height: Some(50),
        mode: Mode::Fill,
        ..Default::default()
    };
    let mut shard = request(&dir, options);
    shard.inputs = vec![file];
    shard.roots = vec![dir.input()];
    shard.walk.exact = true;
    resize::run(&shard, &Progress::new()).unwrap();
    let entries = manifest(&dir);
    assert_eq!(entries[0].output, "deep/er/a.jpg");
    assert_eq!((entries[0].new_width, entries[0].new_height), (50, 50));
}

#[test]
fn invalid_options_and_cancellation_stop_the_run() {
    let dir = Dir::new();
    dir.write("a.jpg", jpeg(64, 64));
    let err = resize::run(&request(&dir, ResizeOptions::default()), &Progress::new()).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }));
    let progress = Progress::new();
    progress.cancel();
    let options = ResizeOptions { max_width: Some(8), ..Default::default() };
    let err = resize::run(&request(&dir, options), &progress).unwrap_err();
    assert!(matches!(err, Error::Cancelled));
}
