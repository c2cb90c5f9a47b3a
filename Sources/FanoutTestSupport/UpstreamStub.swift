import Foundation

/// A scripted HTTP/1.1 upstream for end-to-end tests, on plain blocking sockets and its own threads.
///
/// It deliberately does not use the proxy's event loop: a bug there must not be able to hide itself by
/// breaking the oracle too. It binds `127.0.0.1:0`, so tests read ``port`` or ``baseURL`` after creating it.
///
/// ```swift
/// let users = try UpstreamStub(routes: [
///     "/users/me": .json(#"{"id":1}"#, delayMs: 50),
///     "/slow": .neverRespond,
/// ])
/// defer { users.stop() }
/// ```
///
/// Routes are looked up by path (the request target without its query). Connections are kept alive
/// (HTTP/1.1 default, `Connection: close` and HTTP/1.0 honoured) and pipelined requests are answered in
/// order. Request bodies may be sent with `Content-Length` or `Transfer-Encoding: chunked`; an
/// `Expect: 100-continue` request gets an interim `100 Continue` before its body is read.
public final class UpstreamStub: @unchecked Sendable {
    // @unchecked: the only stored property is `server`, whose mutable state is guarded by its lock.

    /// What the stub does with a request on a given route.
    public enum Behavior: Sendable {
        /// Answers with this status, headers and body after `delayMs`, keeping the connection alive.
        /// `Content-Length` is added unless `headers` has `Content-Length` or `Transfer-Encoding`
        /// (not for 1xx, 204 and 304).
        case respond(
            status: Int = 200,
            headers: [(String, String)] = [("Content-Type", "application/json")],
            body: [UInt8],
            delayMs: Int = 0
        )
        /// 200 with `Content-Type: application/json` and this body, after `delayMs`.
        case json(String, delayMs: Int = 0)
        /// Reads the request, then closes the connection without answering.
        case closeWithoutResponse
        /// Reads the request, then holds the connection open without answering until the client closes it
        /// or the stub stops.
        case neverRespond
        /// Sends a 200 head declaring `Content-Length: 100`, then 10 body bytes, then resets the connection
        /// (`SO_LINGER` 0 and `close`, so the peer sees RST).
        case resetAfterHeaders
        /// Writes these bytes verbatim as the whole response after `delayMs`, then closes.
        case raw([UInt8], delayMs: Int = 0)

        // MARK: Faults of a failing partner

        /// Sends a 200 JSON head declaring `body.count` bytes, then the body one byte every `everyMs`. Keeps the
        /// connection alive if the whole body went out; stops at the first failed write (the client gave up).
        case drip(body: [UInt8], everyMs: Int)
        /// Sends a 200 JSON head declaring `Content-Length: 100`, then no body byte: holds the connection until
        /// the client closes it or the stub stops.
        case hangAfterHeaders
        /// Sends a 200 JSON head declaring `Content-Length: declared` and then `body`, in one write, then closes
        /// (FIN). With `declared < body.count` the extra bytes follow the declared body at once; with
        /// `declared > body.count` the body is short.
        case wrongContentLength(declared: Int, body: [UInt8])
        /// Sends a 200 JSON head with two `Content-Length` fields, `first` then `second`, then `body`, in one
        /// write, then closes.
        case duplicateContentLength(first: Int, second: Int, body: [UInt8])
        /// Sends a 200 JSON answer of exactly `bytes` body bytes (one JSON string, at least 2 bytes) with
        /// `Transfer-Encoding: chunked` and no `Content-Length`, in 16 KiB chunks. Keeps the connection alive if
        /// everything went out; stops at the first failed write (the client aborted).
        case giantChunked(bytes: Int)
        /// Answers 200 `{}` with `count` extra header fields `X-<n>: ` followed by `valueBytes` letters (short
        /// names, so 5,000 one-letter fields stay under 64 KiB), keeping the connection alive.
        case manyHeaders(count: Int, valueBytes: Int = 1)
        /// Answers `status` (a 3xx) with `Location: location` and a small JSON body, keeping the connection alive.
        case redirect(to: String, status: Int = 302)
        /// Sends a chunked 200 JSON head whose first chunk-size line is not hexadecimal (`zz`), then closes.
        case badChunk
        /// Plays `steps` as the whole answer (status line, framing and all, nothing added or checked), then
        /// reads the next request on the same connection when `thenServe` is true, else closes it (FIN). The
        /// most flexible fault: an answer with both `Content-Length` and `Transfer-Encoding`, an HTTP/0.9 answer,
        /// 1xx answers before the final one, bytes after the declared end in a later packet.
        case scripted([WireStep], thenServe: Bool = false)

