import CCurl
import FanoutCore
import Glibc

/// One reusable libcurl easy handle plus the per-transfer state its callbacks fill in.
///
/// Owned by an `UpstreamClient`'s pool; its address is the handle's CURLOPT_PRIVATE/WRITEDATA/HEADERDATA,
/// passed unretained: the pool keeps the object alive for as long as the handle exists.
final class CurlTransfer {
    /// Why a transfer was aborted from inside a callback (libcurl then reports CURLE_WRITE_ERROR).
    enum AbortReason {
        case bodyTooLarge
        case headersTooLarge
        case tooManyHeaderFields
        /// The head cannot be framed unambiguously (see `PartnerFraming`).
        case ambiguousFraming(PartnerFraming.Fault)
    }

    let easy: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private(set) var headerList: UnsafeMutablePointer<curl_slist>?
    /// CURLOPT_HTTPHEADER was set to `headerList` (it is set again only when the list's head changes).
    private var headerListApplied = false
    /// The CURLOPT_CONNECT_TO list of the transport last applied (libcurl reads it during the transfer).
    private var connectToList: UnsafeMutablePointer<curl_slist>?
    /// The transport options last set on the handle: set again only when a call to another upstream differs.
    private var appliedTransport: TransportOptions?
    /// The CURLOPT_ACCEPT_ENCODING this handle has; `.some(nil)`: set to none.
    private var appliedAcceptEncoding: String??
    /// The prebuilt URL (CURLOPT_CURLU) this handle has; nil: a URL string (CURLOPT_URL) per transfer.
    private var appliedURLHandle: OpaquePointer?
    /// Per-transfer options as last set on the handle: a reused handle keeps its options, so one that did not
    /// change is not set again (each `curl_easy_setopt` is a call into libcurl's option switch).
    private var appliedConnectTimeoutMs = -1
    private var appliedTimeoutMs = -1
    private var appliedFreshConnect = -1
    private var appliedMaxRedirects = -1
    /// The handle is set for a bodiless GET (no CUSTOMREQUEST, NOBODY, UPLOAD nor POST state left).
    private var appliedPlainGet = false
    /// libcurl's built-in CA bundle and directory (CURLINFO_CAINFO/CAPATH, 7.84+), restored for an upstream
    /// without `tls_ca` after the handle served one with it.
    private let defaultCAFile: String?
    private let defaultCAPath: String?

    /// The ``CurlLane`` (index) of the client whose multi handle has this transfer, set when it is added.
    var lane = 0

