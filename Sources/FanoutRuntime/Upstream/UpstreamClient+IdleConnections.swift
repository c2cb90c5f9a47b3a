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
/// its socket stays registered for reading with this client as handler. Nothing may arrive on an idle
/// HTTP/1.x connection but its end: anything readable (bytes, EOF, an error) means the connection is done.
/// fanout discards the bytes and shuts the socket down (it never closes it: libcurl owns the descriptor), so
/// libcurl's next check finds it at EOF and opens a new connection instead. When libcurl reuses the connection
/// (its socket callback asks for IN/OUT again) the watch ends; when libcurl closes it (CURLOPT_CLOSESOCKETFUNCTION,
/// also for the closes of pooled connections that send no CURL_POLL_REMOVE, curl #16026) the registration goes
/// first, so no stale registration can outlive the descriptor number.
///
/// The same registration serves libcurl's transfers (lazy deregistration, issue 15): a connection socket is not
/// taken out of epoll at libcurl's CURL_POLL_REMOVE, and reading is watched with the same events in both roles,
/// so a keep-alive transfer (reuse, request, answer, back to the pool) costs no `epoll_ctl` at all; before, it
/// cost three (libcurl's add or change and remove, and the idle watch's add). A socket that stirs while neither
/// libcurl nor the idle watch wants it is dropped then. Connection sockets are known from
/// CURLOPT_SOCKOPTFUNCTION: libcurl closes those through the close callback once their connect completed.
/// One whose connect never completed (its transfer cancelled or timed out while connecting) libcurl 7.88.1
/// closes directly, right after its REMOVE: such a socket leaves epoll at that REMOVE, and a new socket's
/// number drops whatever registration is left under it (a stale one would make the loop take the new socket
/// for registered, so its events never came: issue 15, wide fan-out after the slow scenario, 2 s per request).
extension UpstreamClient {
    /// What libcurl's reading interest and the idle watch ask of epoll (the same, so no change between them).
    static let readInterest: Interest = [.read, .readHangup]

    func socketState(_ fd: Int32) -> LibcurlSocket {
        Int(fd) < socketStates.count && fd >= 0 ? socketStates[Int(fd)] : []
    }

    func setSocketState(_ fd: Int32, _ state: LibcurlSocket) {
        guard fd >= 0 else { return }
        let index = Int(fd)
        if index >= socketStates.count {
            if state.isEmpty { return }
            socketStates.growToHold(index, filler: [])
        }
        socketStates[index] = state
    }

    /// A new easy handle whose connection sockets are noted at creation and closed through ``socketClosing(_:)``.
    func makeTransfer() -> CurlTransfer? {
        guard let transfer = CurlTransfer() else { return nil }
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_easy_setopt_closesocket_function(transfer.easy, curlCloseSocketCallback)
        _ = ccurl_easy_setopt_pointer(transfer.easy, CURLOPT_CLOSESOCKETDATA, me)
        _ = ccurl_easy_setopt_sockopt_function(transfer.easy, curlSocketOptionCallback)
        _ = ccurl_easy_setopt_pointer(transfer.easy, CURLOPT_SOCKOPTDATA, me)
        return transfer
    }

    /// Starts watching the socket of a connection that just went back to libcurl's pool (usually still
    /// registered, with the same events: no syscall). A socket libcurl still wants is in use by another
    /// transfer and stays libcurl's.
    func watchIdleConnection(_ fd: Int32) {
        var state = socketState(fd)
        guard !state.contains(.wanted) else { return }
        state.insert(.idle)
        setSocketState(fd, state)
        if loop.isRegistered(fd: fd) {
            loop.setInterest(fd: fd, Self.readInterest)
        } else {
            loop.register(fd: fd, interest: Self.readInterest, handler: self)
        }
    }

