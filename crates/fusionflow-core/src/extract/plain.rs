//! Text in any encoding to UTF-8: a byte order mark decides, then valid UTF-8
//! is taken as such, else the encoding is guessed (chardetng, Firefox's
//! detector).

use encoding_rs::Encoding;

use super::Extracted;

/// Decodes `data`, naming the encoding found.
pub fn decode(data: &[u8]) -> (String, &'static Encoding) {
    let encoding = if let Some((encoding, _)) = Encoding::for_bom(data) {
        encoding
    } else if std::str::from_utf8(data).is_ok() {
        encoding_rs::UTF_8
    } else {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        detector.feed(data, true);
        detector.guess(None, chardetng::Utf8Detection::Allow)
    };
    // decode() drops the BOM and replaces malformed sequences.
    let (text, _, _) = encoding.decode(data);
    (text.into_owned(), encoding)
}

/// Plain text (also Markdown, CSV, logs): the decoded text itself.
pub fn extract(data: &[u8]) -> Extracted {
    let (text, encoding) = decode(data);
    Extracted { text, encoding: Some(encoding.name().to_owned()), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_utf8_and_legacy_encodings() {
        assert_eq!(decode(b"\xEF\xBB\xBFcaf\xC3\xA9").0, "café");
        assert_eq!(decode(b"\xFF\xFEh\0i\0").0, "hi");
        assert_eq!(decode("naïve".as_bytes()).1, encoding_rs::UTF_8);
        let latin1 = b"Le caf\xE9 est tr\xE8s bon, d\xE9j\xE0 servi \xE0 la fen\xEAtre.";
        let (text, encoding) = decode(latin1);
        assert_eq!(text, "Le café est très bon, déjà servi à la fenêtre.");
        assert_eq!(encoding, encoding_rs::WINDOWS_1252);
    }
}
