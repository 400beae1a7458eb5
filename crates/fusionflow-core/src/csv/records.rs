//! Logical CSV records from a byte stream, recovering from damage row by row.
//!
//! csv-core does the parsing (quotes, escaped quotes, delimiters and newlines
//! inside quoted fields, CRLF). Around it, this reader keeps one promise: a
//! damaged row spoils that row, never its neighbours.
//! - A quote that never closes (a partial write) would make a parser swallow
//!   the rest of the file as one field. A record that spans several lines and
//!   then has the wrong number of fields, or reaches the end of the input or
//!   `max_row_bytes` still inside quotes, is taken for exactly that: the line
//!   where it opened is a bad row and reading resumes at the next line.
//! - A row longer than `max_row_bytes` is a bad row and is skipped without
//!   being buffered, so memory stays bounded whatever the input.
//! - A row with the wrong number of fields is a bad row; a truncated last line
//!   is one bad row.

use std::io::{self, Read};

/// Bytes read from the input at a time.
const CHUNK: usize = 256 * 1024;

/// Why a row was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadRow {
    /// A quote opened on this line never closed.
    UnclosedQuote,
    /// The row has a different number of fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// The row is longer than the configured limit.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRow::UnclosedQuote => f.write_str("unclosed quote"),
            BadRow::FieldCount { expected, found } => {
                write!(f, "expected {expected} fields, found {found}")
            }
            BadRow::TooLong { limit } => write!(f, "row longer than {limit} bytes"),
        }
    }
}

/// One logical record.
#[derive(Debug)]
pub enum Record<'a> {
    /// A well-formed row.
    Row {
        /// The physical line it starts on (1-based).
        line: u64,
        /// Its fields.
        fields: Fields<'a>,
    },
    /// A rejected row.
    Bad {
        /// The physical line it starts on (1-based).
        line: u64,
        /// Why.
        reason: BadRow,
    },
}

/// The fields of one row, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    data: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Fields<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, unquoted.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Memory a reader needs, handed from one file's reader to the next.
#[derive(Debug)]
pub struct Buffers {
    buf: Vec<u8>,
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers { buf: Vec::new(), fields: vec![0; 1024], ends: vec![0; 64] }
    }
}

/// Reads logical records; see the module docs.
pub struct Records<R> {
    input: R,
    eof: bool,
    parser: csv_core::Reader,
    parser_ready: bool,
    delimiter: Option<u8>,
    max_row_bytes: usize,
    /// Number of fields every row must have, once the header is known.
    expected_fields: Option<usize>,
    /// Input bytes; `buf[..end]` is valid. Zeroed once, then reused, so
    /// reading costs no memset.
    buf: Vec<u8>,
    end: usize,
    /// Where the current record starts in `buf`.
    start: usize,
    /// How far the parser has read in `buf`.
    pos: usize,
    /// Line number at `start`.
    line: u64,
    fields: Vec<u8>,
    field_len: usize,
    ends: Vec<usize>,
    nfields: usize,
}

impl<R: Read> Records<R> {
    /// Reads CSV from `input`, fields separated by `delimiter` (detected
    /// from the first line when `None`), reusing `buffers` from an earlier
    /// reader so that a new file costs no allocation.
    pub fn new(input: R, delimiter: Option<u8>, max_row_bytes: usize, buffers: Buffers) -> Self {
        Records {
            input,
            eof: false,
            // Built once the delimiter is known: building csv-core's DFA is not free.
            parser: csv_core::Reader::default(),
            parser_ready: false,
            delimiter,
            max_row_bytes,
            expected_fields: None,
            buf: buffers.buf,
            end: 0,
            start: 0,
            pos: 0,
            line: 1,
            fields: buffers.fields,
            field_len: 0,
            ends: buffers.ends,
            nfields: 0,
        }
    }

    /// Gives the buffers back, for the next file.
    pub fn into_buffers(self) -> Buffers {
        Buffers { buf: self.buf, fields: self.fields, ends: self.ends }
    }

    /// The field separator, detecting it from the first line if it was not given.
    pub fn delimiter(&mut self) -> io::Result<u8> {
        if let Some(delimiter) = self.delimiter {
            if !self.parser_ready {
                self.parser = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
                self.parser_ready = true;
            }
            return Ok(delimiter);
        }
        // Enough input to hold the first line, up to 64 KiB of it.
        while memchr::memchr(b'\n', &self.buf[..self.end]).is_none()
            && self.end < 64 * 1024
            && self.fill()?
        {}
        self.delimiter = Some(sniff_delimiter(&self.buf[..self.end]));
        self.delimiter()
    }