    // Per-transfer state, reset by `prepare`.
    var id: UInt64 = 0
    /// `AdmissionSlot.raw` of the call, for admission accounting.
    var slot: Int = 0
    /// The half-open probe of its slot's circuit breaker.
    var isProbe = false
    /// The call's `abort_grace` (``CallPolicy/abortGraceMs``): how long it may run on unseen once let go.
    var abortGraceMs = 0
    /// `UpstreamRequest.upstreamName`, for the connection counters.
    var upstreamName = ""
    var startedAt: UInt64 = 0
    var maxBodyBytes: Int = 0
    var captureHeaders = false
    /// CURLINFO_RESPONSE_CODE, read once when the transfer completes.
    var status = 0
    /// CURLINFO_HTTP_VERSION of a completed answer (``noteAnswerVersion()``); 0: unknown.
    var answerVersion = 0
    /// The connection socket libcurl last asked to read for this transfer (its socket callback), and that
    /// socket's opening (``UpstreamClient/socketOpenings``); CURL_SOCKET_BAD: none yet. See
    /// ``UpstreamClient/completedConnectionSocket(of:)``.
    var connectionSocket: curl_socket_t = CURL_SOCKET_BAD
    var connectionSocketOpening: UInt64 = 0
    var contentType: String?
    /// The last `Content-Type` this handle received, kept across transfers: a partner answers the same one call
    /// after call, and a value equal to it is reused instead of built again (``contentTypeValue(_:)``).
    private var recentContentType: String?
    /// `Cache-Control`, `Vary`, `Expires`, `Date` and `Age` of the answer, for the call cache; kept only when
    /// ``captureCacheHeaders``.
    var cacheHeaders = CacheHeaders()
    /// The call has a ``CallPolicy/key``: its answer may be cached, for itself or for the calls sharing its
    /// transfer. Other calls keep no caching header (a String per field and answer, for nothing).
    var captureCacheHeaders = false
    /// What the answer's head says about its body's framing; the one length fanout may declare to a client.
    var partnerFraming = PartnerFraming()
    /// The call asked libcurl to decode content codings (CURLOPT_ACCEPT_ENCODING).
    var decodesContent = false
    /// Every response field as a pair of Strings, for a call that keeps them and does not stream its answer.
    var headers: [(String, String)] = []
    /// A streamed answer's fields (a plain proxy route's), kept as the bytes of the lines it passes back
    /// (``passesLines``): no String is made of a field that is only copied.
    var passedLines = ProxiedHeaderLines()
    var passesLines = false
    var headerBytes = 0
    // Failing partners (hardening, point 2): the field count of the current answer, and whether libcurl should
    // keep its connection afterwards (HTTP/1.1 without `Connection: close`); see `CurlTransfer+Framing.swift`.
    var headerFields = 0
    var expectsConnectionReuse = false
    /// The call is a HEAD: its answer's `Content-Length` describes a body that is not sent.
    var asksHeadOnly = false
    var body: [UInt8] = []
    var abortReason: AbortReason?
    var completion: CallCompletion?
    /// Streamed transfers (plain proxy routes): where the request body comes from, where the answer goes.
    var bodySource: BodyPipe?
    var receiver: (any UpstreamReceiver)?
    var headDelivered = false
    /// The directions a callback's PAUSE answer paused (docs/design/libcurl-and-epoll.md, "Pausing"), as the
    /// bits `curl_easy_pause` takes.
    var paused: PausedDirections = []

    /// Directions of a transfer libcurl holds: its raw value is `curl_easy_pause`'s bitmask.
    struct PausedDirections: OptionSet {
        let rawValue: Int32
        /// The write callback answered PAUSE: the client has not taken the answer's bytes.
        static let receive = PausedDirections(rawValue: ccurl_pause_recv)
        /// The read callback answered PAUSE: the client's body has no bytes yet.
        static let send = PausedDirections(rawValue: ccurl_pause_send)
    }

    /// The content codings this libcurl decodes (`accept_encoding`): deflate and gzip with zlib, br with brotli,
    /// zstd with zstd. Debian's libcurl4 7.88.1 has all three.
    static let decodableContentCodings: Set<String> = {
        // `features` is in the struct's first version; CURLVERSION_NOW is a macro Swift does not import.
        guard let info = curl_version_info(CURLVERSION_FIRST) else { return [] }
        let features = Int(info.pointee.features)
        var codings: Set<String> = []
        if features & Int(CURL_VERSION_LIBZ) != 0 { codings.formUnion(["gzip", "deflate"]) }
        if features & Int(CURL_VERSION_BROTLI) != 0 { codings.insert("br") }
        if features & Int(CURL_VERSION_ZSTD) != 0 { codings.insert("zstd") }
        return codings
    }()

    static let maxHeaderBytes = 64 * 1024
    /// Header fields one answer may have (libcurl 7.88.1 has no count limit of its own).
    static let maxHeaderFields = 1000

