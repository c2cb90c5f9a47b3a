import CCurl
import FanoutCore

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
    /// `activeSocket`: the transfer's connection socket at its completion, CURL_SOCKET_BAD once libcurl has
    /// closed it (``UpstreamClient/completedConnectionSocket(of:)``, asked once per completion, after a CURLE_OK
    /// completion and before `curl_multi_remove_handle`).
    func answerOverranContentLength(activeSocket socket: curl_socket_t) -> Bool {
        self.partnerFraming.hasContentLength && self.expectsConnectionReuse && !self.asksHeadOnly
            && socket == CURL_SOCKET_BAD
    }

    /// The socket of the HTTP/1.x connection libcurl keeps in its pool after the transfer that just completed;
    /// nil when it closed it (or the answer came over HTTP/2, whose framing no stray byte can break).
    func keptHTTP1Connection(activeSocket socket: curl_socket_t) -> Int32? {
        let version = self.answerVersion
        guard version == CURL_HTTP_VERSION_1_1 || version == CURL_HTTP_VERSION_1_0, socket != CURL_SOCKET_BAD
        else { return nil }
        return socket
    }

    /// Reads the answer's HTTP version into ``answerVersion``. After a CURLE_OK completion, before
    /// `curl_multi_remove_handle`.
    func noteAnswerVersion() {
        var version = 0
        if ccurl_easy_getinfo_long(self.easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK {
            self.answerVersion = version
        }
    }

    /// CURLINFO_ACTIVESOCKET: the transfer's last connection if libcurl still keeps it, else CURL_SOCKET_BAD.
    /// libcurl 7.88.1 finds it by walking its whole connection cache (7.8k instructions per call with 1,000
    /// connections open, callgrind), so it is asked only when the socket callback did not say which
    /// connection the transfer read (``UpstreamClient/completedConnectionSocket(of:)``).
    func askActiveSocket() -> curl_socket_t {
        var socket: curl_socket_t = CURL_SOCKET_BAD
        guard ccurl_easy_getinfo_socket(self.easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK else {
            return CURL_SOCKET_BAD
        }
        return socket
    }

    /// What fanout reads a response header field for.
    enum FieldKind: Equatable {
        case other
        case contentType
        /// `Cache-Control`, `Vary`, `Expires`, `Date`, `Age` (``CacheHeaders``).
        case cache(CacheHeaders.Field)
        /// `Content-Length`, `Transfer-Encoding`, `Content-Encoding` (``PartnerFraming``).
        case contentLength
        case transferEncoding
        case contentEncoding
    }

    /// Classifies the name of a raw header line (the bytes before `colon`) without making a String of it.
    static func fieldKind(_ line: UnsafeRawBufferPointer, colon: Int) -> FieldKind {
        switch colon {
        case 3: return nameIs(line, colon, "age") ? .cache(.age) : .other
        case 4:
            if nameIs(line, colon, "date") { return .cache(.date) }
            return nameIs(line, colon, "vary") ? .cache(.vary) : .other
        case 7: return nameIs(line, colon, "expires") ? .cache(.expires) : .other
        case 12: return nameIs(line, colon, "content-type") ? .contentType : .other
        case 13: return nameIs(line, colon, "cache-control") ? .cache(.cacheControl) : .other
        case 14: return nameIs(line, colon, "content-length") ? .contentLength : .other
        case 16: return nameIs(line, colon, "content-encoding") ? .contentEncoding : .other
        case 17: return nameIs(line, colon, "transfer-encoding") ? .transferEncoding : .other
        default: return .other
        }
    }

    /// Whether the first `colon` bytes of `line` are `name` (lowercase ASCII), ignoring ASCII case.
    /// Always inlined, as the loop was when it was written out here: called, it cost a plain proxy answer about
    /// 500 instructions more (callgrind).
    @inline(__always)
    static func nameIs(_ line: UnsafeRawBufferPointer, _ colon: Int, _ name: StaticString) -> Bool {
        ASCIICase.equals(UnsafeRawBufferPointer(rebasing: line[..<colon]), name)
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
