import CCurl
import Glibc

// MARK: - Stray bytes on idle pooled connections (issue 12, point 7)

/// libcurl 7.88.1 does not watch the connections it keeps between transfers, and reuses one even when bytes
/// wait on it: its dead-connection check (`Curl_conn_is_alive`, a 0-timeout poll plus a 1-byte MSG_PEEK) only
/// refuses a connection at EOF. A partner that sends more than its answer declared, after libcurl completed
/// the answer, so plants a response that libcurl reads as the answer to the *next* request on that connection,
/// possibly another client's (tested: `PartnerLeftoverBytesTests`).
///
/// So fanout watches the idle ones itself. After an HTTP/1.x answer completed on a connection libcurl keeps,
/// its socket is registered for reading with this client as handler. Nothing may arrive on an idle
/// HTTP/1.x connection but its end: anything readable (bytes, EOF, an error) means the connection is done.
/// fanout discards the bytes and shuts the socket down (it never closes it: libcurl owns the descriptor), so
/// libcurl's next check finds it at EOF and opens a new connection instead. When libcurl reuses the connection
/// (its socket callback asks for IN/OUT again) the watch ends; when libcurl closes it (CURLOPT_CLOSESOCKETFUNCTION,
/// also for the closes of pooled connections that send no CURL_POLL_REMOVE, curl #16026) the registration goes
/// first, so no stale registration can outlive the descriptor number.
extension UpstreamClient {
    /// A new easy handle whose sockets are closed through ``socketClosing(_:)``.
    func makeTransfer() -> CurlTransfer? {
        guard let transfer = CurlTransfer() else { return nil }
        _ = ccurl_easy_setopt_closesocket_function(transfer.easy, curlCloseSocketCallback)
        _ = ccurl_easy_setopt_pointer(transfer.easy, CURLOPT_CLOSESOCKETDATA, Unmanaged.passUnretained(self).toOpaque())
        return transfer
    }

    /// Starts watching the socket of a connection that just went back to libcurl's pool. A socket that is still
    /// registered is still in use by another transfer and stays libcurl's.
    func watchIdleConnection(_ fd: Int32) {
        guard !loop.isRegistered(fd: fd) else { return }
        idleConnections.insert(fd)
        loop.register(fd: fd, interest: [.read, .readHangup], handler: self)
    }

    /// Something arrived on an idle connection: stray bytes, or its end. The bytes are never an answer (nothing
    /// was asked), so they are read and dropped, and the socket is shut down for libcurl to discard.
    func idleConnectionStirred(_ fd: Int32) {
        idleConnections.remove(fd)
        loop.deregister(fd: fd)
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 1) { buffer in
            // Bounded: a partner streaming without end only delays the shutdown below.
            for _ in 0..<16 {
                guard case .processed(let count)? = try? Socket.read(fd, into: buffer), count > 0 else { break }
            }
        }
        Socket.shutdownBoth(fd)
    }

    /// libcurl is about to close `fd`: it stops being watched, whoever watched it.
    func socketClosing(_ fd: Int32) {
        idleConnections.remove(fd)
        loop.deregister(fd: fd)
    }
}

/// CURLOPT_CLOSESOCKETFUNCTION: libcurl's close of a connection socket, done here after the loop forgot it.
private let curlCloseSocketCallback: curl_closesocket_callback = { clientp, fd in
    if let clientp {
        Unmanaged<UpstreamClient>.fromOpaque(clientp).takeUnretainedValue().socketClosing(fd)
    }
    return Glibc.close(fd)
}