    /// From now on, rows must have this many fields (the header's).
    pub fn expect_fields(&mut self, count: usize) {
        self.expected_fields = Some(count);
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        self.delimiter()?;
        self.start = self.pos;
        self.field_len = 0;
        self.nfields = 0;
        loop {
            self.skip_blank_lines()?;
            if self.pos == self.end && !self.fill()? && self.pos == self.start {
                return Ok(None);
            }
            let input = &self.buf[self.pos..self.end];
            let (result, nin, nout, nend) = self.parser.read_record(
                input,
                &mut self.fields[self.field_len..],
                &mut self.ends[self.nfields..],
            );
            self.pos += nin;
            self.field_len += nout;
            self.nfields += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if self.pos - self.start > self.max_row_bytes {
                        return self.too_long();
                    }
                    // At the end of the input, the next turn lets the parser finish.
                    self.fill()?;
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let len = self.fields.len();
                    self.fields.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let len = self.ends.len();
                    self.ends.resize(len * 2, 0);
                }
                csv_core::ReadRecordResult::Record => return Ok(Some(self.finish_record())),
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// Classifies the record just parsed, `buf[start..pos]`.
    fn finish_record(&mut self) -> Record<'_> {
        let line = self.line;
        let raw = &self.buf[self.start..self.pos];
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let multi_line = memchr::memchr(b'\n', body).is_some();
        let wrong_count = self.expected_fields.filter(|&n| n != self.nfields);
        // Only records that span lines or end the input can hide an unclosed
        // quote; the scan costs nothing on ordinary rows.
        let at_end = self.eof && self.pos == self.end;
        if multi_line || at_end {
            let quotes = scan_quotes(body, self.delimiter.unwrap_or(b','));
            let suspicious = multi_line && (wrong_count.is_some() || !quotes.clean);
            // Ended inside quotes at the end of the input: the parser closed it for us.
            if suspicious || (at_end && quotes.open_at_end) {
                return self.unclosed_quote();
            }
        }
        // A one-line record holds at most its terminating newline.
        self.line += if multi_line {
            memchr::memchr_iter(b'\n', raw).count() as u64
        } else {
            u64::from(raw.ends_with(b"\n"))
        };
        if let Some(expected) = wrong_count {
            let reason = BadRow::FieldCount { expected, found: self.nfields };
            return Record::Bad { line, reason };
        }
        Record::Row {
            line,
            fields: Fields {
                data: &self.fields[..self.field_len],
                ends: &self.ends[..self.nfields],
            },
        }
    }

    /// Rejects the line where the record opened and resumes at the next one.
    fn unclosed_quote(&mut self) -> Record<'_> {
        let line = self.line;
        let first_newline = memchr::memchr(b'\n', &self.buf[self.start..self.pos]);
        self.pos = first_newline.map_or(self.pos, |i| self.start + i + 1);
        self.line += 1;
        self.parser.reset();
        Record::Bad { line, reason: BadRow::UnclosedQuote }
    }

    /// Rejects an over-long row and skips to the end of its first line
    /// without buffering it.
    fn too_long(&mut self) -> io::Result<Option<Record<'_>>> {
        let line = self.line;
        let limit = self.max_row_bytes;
        self.parser.reset();
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                self.pos = self.start + i + 1;
                break;
            }
            // Drop what was read so far: the row is rejected anyway.
            self.end = 0;
            self.start = 0;
            self.pos = 0;
            if !self.fill()? {
                break;
            }
        }
        self.line += 1;
        Ok(Some(Record::Bad { line, reason: BadRow::TooLong { limit } }))
    }

    /// Skips empty lines before a record, counting them.
    fn skip_blank_lines(&mut self) -> io::Result<()> {
        if self.pos != self.start {
            return Ok(());
        }
        loop {
            while let Some(&byte) = self.buf[..self.end].get(self.pos) {
                match byte {
                    b'\n' => self.line += 1,
                    b'\r' => {}
                    _ => {
                        self.start = self.pos;
                        return Ok(());
                    }
                }
                self.pos += 1;
            }
            self.start = self.pos;
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// Reads more input after `pos`, first dropping what is before `start`.
    /// Returns false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.pos -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + CHUNK {
            self.buf.resize(self.end + CHUNK, 0);
        }
        let n = loop {
            match self.input.read(&mut self.buf[self.end..self.end + CHUNK]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
    }
}

/// The most frequent candidate delimiter outside quotes on the first line
/// (a comma when none appears).
fn sniff_delimiter(start: &[u8]) -> u8 {
    let line = start.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for &byte in line {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(entry) = counts.iter_mut().find(|(d, _)| *d == byte) {
                entry.1 += 1;
            }
        }
    }
    // The first candidate wins ties, so a line without any gives a comma.
    counts.iter().rev().max_by_key(|(_, n)| *n).map_or(b',', |(d, _)| *d)
}

