import CFanoutTLS

/// What one TLS step on a non-blocking socket came to.
enum TLSStep: Equatable {
    /// The handshake is complete (0), or that many bytes were read or written.
    case done(Int)
    /// Repeat the step when the socket is readable.
    case wantsRead
    /// Repeat the step when the socket is writable.
    case wantsWrite
    /// The server ended the session.
    case closed
    /// The step failed (a verification failure says `certificate verify failed: …`).
    case failed(String)
}

/// A TLS client configuration could not be made (a CA, certificate or key file unreadable or not PEM).
struct TLSSetupError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// Runs `body` with an error buffer for the C shim, and returns its result and the reason written, if any.
private func withErrorBuffer<T>(_ body: (UnsafeMutablePointer<CChar>) -> T) -> (T, String) {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(CFANOUT_TLS_ERROR_SIZE)) { buffer in
        let error = buffer.baseAddress!
        error[0] = 0
        let result = body(error)
        return (result, String(cString: error))
    }
}

/// The TLS client configuration of the store's connections (OpenSSL's `SSL_CTX`): the server is always verified,
/// against `tls_ca` or the system's store, and `tls_cert`/`tls_key` are presented when set. Made once per
/// client (it reads the files), shared by the connections it makes; freed with the last of them.
final class TLSClientContext {
    fileprivate let handle: OpaquePointer

    init(caFile: String?, certificateFile: String?, keyFile: String?) throws(TLSSetupError) {
        let (handle, reason) = withErrorBuffer { error in
            cfanout_tls_context_new(caFile, certificateFile, keyFile, error)
        }
        guard let handle else { throw TLSSetupError(reason: reason) }
        self.handle = handle
    }

    deinit {
        cfanout_tls_context_free(handle)
    }
}

/// One TLS session (OpenSSL's `SSL`) on a connected non-blocking socket it does not own: the owner closes the
/// socket after releasing this. Steps return at once with a ``TLSStep``.
final class TLSConnection {
    private let handle: OpaquePointer
    /// Keeps the configuration alive as long as the session.
    private let context: TLSClientContext

    /// - Parameter serverName: the name the certificate must carry: an IP address (matched against its IP
    ///   addresses, no SNI) or a DNS name (sent as SNI too).
    init(context: TLSClientContext, fd: Int32, serverName: String) throws(TLSSetupError) {
        let (handle, reason) = withErrorBuffer { error in cfanout_tls_new(context.handle, fd, serverName, error) }
        guard let handle else { throw TLSSetupError(reason: reason) }
        self.handle = handle
        self.context = context
    }

    deinit {
        cfanout_tls_free(handle)
    }

    func handshake() -> TLSStep {
        let (status, reason) = withErrorBuffer { error in cfanout_tls_handshake(handle, error) }
        return Self.step(status, count: 0, reason: reason)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSStep {
        var count = 0
        let (status, reason) = withErrorBuffer { error in
            cfanout_tls_read(handle, buffer.baseAddress!, buffer.count, &count, error)
        }
        return Self.step(status, count: count, reason: reason)
    }

    /// Writes some of `bytes` (not empty). After `wantsRead`/`wantsWrite`, repeat with the same bytes.
    func write(_ bytes: UnsafeRawBufferPointer) -> TLSStep {
        var count = 0
        let (status, reason) = withErrorBuffer { error in
            cfanout_tls_write(handle, bytes.baseAddress!, bytes.count, &count, error)
        }
        return Self.step(status, count: count, reason: reason)
    }

    private static func step(_ status: cfanout_tls_status, count: Int, reason: String) -> TLSStep {
        switch status {
        case CFANOUT_TLS_DONE: return .done(count)
        case CFANOUT_TLS_WANTS_READ: return .wantsRead
        case CFANOUT_TLS_WANTS_WRITE: return .wantsWrite
        case CFANOUT_TLS_CLOSED: return .closed
        default: return .failed(reason.isEmpty ? "TLS failed" : reason)
        }
    }
}
