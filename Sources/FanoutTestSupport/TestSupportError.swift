import Glibc

/// An error thrown by the test-support sockets, naming the failing call and, for system errors, the errno.
///
/// The support target imports neither XCTest nor Testing, so every failure surfaces as this error and the
/// test decides what to do with it (`#expect(throws:)`, `try`, or inspecting ``kind``).
public struct TestSupportError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a fact.
    public enum Kind: Sendable, Equatable {
        /// A system call failed with this errno.
        case system(errno: Int32)
        /// A blocking socket call hit its `SO_RCVTIMEO`/`SO_SNDTIMEO` deadline (`EAGAIN`/`EWOULDBLOCK`).
        case timedOut
        /// The peer closed the connection before a complete message arrived.
        case unexpectedEOF
        /// Bytes on the wire were not valid HTTP/1.x, or an argument could not be used (for example a host
        /// that is not a numeric address).
        case malformed
    }

    /// What went wrong.
    public var kind: Kind
    /// The C call or operation that failed, for example `"recv"`, `"connect"` or `"parse response"`.
    public var call: String
    /// Extra human-readable context; may be empty.
    public var detail: String

    /// Creates an error; prefer the static constructors.
    public init(kind: Kind, call: String, detail: String = "") {
        self.kind = kind
        self.call = call
        self.detail = detail
    }

    /// The errno behind a ``Kind/system(errno:)`` or ``Kind/timedOut`` error, otherwise `nil`.
    public var errno: Int32? {
        switch self.kind {
        case .system(let code): return code
        case .timedOut: return EAGAIN
        case .unexpectedEOF, .malformed: return nil
        }
    }

    /// `true` when the failure was a socket timeout.
    public var isTimeout: Bool { self.kind == .timedOut }

    public var description: String {
        var text: String
        switch self.kind {
        case .system(let code):
            text = "\(self.call) failed: \(Self.errnoText(code))"
        case .timedOut:
            text = "\(self.call) timed out: \(Self.errnoText(EAGAIN))"
        case .unexpectedEOF:
            text = "\(self.call): connection closed by peer before the message was complete"
        case .malformed:
            text = "\(self.call): malformed input"
        }
        if !self.detail.isEmpty {
            text += " (\(self.detail))"
        }
        return text
    }

    static func system(_ code: Int32, call: String, detail: String = "") -> TestSupportError {
        if code == EAGAIN || code == EWOULDBLOCK {
            return TestSupportError(kind: .timedOut, call: call, detail: detail)
        }
        return TestSupportError(kind: .system(errno: code), call: call, detail: detail)
    }

    static func unexpectedEOF(call: String, detail: String = "") -> TestSupportError {
        TestSupportError(kind: .unexpectedEOF, call: call, detail: detail)
    }

    static func malformed(call: String, detail: String) -> TestSupportError {
        TestSupportError(kind: .malformed, call: call, detail: detail)
    }

    /// `"ECONNRESET 104: Connection reset by peer"`: symbolic name where known, number, and `strerror` text.
    static func errnoText(_ code: Int32) -> String {
        let message = String(cString: strerror(code))
        if let name = Self.errnoNames[code] {
            return "\(name) \(code): \(message)"
        }
        return "errno \(code): \(message)"
    }

    private static let errnoNames: [Int32: String] = [
        EAGAIN: "EAGAIN", EBADF: "EBADF", ECONNABORTED: "ECONNABORTED", ECONNREFUSED: "ECONNREFUSED",
        ECONNRESET: "ECONNRESET", EINPROGRESS: "EINPROGRESS", EINTR: "EINTR", EINVAL: "EINVAL",
        EMFILE: "EMFILE", ENOTCONN: "ENOTCONN", EPIPE: "EPIPE", ETIMEDOUT: "ETIMEDOUT",
        EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETUNREACH: "ENETUNREACH",
    ]
}