/// How a record uses quotes (quotes open only at the start of a field).
struct QuoteScan {
    /// The record ends inside a quoted field.
    open_at_end: bool,
    /// Every closing quote is followed by a delimiter or a line end, as RFC 4180
    /// wants. A closing quote followed by more text means the quote that
    /// opened was not the one it seemed to be.
    clean: bool,
}

fn scan_quotes(record: &[u8], delimiter: u8) -> QuoteScan {
    let (mut quoted, mut at_field_start, mut clean) = (false, true, true);
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        if quoted {
            if b == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                    let next = record.get(i + 1).copied();
                    clean &= matches!(next, None | Some(b'\r' | b'\n')) || next == Some(delimiter);
                }
            }
        } else if b == b'"' && at_field_start {
            quoted = true;
        }
        at_field_start = !quoted && (b == delimiter || b == b'\n');
        i += 1;
    }
    QuoteScan { open_at_end: quoted, clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders every record as `line:field|field` or `line!reason`.
    fn read(input: &str, header_fields: Option<usize>) -> Vec<String> {
        read_with(input.as_bytes(), header_fields, 1 << 20)
    }

    fn read_with(input: &[u8], header_fields: Option<usize>, max: usize) -> Vec<String> {
        let mut records = Records::new(input, Some(b','), max, Buffers::default());
        if let Some(n) = header_fields {
            records.expect_fields(n);
        }
        let mut out = Vec::new();
        while let Some(record) = records.next_record().unwrap() {
            out.push(match record {
                Record::Row { line, fields } => {
                    let text: Vec<String> =
                        fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
                    format!("{line}:{}", text.join("|"))
                }
                Record::Bad { line, reason } => format!("{line}!{reason}"),
            });
        }
        out
    }

    #[test]
    fn plain_quoted_crlf_blank_lines_and_no_final_newline() {
        let input = "a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\r\n\r\nc,\"multi\nline\"\nlast,row";
        assert_eq!(
            read(input, None),
            ["1:a|b", "2:x,1|say \"hi\"", "4:c|multi\nline", "6:last|row"]
        );
    }

    #[test]
    fn wrong_field_counts_are_bad_rows_and_neighbours_survive() {
        let input = "1,2,3\n4,5\n6,7,8,9\n10,11,12\n13,14";
        assert_eq!(
            read(input, Some(3)),
            [
                "1:1|2|3",
                "2!expected 3 fields, found 2",
                "3!expected 3 fields, found 4",
                "4:10|11|12",
                "5!expected 3 fields, found 2",
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_spoils_only_its_own_line() {
        let input = "1,\"oops,3\n4,5,6\n7,8,9\n";
        assert_eq!(read(input, Some(3)), ["1!unclosed quote", "2:4|5|6", "3:7|8|9"]);
        // Also when a later stray quote "closes" it with the wrong field count.
        let input = "1,\"oops,3\n4,5,6\n7,8\"9,x\n10,11,12\n";
        assert_eq!(
            read(input, Some(3)),
            ["1!unclosed quote", "2:4|5|6", "3:7|8\"9|x", "4:10|11|12"]
        );
    }

    #[test]
    fn an_unclosed_quote_on_the_last_line_is_one_bad_row() {
        assert_eq!(read("1,2\n3,\"4\n", Some(2)), ["1:1|2", "2!unclosed quote"]);
        assert_eq!(read("1,2\n3,\"4", Some(2)), ["1:1|2", "2!unclosed quote"]);
    }

    #[test]
    fn legit_multi_line_fields_keep_their_line_numbers() {
        let input = "1,\"a\nb\nc\"\n2,d\n";
        assert_eq!(read(input, Some(2)), ["1:1|a\nb\nc", "4:2|d"]);
    }

    #[test]
    fn over_long_rows_are_skipped_without_buffering() {
        let mut input = b"1,2\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        input.extend(b",y\n3,4\n");
        assert_eq!(
            read_with(&input, Some(2), CHUNK),
            ["1:1|2", &format!("2!row longer than {CHUNK} bytes"), "3:3|4"]
        );
    }

    #[test]
    fn quotes_inside_unquoted_fields_are_literal() {
        assert_eq!(read("5\" screen,2\n", Some(2)), ["1:5\" screen|2"]);
    }
}
