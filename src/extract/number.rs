//! Strict decimal parsing of stamp values.

/// Why a stamp value is not a number gapwatch accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// Empty, or something other than ASCII digits (signs, spaces, letters).
    NotANumber,
    /// More than u64 can hold.
    TooLarge,
}

/// Parses ASCII decimal digits into a u64: no sign, no whitespace, no
/// leading `+`, no overflow. Leading zeros are allowed, however many.
#[inline]
pub fn parse_u64(bytes: &[u8]) -> Result<u64, NumberError> {
    if bytes.is_empty() {
        return Err(NumberError::NotANumber);
    }
    let zeros = bytes.iter().take_while(|b| **b == b'0').count();
    let bytes = if zeros == bytes.len() {
        &bytes[bytes.len() - 1..]
    } else {
        &bytes[zeros..]
    };
    if bytes.len() > 20 {
        return Err(if bytes.iter().all(u8::is_ascii_digit) {
            NumberError::TooLarge
        } else {
            NumberError::NotANumber
        });
    }
    let mut n: u64 = 0;
    let mut overflow = false;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(NumberError::NotANumber);
        }
        match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d))) {
            Some(v) => n = v,
            None => overflow = true,
        }
    }
    if overflow {
        Err(NumberError::TooLarge)
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_digits_only() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"17"), Ok(17));
        assert_eq!(parse_u64(b"007"), Ok(7));
        assert_eq!(parse_u64(b"000"), Ok(0));
        // Found by tests/fuzz_extract.rs: zero-padded past 20 characters.
        assert_eq!(
            parse_u64(b"009586572355540908826"),
            Ok(9_586_572_355_540_908_826)
        );
        assert_eq!(parse_u64(&[b'0'; 1000]), Ok(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"1.0",
            b"0x10",
            b"\xff",
            b"1e3",
        ] {
            assert_eq!(parse_u64(bad), Err(NumberError::NotANumber), "{bad:?}");
        }
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(NumberError::TooLarge)
        );
        assert_eq!(
            parse_u64(b"99999999999999999999999"),
            Err(NumberError::TooLarge)
        );
        assert_eq!(parse_u64(&[b'1'; 1 << 20]), Err(NumberError::TooLarge));
    }
}
