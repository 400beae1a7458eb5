//! The metadata segments of a JPEG file (EXIF, ICC profile), read from its
//! markers, and written back into an encoded thumbnail.

const SOI: [u8; 2] = [0xFF, 0xD8];
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const SOS: u8 = 0xDA;
const EXIF_HEADER: &[u8] = b"Exif\0\0";
const ICC_HEADER: &[u8] = b"ICC_PROFILE\0";
/// Largest payload of one segment (its length field counts itself).
const MAX_PAYLOAD: usize = 65_533;

/// The metadata found in a JPEG.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JpegMeta {
    /// The EXIF data (a TIFF structure, without the `Exif\0\0` header).
    pub exif: Option<Vec<u8>>,
    /// The ICC profile, its chunks joined in order.
    pub icc: Option<Vec<u8>>,
}

/// The `(marker, payload)` of each segment before the image data.
fn segments(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut pos = if data.starts_with(&SOI) { 2 } else { data.len() };
    std::iter::from_fn(move || {
        // Fill bytes (0xFF) may precede a marker.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let head = data.get(pos..pos + 4)?;
        let (marker, len) = (head[1], usize::from(u16::from_be_bytes([head[2], head[3]])));
        if head[0] != 0xFF || marker == SOS || len < 2 {
            return None;
        }
        let payload = data.get(pos + 4..pos + 2 + len)?;
        pos += 2 + len;
        Some((marker, payload))
    })
}

/// Reads the EXIF and ICC segments of `data`.
pub fn read(data: &[u8]) -> JpegMeta {
    let mut meta = JpegMeta::default();
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    for (marker, payload) in segments(data) {
        if marker == APP1 && meta.exif.is_none() {
            if let Some(exif) = payload.strip_prefix(EXIF_HEADER) {
                meta.exif = Some(exif.to_vec());
            }
        } else if marker == APP2 {
            if let Some([seq, _count, chunk @ ..]) = payload.strip_prefix(ICC_HEADER) {
                icc_chunks.push((*seq, chunk));
            }
        }
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|(seq, _)| *seq);
        meta.icc =
            Some(icc_chunks.into_iter().flat_map(|(_, chunk)| chunk.iter().copied()).collect());
    }
    meta
}

/// `jpeg` with EXIF and ICC segments inserted after its start marker. EXIF
/// larger than one segment is left out (it cannot be split).
pub fn insert(jpeg: &[u8], meta: &JpegMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + 4096);
    out.extend_from_slice(&SOI);
    if let Some(exif) = meta.exif.as_deref().filter(|e| e.len() + EXIF_HEADER.len() <= MAX_PAYLOAD)
    {
        push_segment(&mut out, APP1, &[EXIF_HEADER, exif]);
    }
    if let Some(icc) = meta.icc.as_deref() {
        let chunk_size = MAX_PAYLOAD - ICC_HEADER.len() - 2;
        let count = icc.len().div_ceil(chunk_size);
        if let Ok(count) = u8::try_from(count) {
            for (i, chunk) in icc.chunks(chunk_size).enumerate() {
                push_segment(&mut out, APP2, &[ICC_HEADER, &[i as u8 + 1, count], chunk]);
            }
        }
    }
    out.extend_from_slice(jpeg.strip_prefix(&SOI).unwrap_or(jpeg));
    out
}

fn push_segment(out: &mut Vec<u8>, marker: u8, parts: &[&[u8]]) {
    let len = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with(segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = SOI.to_vec();
        for (marker, payload) in segments {
            push_segment(&mut out, *marker, &[payload]);
        }
        out.extend_from_slice(&[0xFF, SOS, 0, 2, 1, 2, 3, 0xFF, 0xD9]);
        out
    }

    #[test]
    fn reads_exif_and_joins_icc_chunks_in_order() {
        let exif = [EXIF_HEADER, b"II*\0rest"].concat();
        let icc2 = [ICC_HEADER, &[2, 2], b"world"].concat();
        let icc1 = [ICC_HEADER, &[1, 2], b"hello "].concat();
        let data =
            jpeg_with(&[(APP1, exif), (APP2, icc2), (APP2, icc1), (0xE0, b"JFIF\0".to_vec())]);
        let meta = read(&data);
        assert_eq!(meta.exif.as_deref(), Some(&b"II*\0rest"[..]));
        assert_eq!(meta.icc.as_deref(), Some(&b"hello world"[..]));
    }

    #[test]
    fn insert_then_read_round_trips_and_splits_large_profiles() {
        let icc: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let meta = JpegMeta { exif: Some(b"MM\0*data".to_vec()), icc: Some(icc) };
        let plain = jpeg_with(&[]);
        let with = insert(&plain, &meta);
        assert_eq!(read(&with), meta);
        assert!(with.ends_with(&plain[2..]));
    }

    #[test]
    fn garbage_and_truncated_data_yield_nothing() {
        assert_eq!(read(b"not a jpeg"), JpegMeta::default());
        assert_eq!(read(&[0xFF, 0xD8, 0xFF, APP1, 0xFF]), JpegMeta::default());
        let data = jpeg_with(&[(APP1, [EXIF_HEADER, b"II*\0"].concat())]);
        assert_eq!(read(&data[..8]), JpegMeta::default());
    }
}
