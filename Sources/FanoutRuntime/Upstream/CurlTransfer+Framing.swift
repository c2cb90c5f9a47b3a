import CCurl

// MARK: - An answer longer than its Content-Length

extension CurlTransfer {
    /// Whether the answer that just completed carried more bytes than its `Content-Length` declared.
    ///
    /// libcurl 7.88.1 cuts such an answer to the declared length and reports success: the extra bytes are only
    /// mentioned in a verbose-mode line ("Excess found in a read") and the connection is closed instead of kept
    /// (hardening notes §3.2). So an HTTP/1.1 answer with a `Content-Length` and without `Connection: close`,
    /// whose connection libcurl did not keep, overran its declared length: the body fanout holds is a prefix
    /// of what the partner sent, not the answer.
    ///
    /// Call it after a CURLE_OK completion and before `curl_multi_remove_handle`: CURLINFO_ACTIVESOCKET looks
    /// the transfer's last connection up in the multi handle's connection cache, and answers CURL_SOCKET_BAD
    /// once libcurl has closed it.
    func answerOverranContentLength() -> Bool {
        guard self.contentLength != nil, self.expectsConnectionReuse else {
            return false
        }
        var socket: curl_socket_t = CURL_SOCKET_BAD
        guard ccurl_easy_getinfo_socket(self.easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK else {
            return false
        }
        return socket == CURL_SOCKET_BAD
    }
}
