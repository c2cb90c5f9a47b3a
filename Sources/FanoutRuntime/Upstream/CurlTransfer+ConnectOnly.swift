import CCurl
import FanoutCore
import Glibc

/// Connect-only transfers for `Upgrade` tunnels (see `Tunnel`): libcurl opens the connection (name lookup,
/// `connect_to`, TLS with the upstream's settings) through the multi handle, then hands the bytes to fanout with
/// `curl_easy_send` / `curl_easy_recv` (7.18.1+; CURLOPT_CONNECT_ONLY with TLS works in Debian's 7.88.1).
extension CurlTransfer {
    /// What one `curl_easy_send` or `curl_easy_recv` came to.
    enum TunnelIO {
        case moved(Int)
        case wouldBlock
        /// The partner ended its side (a read of 0 bytes).
        case ended
        case failed(String)
    }

    /// Sets the handle up to connect only. The handle is a fresh one, never pooled afterwards.
    func prepareConnectOnly(url: String, transport: TransportOptions, connectTimeoutMs: Int) {
        _ = ccurl_easy_setopt_string(easy, CURLOPT_URL, url)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_CONNECT_ONLY, 1)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, max(1, connectTimeoutMs))
        _ = ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, 0)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_FRESH_CONNECT, 1)
        apply(transport)
        // An upgrade exists in HTTP/1.1 only: TLS offers http/1.1 alone in ALPN, whatever `http2` says.
        _ = ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, 0)
    }

    /// The connection's socket (CURLINFO_ACTIVESOCKET), once connected.
    var activeSocket: Int32? {
        var socket: curl_socket_t = CURL_SOCKET_BAD
        guard ccurl_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK, socket != CURL_SOCKET_BAD
        else { return nil }
        return socket
    }

    func tunnelSend(_ bytes: UnsafeRawBufferPointer) -> TunnelIO {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .moved(0) }
        var sent = 0
        let code = curl_easy_send(easy, base, bytes.count, &sent)
        switch code {
        case CURLE_OK: return .moved(sent)
        case CURLE_AGAIN: return .wouldBlock
        default: return .failed(errorText(code))
        }
    }

    func tunnelReceive(into buffer: UnsafeMutableRawBufferPointer) -> TunnelIO {
        guard let base = buffer.baseAddress else { return .moved(0) }
        var received = 0
        let code = curl_easy_recv(easy, base, buffer.count, &received)
        switch code {
        case CURLE_OK: return received == 0 ? .ended : .moved(received)
        case CURLE_AGAIN: return .wouldBlock
        default: return .failed(errorText(code))
        }
    }
}
