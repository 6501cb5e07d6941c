//! PEM (RFC 7468) reading and writing, with errors that say which block and line is broken.
//!
//! Besides strict RFC 7468 text this accepts what tools write in practice: CRLF line ends, text
//! before, between and after blocks, and OpenSSL's legacy `Proc-Type`/`DEK-Info` headers (which
//! mark a legacy encrypted key and are reported as such).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// One decoded PEM block.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    /// The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE`.
    pub label: String,
    /// The decoded body (zeroized on drop: it may be a private key).
    pub der: Zeroizing<Vec<u8>>,
    /// True when OpenSSL legacy headers say the body is encrypted (`Proc-Type: 4,ENCRYPTED`).
    pub legacy_encrypted: bool,
    /// The 1-based line of the BEGIN line.
    pub line: usize,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("len", &self.der.len())
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// Why PEM text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A BEGIN line without its END line.
    #[error("PEM block '{label}' at line {line} has no END line")]
    Unterminated {
        /// The block's label.
        label: String,
        /// Line of the BEGIN line.
        line: usize,
    },
    /// An END line whose label differs from the BEGIN line.
    #[error("PEM block '{label}' at line {line} ends with 'END {end}'")]
    LabelMismatch {
        /// The BEGIN label.
        label: String,
        /// The END label.
        end: String,
        /// Line of the BEGIN line.
        line: usize,
    },
    /// The body is not valid Base64.
    #[error("PEM block '{label}' at line {line} has a broken Base64 body")]
    BadBase64 {
        /// The block's label.
        label: String,
        /// Line of the BEGIN line.
        line: usize,
    },
    /// A body that decodes to nothing.
    #[error("PEM block '{label}' at line {line} is empty")]
    Empty {
        /// The block's label.
        label: String,
        /// Line of the BEGIN line.
        line: usize,
    },
}

/// True when the bytes look like PEM text (a `-----BEGIN ` line somewhere in ASCII text).
pub fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decodes every PEM block in `data`. Text outside blocks is ignored.
pub fn parse(data: &[u8]) -> Result<Vec<Block>, PemError> {
    let text = String::from_utf8_lossy(data);
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let Some(label) = begin_label(line) else { continue };
        let begin_line = i + 1;
        let mut body = Zeroizing::new(String::new());
        let mut legacy_encrypted = false;
        let mut ended = false;
        for (_, line) in lines.by_ref() {
            let line = line.trim();
            if let Some(end) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
                if end != label {
                    return Err(PemError::LabelMismatch {
                        label: label.to_owned(),
                        end: end.to_owned(),
                        line: begin_line,
                    });
                }
                ended = true;
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                // RFC 1421 encapsulated headers (OpenSSL "traditional" encrypted keys).
                if name == "Proc-Type" && value.contains("ENCRYPTED") {
                    legacy_encrypted = true;
                }
                continue;
            }
            body.push_str(line);
        }
        if !ended {
            return Err(PemError::Unterminated { label: label.to_owned(), line: begin_line });
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| PemError::BadBase64 { label: label.to_owned(), line: begin_line })?;
        if der.is_empty() {
            return Err(PemError::Empty { label: label.to_owned(), line: begin_line });
        }
        blocks.push(Block { label: label.to_owned(), der: Zeroizing::new(der), legacy_encrypted, line: begin_line });
    }
    Ok(blocks)
}

fn begin_label(line: &str) -> Option<&str> {
    line.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----")
}

/// Encodes one block as PEM text with 64-column lines and a final newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let text = format!("junk\r\n{}more\n{}", encode("CERTIFICATE", &[1, 2, 3]), encode("X", &[9; 100]));
        let blocks = parse(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(*blocks[0].der, vec![1, 2, 3]);
        assert_eq!(blocks[1].line, 6);

        let broken = "-----BEGIN CERTIFICATE-----\nAB$C\n-----END CERTIFICATE-----\n";
        assert!(matches!(parse(broken.as_bytes()), Err(PemError::BadBase64 { line: 1, .. })));
        let open = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(parse(open.as_bytes()), Err(PemError::Unterminated { .. })));
        let mism = "-----BEGIN A-----\nAAAA\n-----END B-----\n";
        assert!(matches!(parse(mism.as_bytes()), Err(PemError::LabelMismatch { .. })));
    }
}