    /// Something arrived on an idle connection: stray bytes, or its end. The bytes are never an answer (nothing
    /// was asked), so they are read and dropped, and the socket is shut down for libcurl to discard.
    func idleConnectionStirred(_ fd: Int32) {
        var state = socketState(fd)
        state.remove(.idle)
        state.insert(.shutDown)
        setSocketState(fd, state)
        trimSoon()  // the descriptor goes at the trim, if no transfer makes libcurl look before
        loop.deregister(fd: fd)
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 1) { buffer in
            // Bounded: a partner streaming without end only delays the shutdown below.
            for _ in 0..<16 {
                guard case .processed(let count)? = try? Socket.read(fd, into: buffer), count > 0 else { break }
            }
        }
        Socket.shutdownBoth(fd)
    }

    /// Lets idle HTTP/1.x connections beyond `keeping` go (the pool trim): each is shut down as a stirred one
    /// is, so its partner frees it at once and libcurl discards it at its next look for a connection (7.88.1
    /// only prunes its cache when a transfer starts, at most once a second: see
    /// `UpstreamClient.startPruneTransfers()`). Returns the idle connections left.
    func closeIdleConnections(keeping: Int) -> Int {
        var idle: [Int32] = []
        for (index, state) in socketStates.enumerated() where state.contains(.idle) { idle.append(Int32(index)) }
        guard idle.count > keeping else { return idle.count }
        // The highest descriptors go: the pool's oldest connections keep the lowest numbers.
        for fd in idle[keeping...] {
            var state = socketState(fd)
            state.remove(.idle)
            state.insert(.shutDown)
            setSocketState(fd, state)
            loop.deregister(fd: fd)
            Socket.shutdownBoth(fd)
        }
        return keeping
    }

    /// Connection sockets libcurl has open now (the pool's connections, idle or in use).
    var openConnectionSocketCount: Int { socketStates.count { $0.contains(.connection) } }

    /// Connections the trim shut down that libcurl has not closed yet.
    var shutDownConnectionCount: Int { socketStates.count { $0.contains(.shutDown) } }

    /// libcurl opened a connection socket: it will close it through ``socketClosing(_:)`` once connected
    /// (before that, libcurl 7.88.1 closes it without the callback, right after its REMOVE). The number is
    /// new, so a registration the loop still holds under it is stale (its descriptor was closed, which took
    /// it out of epoll): it goes, or this socket would be taken for registered and never added.
    func connectionSocketOpened(_ fd: Int32) {
        if loop.isRegistered(fd: fd) { loop.deregister(fd: fd) }
        setSocketState(fd, .connection)
        guard fd >= 0 else { return }
        let index = Int(fd)
        socketOpenings.growToHold(index, filler: 0)
        connectionOpenings &+= 1
        socketOpenings[index] = connectionOpenings
    }

    /// libcurl asked to read connection socket `fd` for the transfer of `easy`: that is the transfer's
    /// connection (the last one asked wins: a redirect's or a retry's connection comes later).
    func noteConnectionRead(_ fd: Int32, by easy: UnsafeMutableRawPointer) {
        guard Int(fd) < socketOpenings.count, let transfer = CurlTransfer.owning(easy) else { return }
        transfer.connectionSocket = fd
        transfer.connectionSocketOpening = socketOpenings[Int(fd)]
    }

    /// The socket of the connection a transfer that just completed used, if libcurl keeps it; CURL_SOCKET_BAD
    /// once libcurl has closed it (the overrun check and the idle watch rely on that). What CURLINFO_ACTIVESOCKET
    /// answers, without its walk over libcurl's whole connection cache (7.8k instructions per call with 1,000
    /// connections open): the socket callback named the transfer's connection (``noteConnectionRead(_:by:)``),
    /// and the close callback (``socketClosing(_:)``) says whether it is gone; the opening number tells a
    /// socket libcurl closed from a new one under the same number. A transfer the callback never named (its
    /// answer came in the call that sent its request) asks libcurl.
    func completedConnectionSocket(of transfer: CurlTransfer) -> curl_socket_t {
        let fd = transfer.connectionSocket
        guard fd != CURL_SOCKET_BAD else {
            activeSocketLookups += 1
            return transfer.askActiveSocket()
        }
        let open = socketState(fd).contains(.connection) && socketOpenings[Int(fd)] == transfer.connectionSocketOpening
        return open ? fd : CURL_SOCKET_BAD
    }

    /// libcurl is about to close `fd`: it stops being watched, whoever watched it.
    func socketClosing(_ fd: Int32) {
        setSocketState(fd, [])
        loop.deregister(fd: fd)
    }
}

/// CURLOPT_SOCKOPTFUNCTION: called for every connection socket libcurl creates, before it connects.
private let curlSocketOptionCallback: curl_sockopt_callback = { clientp, fd, _ in
    if let clientp {
        Unmanaged<UpstreamClient>.fromOpaque(clientp).takeUnretainedValue().connectionSocketOpened(fd)
    }
    return 0  // CURL_SOCKOPT_OK
}

/// CURLOPT_CLOSESOCKETFUNCTION: libcurl's close of a connection socket, done here after the loop forgot it.
private let curlCloseSocketCallback: curl_closesocket_callback = { clientp, fd in
    if let clientp {
        Unmanaged<UpstreamClient>.fromOpaque(clientp).takeUnretainedValue().socketClosing(fd)
    }
    return Glibc.close(fd)
}

/// What an ``UpstreamClient`` knows of one libcurl socket.
struct LibcurlSocket: OptionSet {
    let rawValue: UInt8
    /// A connection socket (CURLOPT_SOCKOPTFUNCTION saw it): once ``connected``, libcurl closes it through
    /// ``UpstreamClient/socketClosing(_:)``.
    static let connection = LibcurlSocket(rawValue: 1)
    /// libcurl asked for its events (CURL_POLL_IN/OUT) and has not said REMOVE since.
    static let wanted = LibcurlSocket(rawValue: 2)
    /// An HTTP/1.x connection back in libcurl's pool, watched for stray bytes.
    static let idle = LibcurlSocket(rawValue: 4)
    /// Shut down (by the pool trim, or because it stirred while idle), waiting for libcurl to find it dead and
    /// close it.
    static let shutDown = LibcurlSocket(rawValue: 8)
    /// libcurl has asked to read it, so its connect completed: libcurl will close it through
    /// ``UpstreamClient/socketClosing(_:)``. Without it, libcurl 7.88.1 closes the socket silently after its
    /// REMOVE.
    static let connected = LibcurlSocket(rawValue: 16)
}
