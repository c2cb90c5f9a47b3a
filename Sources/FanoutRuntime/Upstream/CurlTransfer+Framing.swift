import CCurl

// MARK: - An answer longer than its Content-Length

extension CurlTransfer {
    /// Whether the answer that just completed carried more bytes than its `Content-Length` declared.
    ///
    /// libcurl 7.88.1 cuts such an answer to the declared length and reports success: the extra bytes are only
    /// mentioned in a verbose-mode line ("Excess found in a read") and the connection is closed instead of kept
    /// (docs/design/hardening.md, "libcurl 7.88.1 against faulty partners"). So an HTTP/1.1 answer with a
    /// `Content-Length` and without `Connection: close`, whose connection libcurl did not keep, overran its
    /// declared length: the body fanout holds is a prefix
    /// of what the partner sent, not the answer.
    ///
    /// A decoded answer (`accept_encoding`) is not mistaken for an overrun: its `Content-Length`, libcurl's own
    /// length check and CURLINFO_SIZE_DOWNLOAD_T count encoded bytes (measured with 7.88.1: 54 for a gzip answer
    /// whose write callback got 10,008 decoded bytes), and nothing here compares them with `body.count`.
    ///
    /// A HEAD answer never overran: no body was framed. libcurl 8 closes its connection when bytes follow it
    /// ("ignoring body"; 7.88.1 keeps it and the idle watch drops it), which must not read as an overrun
    /// (`PartnerLeftoverBytesTests.headAnswersPassTheirLengthOnAndFrameNoByte` under scripts/test-libcurl8.sh).
    ///
    /// Call it after a CURLE_OK completion and before `curl_multi_remove_handle`: CURLINFO_ACTIVESOCKET looks
    /// the transfer's last connection up in the multi handle's connection cache, and answers CURL_SOCKET_BAD
    /// once libcurl has closed it.
    func answerOverranContentLength() -> Bool {
        guard self.partnerFraming.hasContentLength, self.expectsConnectionReuse, !self.asksHeadOnly else {
            return false
        }
        var socket: curl_socket_t = CURL_SOCKET_BAD
        guard ccurl_easy_getinfo_socket(self.easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK else {
            return false
        }
        return socket == CURL_SOCKET_BAD
    }

    /// The socket of the HTTP/1.x connection libcurl keeps in its pool after the transfer that just completed;
    /// nil when it closed it (or the answer came over HTTP/2, whose framing no stray byte can break). Same
    /// timing as ``answerOverranContentLength()``: before `curl_multi_remove_handle`.
    func keptHTTP1Connection() -> Int32? {
        var version = 0
        guard ccurl_easy_getinfo_long(self.easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK,
            version == CURL_HTTP_VERSION_1_1 || version == CURL_HTTP_VERSION_1_0
        else { return nil }
        var socket: curl_socket_t = CURL_SOCKET_BAD
        guard ccurl_easy_getinfo_socket(self.easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK,
            socket != CURL_SOCKET_BAD
        else { return nil }
        return socket
    }

    /// Whether a raw header line is a `Connection` field with a `close` token (ASCII, any case), read from
    /// the bytes: String's `lowercased().contains` cost about 14,000 instructions per line (callgrind).
    static func asksToClose(_ line: UnsafeRawBufferPointer, colon: Int, value: Range<Int>) -> Bool {
        let name: StaticString = "connection"
        let token: StaticString = "close"
        guard colon == name.utf8CodeUnitCount else {
            return false
        }
        for i in 0..<colon where line[i] | 0x20 != name.utf8Start[i] {
            return false
        }
        let length = token.utf8CodeUnitCount
        var at = value.lowerBound
        while at + length <= value.upperBound {
            var matches = true
            for i in 0..<length where line[at + i] | 0x20 != token.utf8Start[i] {
                matches = false
                break
            }
            if matches {
                return true
            }
            at += 1
        }
        return false
    }
}
