//! The zlib dictionary SPDY/3 header blocks are compressed with
//! (draft-mbelshe-httpbis-spdy-00, section 2.6.10.1): a run of
//! length-prefixed header names and values, then a run of plain text.

/// Names and values stored with a 4-byte big-endian length before each.
const PREFIXED: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The plain text that follows, in order.
const TEXT: [&str; 7] = [
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
];

/// Builds the dictionary.
pub fn spdy3_dictionary() -> Vec<u8> {
    let mut dict = Vec::with_capacity(1423);
    for word in PREFIXED {
        dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dict.extend_from_slice(word.as_bytes());
    }
    for text in TEXT {
        dict.extend_from_slice(text.as_bytes());
    }
    dict
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every SPDY/3 header block's zlib stream names the dictionary by its
    /// Adler-32 (the `DICTID` after the `0x38 0xea` header).
    #[test]
    fn the_dictionary_has_spdy3s_adler32() {
        let dict = spdy3_dictionary();
        let mut a: u32 = 1;
        let mut b: u32 = 0;
        for &byte in &dict {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2, "length {}", dict.len());
    }
}
