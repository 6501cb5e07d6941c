//! The ISO 13616 IBAN check: characters, length and the mod-97 check digits (the length per
//! country is not checked).

/// Why `iban` (electronic format: no spaces) is not an IBAN, as the end of a sentence, or
/// `None` when it is one.
pub(crate) fn iban_problem(iban: &str) -> Option<String> {
    let b = iban.as_bytes();
    if let Some(c) = iban.chars().find(|c| !c.is_ascii_uppercase() && !c.is_ascii_digit()) {
        return Some(format!(
            "it contains {:?}: an IBAN (electronic format) has only the digits and upper-case letters A-Z",
            c
        ));
    }
    if !(15..=34).contains(&b.len()) {
        return Some(format!("it has {} characters, an IBAN has 15 to 34", b.len()));
    }
    if !b[..2].iter().all(u8::is_ascii_uppercase) {
        return Some("it does not start with a two-letter country code".into());
    }
    if !b[2..4].iter().all(u8::is_ascii_digit) || matches!(&b[2..4], b"00" | b"01" | b"99") {
        return Some("its check digits (characters 3 and 4) are not 02 to 98".into());
    }
    // Country code and check digits moved to the end, letters as 10..=35, the number mod 97 is 1.
    let remainder = b[4..].iter().chain(&b[..4]).fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    (remainder != 1).then(|| "its ISO 13616 mod-97 check digits do not match".into())
}

#[cfg(test)]
mod tests {
    use super::iban_problem;

    #[test]
    fn valid_ibans() {
        for ok in [
            "BE68539007547034",
            "BE71096123456769",
            "BE62510007547061",
            "GB82WEST12345698765432",
            "DE89370400440532013000",
            "NL91ABNA0417164300",
            "NO9386011117947", // 15 characters
            "MT84MALT011000012345MTLCAST001S",
            "LC55HEMM000100010012001200023015", // 32 characters
        ] {
            assert_eq!(iban_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn one_changed_digit_fails_the_checksum() {
        let e = iban_problem("BE68539007547035").unwrap_or_default();
        assert!(e.contains("mod-97"), "{e}");
        assert!(iban_problem("BE69539007547034").is_some_and(|e| e.contains("mod-97")));
        // two adjacent digits swapped
        assert!(iban_problem("BE68539007547043").is_some());
    }

    #[test]
    fn characters_length_and_check_digits() {
        let cases = [
            ("", "0 characters"),
            ("BE6853900754", "12 characters"),
            ("BE68539007547034BE68539007547034000", "35 characters"),
            ("BE68 5390 0754 7034", "contains ' '"),
            ("be68539007547034", "contains 'b'"),
            ("BE68539007547034\u{1b}", "contains '\\u{1b}'"),
            ("BE6853900754703é", "contains 'é'"),
            ("1E68539007547034", "country code"),
            ("BEX8539007547034", "check digits"),
            ("BE01539007547034", "check digits"),
            ("BE99539007547034", "check digits"),
        ];
        for (iban, expected) in cases {
            let e = iban_problem(iban).unwrap_or_default();
            assert!(e.contains(expected), "{iban:?}: {e}");
        }
    }
}