        // MARK: Changing over time

        /// The n-th request on the path (counted from the stub's start, 0-based) gets `first[n]`; later ones
        /// get `then`. For example a partner whose first request is slow or fails, and later ones succeed:
        /// `.sequence([.neverRespond], then: .json("{}"))`.
        indirect case sequence([Behavior], then: Behavior)
        /// The behavior `answer` returns for the request, called on the connection's thread: a partner that
        /// answers by what the request carries (``TokenEndpointStub`` checks credentials and tokens this way).
        case computed(@Sendable (StubRequest) -> Behavior)
    }

    /// One step of a ``Behavior/scripted(_:thenServe:)`` answer.
    public enum WireStep: Sendable {
        /// Writes these bytes verbatim.
        case send([UInt8])
        /// Waits this long (cut short when the stub stops).
        case pause(milliseconds: Int)

        /// Writes `text` as UTF-8, verbatim.
        public static func text(_ text: String) -> WireStep {
            .send(Array(text.utf8))
        }
    }

    private let server: StubServer

    /// Binds `127.0.0.1:0`, listens, and starts serving on background threads (one accept thread, one
    /// thread per connection).
    /// - Parameters:
    ///   - routes: behavior per request path (exact match, query ignored).
    ///   - fallback: behavior for every other path; by default a JSON 404.
    ///   - idleTimeoutMs: the partner's keep-alive timeout (nginx's `keepalive_timeout`): a connection that
    ///     waits this long for its next request after an answer is closed (FIN). `nil`: kept until the client
    ///     closes it or the stub stops.
    /// - Throws: ``TestSupportError`` if the socket cannot be created, bound or put into listening state.
    public init(
        routes: [String: Behavior],
        fallback: Behavior = .respond(status: 404, body: Array(#"{"error":"not found"}"#.utf8)),
        idleTimeoutMs: Int? = nil
    ) throws {
        self.server = try StubServer(routes: routes, fallback: fallback, idleTimeoutMs: idleTimeoutMs)
        self.server.start()
    }

    deinit {
        self.server.stop()
    }

    /// The port the stub listens on.
    public var port: UInt16 { self.server.port }

    /// `"http://127.0.0.1:PORT"`.
    public var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// How many complete requests have been received so far, on all connections. A request counts as soon as
    /// it has been read, before its behavior runs, so the count is current once its response arrives.
    public var requestCount: Int { self.server.withLock { $0.requests.count } }

    /// How many requests have been received for `path` (exact match, query ignored).
    public func requests(forPath path: String) -> Int {
        self.server.withLock { state in state.requests.count(where: { $0.path == path }) }
    }

    /// Makes `behavior` the answer to requests for `path` read from now on (a partner that changes its answer,
    /// starts failing or slows down mid-test).
    public func setBehavior(_ behavior: Behavior, forPath path: String) {
        self.server.withLock { $0.routes[path] = behavior }
    }

    /// Every request received so far, in arrival order.
    public var receivedRequests: [StubRequest] { self.server.withLock { $0.requests } }

    /// How many connections have been accepted since the stub started.
    public var connectionsAccepted: Int { self.server.withLock { $0.connectionsAccepted } }

    /// How many accepted connections are still open on the stub's side.
    public var activeConnections: Int { self.server.withLock { $0.connections.count } }

    /// Closes the listener and every connection and waits for the stub's threads to finish.
    ///
    /// Threads blocked in `accept`, `recv`, `send` or a response delay are woken (`shutdown(SHUT_RDWR)`,
    /// then a condition broadcast), so this returns promptly. Idempotent; `deinit` calls it too. The wait is
    /// bounded at 2 s so a test run can never hang here; a warning goes to standard error if it expires.
    public func stop() {
        self.server.stop()
    }
}