    init?() {
        guard let easy = curl_easy_init() else { return nil }
        self.easy = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        var caFile: UnsafeMutablePointer<CChar>?
        var caPath: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_pointer(easy, CURLINFO_CAINFO, &caFile)
        _ = ccurl_easy_getinfo_pointer(easy, CURLINFO_CAPATH, &caPath)
        defaultCAFile = caFile.map { String(cString: $0) }
        defaultCAPath = caPath.map { String(cString: $0) }
        let me = Unmanaged.passUnretained(self).toOpaque()
        // Options that never change for the life of the handle (docs/design/libcurl-and-epoll.md, "Options set
        // once per handle").
        _ = ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, me)
        _ = ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me)
        _ = ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me)
        _ = ccurl_easy_setopt_write_function(easy, curlWriteCallback)
        _ = ccurl_easy_setopt_header_function(easy, curlHeaderCallback)
        _ = ccurl_easy_setopt_pointer(easy, CURLOPT_READDATA, me)
        _ = ccurl_easy_setopt_read_function(easy, curlReadCallback)
        _ = ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))
        _ = ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = ccurl_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        // Failing partners: without QUICK_EXIT, removing a transfer that is still resolving a name (deadline,
        // cancel, connect timeout) joins the resolver thread, blocking the loop until getaddrinfo gives up
        // (Curl_resolver_kill in 7.88.1; measured 10 s against an unanswering DNS server). With it the thread
        // is left to finish on its own.
        _ = ccurl_easy_setopt_long(easy, CURLOPT_QUICK_EXIT, 1)
        // Partners are reached directly, as configured. An empty proxy also stops libcurl from reading the
        // *_proxy environment variables with getenv on every transfer (measured: about 1.4k instructions each).
        _ = ccurl_easy_setopt_string(easy, CURLOPT_PROXY, "")
        // Likewise `no_proxy`/`NO_PROXY` (about 700 instructions per transfer; docs/design/libcurl-and-epoll.md).
        _ = ccurl_easy_setopt_string(easy, CURLOPT_NOPROXY, "")
    }

    /// Frees the handle. Call only after it was removed from the multi handle.
    func destroy() {
        curl_easy_cleanup(easy)
        if let list = headerList { curl_slist_free_all(list) }
        headerList = nil
        if let list = connectToList { curl_slist_free_all(list) }
        connectToList = nil
        errorBuffer.deallocate()
    }

    static func from(_ pointer: UnsafeMutableRawPointer) -> CurlTransfer {
        Unmanaged<CurlTransfer>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Runs `body` on the transfer a C callback's user pointer names, without retaining it: libcurl calls back
    /// only while the easy handle is in a multi handle, and the client keeps every such transfer alive (its
    /// `active` table, or a cancelled transfer's grace run). A retain and a release per header line and per
    /// body chunk cost about 100 instructions each time (about 2.2k per `/overview`, callgrind). Every callback
    /// of the transfer's easy handle (header, write, read) goes through here.
    @inline(__always)
    fileprivate static func borrowing<Result>(
        _ pointer: UnsafeMutableRawPointer, _ body: (CurlTransfer) -> Result
    ) -> Result {
        Unmanaged<CurlTransfer>.fromOpaque(pointer)._withUnsafeGuaranteedRef(body)
    }

    /// The transfer whose easy handle `easy` is (its CURLINFO_PRIVATE); nil for a handle that has none.
    static func owning(_ easy: UnsafeMutableRawPointer) -> CurlTransfer? {
        var privatePointer: UnsafeMutablePointer<CChar>?
        _ = ccurl_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &privatePointer)
        guard let privatePointer else { return nil }
        return from(UnsafeMutableRawPointer(privatePointer))
    }

    /// Sets the options that differ per request. Options persist on a reused handle, so every option any
    /// request sets is set (or reset) here, and only when it differs from what the handle has.
    /// `urlHandle`: the request's URL prebuilt (``UpstreamClient`` keeps one per fixed URL); the handle must
    /// stay alive while this easy handle may still use it.
    func prepare(_ request: UpstreamRequest, timeoutMs: Int, urlHandle: OpaquePointer? = nil) {
        status = 0
        answerVersion = 0
        connectionSocket = CURL_SOCKET_BAD
        connectionSocketOpening = 0
        contentType = nil
        // Filled only while capturing (the last transfer's flag, still set here): else there is nothing to clear.
        if captureCacheHeaders { cacheHeaders = CacheHeaders() }
        partnerFraming = PartnerFraming()
        decodesContent = request.policy.acceptEncoding != nil
        headers.removeAll(keepingCapacity: true)
        passedLines.removeAll()
        headerBytes = 0
        headerFields = 0
        expectsConnectionReuse = false
        asksHeadOnly = request.message.method == "HEAD"
        body = []
        abortReason = nil
        errorBuffer[0] = 0
        maxBodyBytes = request.policy.maxResponseBytes
        captureHeaders = request.policy.captureHeaders
        captureCacheHeaders = request.policy.key != nil
        // The hooks are read out of the request once each (every reading of `request.hooks.…` copied the
        // optional out: about 80 instructions each); the checks below read the locals.
        let source = request.hooks.bodySource
        let sink = request.hooks.receiver
        let streamsAnswer = sink != nil
        bodySource = source
        receiver = sink
        passesLines = streamsAnswer && captureHeaders
        headDelivered = false
        paused = []

        // A prebuilt CURLU spares libcurl parsing the URL string on every transfer (about 11,500 instructions
        // with 7.88.1). CURLOPT_CURLU wins over CURLOPT_URL while it is set, so it is cleared for a string URL.
        if let urlHandle {
            if appliedURLHandle != urlHandle {
                _ = ccurl_easy_setopt_pointer(easy, CURLOPT_CURLU, UnsafeMutableRawPointer(urlHandle))
                appliedURLHandle = urlHandle
            }
        } else {
            if appliedURLHandle != nil {
                _ = ccurl_easy_setopt_pointer(easy, CURLOPT_CURLU, nil)
                appliedURLHandle = nil
            }
            _ = ccurl_easy_setopt_string(easy, CURLOPT_URL, request.message.url)
        }
        let connectTimeoutMs = max(1, min(request.policy.connectTimeoutMs, timeoutMs))
        if connectTimeoutMs != appliedConnectTimeoutMs {
            _ = ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMs)
            appliedConnectTimeoutMs = connectTimeoutMs
        }
        // A streamed transfer may last as long as the data keeps moving (a 1 GiB download): its exchange
        // enforces an idle timeout instead of a total one.
        let totalTimeoutMs = streamsAnswer ? 0 : max(1, timeoutMs)
        if totalTimeoutMs != appliedTimeoutMs {
            _ = ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, totalTimeoutMs)
            appliedTimeoutMs = totalTimeoutMs
        }
        // libcurl 7.88.1 silently resends a request whose reused connection died before any answer byte
        // (Curl_retry_request), whatever the method. A new connection is never retried, so a request that must
        // not be repeated costs one connect instead of risking a duplicate.
        let freshConnect = request.policy.mustNotRepeat ? 1 : 0
        if freshConnect != appliedFreshConnect {
            _ = ccurl_easy_setopt_long(easy, CURLOPT_FRESH_CONNECT, freshConnect)
            appliedFreshConnect = freshConnect
        }
        // Redirects are followed only when the upstream sets `follow_redirects N` (set on every transfer: the
        // handle may have served another upstream), and only for GET, HEAD and a POST with a buffered body:
        // after a 301/302/303, 7.88.1 drops the body of a CUSTOMREQUEST method but keeps its name (a PUT went
        // on as a bodiless PUT, tested), and a streamed body cannot be sent twice.
        let follows =
            request.policy.maxRedirects > 0 && source == nil
            && (request.message.method == "GET" || request.message.method == "HEAD" || request.message.method == "POST")
        let maxRedirects = follows ? request.policy.maxRedirects : 0
        if maxRedirects != appliedMaxRedirects {
            _ = ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, follows ? 1 : 0)
            _ = ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, maxRedirects)
            appliedMaxRedirects = maxRedirects
        }
        // Checked on every transfer: a handle that served a composite call may serve a proxy route next, which
        // must not decode. libcurl 7.88.1 decodes a Content-Encoding only while this is set, and hands the write
        // callback decoded bytes, so `maxBodyBytes` counts decoded bytes (a gzip bomb fails as `tooLarge`).
        if appliedAcceptEncoding != .some(request.policy.acceptEncoding) {
            _ = ccurl_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, request.policy.acceptEncoding)
            appliedAcceptEncoding = .some(request.policy.acceptEncoding)
        }
        if appliedTransport != request.policy.transport { apply(request.policy.transport) }

        var hasBody = request.message.body.map { !$0.isEmpty } ?? false
        let plainGet = request.message.method == "GET" && source == nil && !hasBody
        // Method and body. HTTPGET resets POST/UPLOAD/NOBODY state left by a previous request on this handle;
        // a handle whose last request was a plain GET already has that state.
        if !(plainGet && appliedPlainGet) {
            _ = ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, nil)
            _ = ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 0)
            _ = ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        }
        appliedPlainGet = plainGet
        if plainGet {
            // Nothing more: HTTPGET above, or already.
        } else if let pipe = source {
            // The body is read from the client as libcurl sends it: an upload of the declared length, or chunked
            // when the client sent it chunked. UPLOAD implies PUT; the method is set explicitly.
            hasBody = true
            _ = ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1)
            _ = ccurl_easy_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(pipe.declaredLength ?? -1))
            _ = ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.message.method)
        } else if hasBody || request.message.method == "POST" || request.message.method == "PUT"
            || request.message.method == "PATCH"
        {
            let body = request.message.body ?? []
            _ = ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            // COPYPOSTFIELDS: libcurl keeps its own copy, so no Swift buffer has to outlive this call.
            body.withUnsafeBufferPointer { p in
                _ = ccurl_easy_setopt_pointer(
                    easy, CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: p.baseAddress ?? UnsafePointer(bitPattern: 1)))
            }
            if request.message.method != "POST" {
                _ = ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.message.method)
            }
        } else if request.message.method == "HEAD" {
            _ = ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        } else if request.message.method != "GET" {
            _ = ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.message.method)
        }

        // Never let libcurl add `Expect: 100-continue` (up to 1 s of waiting on large bodies).
        setHeaderLines(request.message.headers, expectNothing: hasBody)
    }

    /// Puts `lines` into the handle's header list, reusing its nodes: a line as long as the one a node holds
    /// (the same line, or one whose value has a fixed width: request id, `traceparent`) is copied into the
    /// node's own bytes, so a steady stream of calls to one upstream allocates nothing here and sets
    /// CURLOPT_HTTPHEADER once. libcurl reads the list while it sends the request, never between transfers.
    private func setHeaderLines(_ lines: [String], expectNothing: Bool) {
        let before = headerList
        var previous: UnsafeMutablePointer<curl_slist>?
        var node = headerList
        let count = lines.count + (expectNothing ? 1 : 0)
        for index in 0..<count {
            let line = index < lines.count ? lines[index] : "Expect:"
            if let current = node {
                line.withCString { text in
                    let length = strlen(text)
                    if let data = current.pointee.data, strlen(data) == length {
                        memcpy(data, text, length)
                    } else {
                        free(current.pointee.data)
                        current.pointee.data = strdup(text)
                    }
                }
                previous = current
                node = current.pointee.next
            } else {
                guard let appended = curl_slist_append(nil, line) else { break }
                if let previous { previous.pointee.next = appended } else { headerList = appended }
                previous = appended
            }
        }
        if let rest = node {
            if let previous { previous.pointee.next = nil } else { headerList = nil }
            curl_slist_free_all(rest)
        }
        if headerList != before || !headerListApplied {
            _ = ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)
            headerListApplied = true
        }
    }

    /// Sets the per-upstream connection options. All of them, every time: the handle may have served an
    /// upstream with other ones. libcurl only reuses a pooled connection whose TLS settings and `connect_to`
    /// match the transfer's, so upstreams with different settings never share a connection.
    func apply(_ transport: TransportOptions) {
        appliedTransport = transport
        // Verification stays on unless `tls_verify off` (libcurl's default; set explicitly all the same).
        _ = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, transport.verifyPeer ? 1 : 0)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, transport.verifyPeer ? 2 : 0)
        // `tls_ca` replaces the system store: the built-in directory is dropped along with the bundle.
        _ = ccurl_easy_setopt_string(easy, CURLOPT_CAINFO, transport.caFile ?? defaultCAFile)
        _ = ccurl_easy_setopt_string(easy, CURLOPT_CAPATH, transport.caFile == nil ? defaultCAPath : nil)
        _ = ccurl_easy_setopt_string(easy, CURLOPT_SSLCERT, transport.clientCertificate)
        _ = ccurl_easy_setopt_string(easy, CURLOPT_SSLKEY, transport.clientKey)
        if let list = connectToList { curl_slist_free_all(list) }
        connectToList = transport.connectTo.map { curl_slist_append(nil, $0) } ?? nil
        _ = ccurl_easy_setopt_slist(easy, CURLOPT_CONNECT_TO, connectToList)
        // libcurl 7.88.1 defaults to CURL_HTTP_VERSION_2TLS (h2 over https whenever the partner offers it):
        // HTTP/1.1 is asked for explicitly unless `http2 on`. Over http:// that is h2c with prior knowledge,
        // which the parser allows only with libcurl 8 (7.88.1 breaks it on reuse). PIPEWAIT makes calls started
        // together wait for the first one's connection to turn out multiplexed instead of each opening its own.
        let version =
            !transport.http2
            ? CURL_HTTP_VERSION_1_1
            : transport.cleartext ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2TLS
        _ = ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, version)
        _ = ccurl_easy_setopt_long(easy, CURLOPT_PIPEWAIT, transport.http2 ? 1 : 0)
    }

    /// The HTTP version of the answer just received (``answerVersion``), as the access log writes it.
    func answerHTTPVersion() -> String? {
        switch answerVersion {
        case CURL_HTTP_VERSION_1_0: return "1.0"
        case CURL_HTTP_VERSION_1_1: return "1.1"
        case CURL_HTTP_VERSION_2_0: return "2"
        case CURL_HTTP_VERSION_3: return "3"
        default: return nil
        }
    }

    /// libcurl's last error text for this transfer, or its generic text for `code`.
    func errorText(_ code: CURLcode) -> String {
        if errorBuffer[0] != 0 { return String(cString: errorBuffer) }
        return String(cString: curl_easy_strerror(code))
    }

    // MARK: - Callbacks' work (called from the C callbacks below)

    /// What the write callback answers libcurl.
    fileprivate enum BodyVerdict {
        case taken, pause, abort
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> BodyVerdict {
        if let receiver {
            if !headDelivered {
                headDelivered = true
                var status = 0
                _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                receiver.upstreamHead(
                    status: status, lines: passedLines,
                    declaredLength: partnerFraming.declaredLength(decodedByLibcurl: decodesContent))
            }
            if receiver.upstreamBody(bytes) { return .taken }
            paused.insert(.receive)
            return .pause
        }
        return receiveBufferedBody(bytes) ? .taken : .abort
    }

    private func receiveBufferedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if body.count + bytes.count > maxBodyBytes {
            abortReason = .bodyTooLarge
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func receiveHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        headerBytes += line.count
        if headerBytes > CurlTransfer.maxHeaderBytes {
            abortReason = .headersTooLarge
            return false
        }
        // A status line starts a new response (after 1xx, or a redirect that is not followed).
        if line.count >= 5, line[0] == UInt8(ascii: "H"), line[1] == UInt8(ascii: "T"), line[2] == UInt8(ascii: "T"),
            line[3] == UInt8(ascii: "P"), line[4] == UInt8(ascii: "/")
        {
            headers.removeAll(keepingCapacity: true)
            passedLines.removeAll()
            contentType = nil
            if captureCacheHeaders { cacheHeaders = CacheHeaders() }
            partnerFraming = PartnerFraming()
            headerBytes = line.count
            headerFields = 0
            expectsConnectionReuse = line.count >= 8 && line[5] == UInt8(ascii: "1") && line[7] == UInt8(ascii: "1")
            return true
        }
        // memchr: the generic `firstIndex(of:)` on the buffer cost about 70 instructions per line.
        guard let base = line.baseAddress, let found = memchr(base, Int32(UInt8(ascii: ":")), line.count) else {
            // The empty line: what follows before the next status line are trailers, which frame nothing.
            if line.count <= 2, line.first == 13 || line.first == 10 { partnerFraming.noteEndOfHead() }
            return true
        }
        let colon = UnsafeRawPointer(found) - base
        var end = line.count
        while end > colon + 1, line[end - 1] == 10 || line[end - 1] == 13 || line[end - 1] == 32 || line[end - 1] == 9 {
            end -= 1
        }
        var start = colon + 1
        while start < end, line[start] == 32 || line[start] == 9 { start += 1 }
        headerFields += 1
        if headerFields > CurlTransfer.maxHeaderFields {
            abortReason = .tooManyHeaderFields
            return false
        }
        if colon == 10, CurlTransfer.asksToClose(line, colon: colon, value: start..<end) {
            expectsConnectionReuse = false
        }
        // The name is classified from its bytes: a field fanout does not read (Server, Connection, ...) costs no
        // String unless every header is kept as Strings (a composite call's `pass`), and a field it reads costs
        // one String, of its value (two Strings per field before, and the name compared again as a String: about
        // 1,200 instructions per answer, callgrind). A plain proxy route copies its lines (``passedLines``).
        var field = CurlTransfer.fieldKind(line, colon: colon)
        if case .cache = field, !captureCacheHeaders { field = .other }
        guard captureHeaders || field != .other else { return true }
        let valueBytes = UnsafeRawBufferPointer(rebasing: line[start..<end])
        // A String of the value only where one is kept: a Content-Length is read from its bytes.
        var value: String?
        do throws(PartnerFraming.Fault) {
            switch field {
            case .contentType:
                value = contentTypeValue(valueBytes)
                contentType = value
            case .cache(let cacheField):
                let text = String(decoding: valueBytes, as: UTF8.self)
                cacheHeaders.take(cacheField, value: text)  // kept for the call cache
                value = text
            // 7.88.1 silently uses the last of several differing Content-Length values, and lets chunked win
            // over a Content-Length (docs/design/hardening.md).
            case .contentLength:
                try partnerFraming.noteContentLength(utf8: valueBytes)
            case .transferEncoding:
                try partnerFraming.noteTransferEncoding()
            case .contentEncoding:
                partnerFraming.noteContentEncoding()
            case .other:
                break
            }
        } catch {
            abortReason = .ambiguousFraming(error)
            return false
        }
        if passesLines {
            passedLines.append(name: UnsafeRawBufferPointer(rebasing: line[0..<colon]), value: valueBytes)
        } else if captureHeaders {
            headers.append(
                (
                    String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self),
                    value ?? String(decoding: valueBytes, as: UTF8.self)
                ))
        }
        return true
    }

    /// `bytes` as a String: the handle's previous `Content-Type` when it has the same bytes (no validation, and
    /// no heap String for a value of 16 bytes or more, such as `application/json`), else a new one, kept.
    private func contentTypeValue(_ bytes: UnsafeRawBufferPointer) -> String {
        if var recent = recentContentType {
            let same = recent.withUTF8 { kept in
                guard kept.count == bytes.count else { return false }
                guard let keptBase = kept.baseAddress, let base = bytes.baseAddress else { return true }  // both empty
                return memcmp(keptBase, base, kept.count) == 0
            }
            if same { return recent }
        }
        let value = String(decoding: bytes, as: UTF8.self)
        recentContentType = value
        return value
    }
}

private let curlWriteCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata, let data else { return 0 }
    let length = size * count
    let bytes = UnsafeRawBufferPointer(start: data, count: length)
    let verdict = CurlTransfer.borrowing(userdata) { $0.receiveBody(bytes) }
    switch verdict {
    case .taken: return length
    case .pause: return ccurl_writefunc_pause
    case .abort: return 0
    }
}

private let curlReadCallback: curl_read_callback = { data, size, count, userdata in
    guard let userdata, let data else { return ccurl_readfunc_abort }
    let room = UnsafeMutableRawBufferPointer(start: data, count: size * count)
    return CurlTransfer.borrowing(userdata) { transfer in
        guard let pipe = transfer.bodySource else { return 0 }
        switch pipe.read(into: room) {
        case .bytes(let n): return n
        case .end: return 0
        case .wait:
            transfer.paused.insert(.send)
            return ccurl_readfunc_pause
        case .abort: return ccurl_readfunc_abort
        }
    }
}

private let curlHeaderCallback: curl_write_callback = { data, size, count, userdata in
    guard let userdata, let data else { return 0 }
    let length = size * count
    let line = UnsafeRawBufferPointer(start: data, count: length)
    let taken = CurlTransfer.borrowing(userdata) { $0.receiveHeaderLine(line) }
    return taken ? length : 0
}
