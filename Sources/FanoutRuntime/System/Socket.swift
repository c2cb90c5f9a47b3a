import CFanoutLinux
import Glibc

/// Socket system calls used by the server, grouped in one namespace. Every call goes through `syscall`.
enum Socket {
    /// How a listening socket shares its address (`SO_REUSEPORT`).
    enum PortSharing {
        /// Alone on the address: `bind` and `listen` fail with `EADDRINUSE` while any other socket listens on
        /// it (another process, or an overlapping address such as `0.0.0.0` for `127.0.0.1`); only after
        /// `listen` succeeds is `SO_REUSEPORT` set, so that this process's own further sockets (`.join`) can
        /// share it. The claim is atomic: of two processes racing for the address, the second `listen` fails.
        case claim
        /// Joins the `SO_REUSEPORT` group listening on the address (the kernel spreads new connections across
        /// its sockets): the socket a `.claim` opened, or, with `serve --reuse-port`, another process's.
        case join
    }

    /// Creates a non-blocking listening TCP socket bound to `address`, with SO_REUSEADDR and SO_REUSEPORT as
    /// `sharing` says. The corresponding C functions are `socket`, `setsockopt`, `bind` and `listen`.
    static func makeListener(address: SocketAddress, sharing: PortSharing, backlog: Int32 = 1024) throws(SystemError)
        -> Int32
    {
        let fd = try blockingSyscall("socket") {
            Glibc.socket(
                address.family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if sharing == .join { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if address.family == AF_INET6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            _ = try address.withSockAddr { (p, len) throws(SystemError) in
                try blockingSyscall("bind") { Glibc.bind(fd, p, len) }
            }
            _ = try blockingSyscall("listen") { Glibc.listen(fd, backlog) }
            // Linux checks SO_REUSEPORT against the sockets already there when a socket binds and listens, not
            // afterwards: set now, it lets later `.join` sockets in, and a later `.claim` still fails, since a
            // socket without SO_REUSEPORT conflicts with every listener (socket(7), SO_REUSEPORT).
            if sharing == .claim { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            return fd
        } catch {
            closeDescriptor(fd)
            throw error
        }
    }

    /// Accepts one connection, non-blocking and close-on-exec. Returns `.wouldBlock` when the queue is empty.
    /// The corresponding C function is `accept4`.
    static func accept(_ fd: Int32) throws(SystemError) -> IOResult<(fd: Int32, peer: SocketAddress?)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { (p) throws(SystemError) -> IOResult<Int32> in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (s) throws(SystemError) -> IOResult<Int32> in
                try syscall("accept4") {
                    cfanout_accept4(fd, s, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case .processed(let client): return .processed((client, SocketAddress(storage: storage)))
        }
    }

    /// The address a socket is bound to. The corresponding C function is `getsockname`.
    static func localAddress(_ fd: Int32) throws(SystemError) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (p) throws(SystemError) -> Int32 in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (s) throws(SystemError) -> Int32 in
                try blockingSyscall("getsockname") { getsockname(fd, s, &length) }
            }
        }
        return SocketAddress(storage: storage)
    }

    /// Reads into `buffer`; `.processed(0)` means the peer closed. The corresponding C function is `read`.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Sends bytes without raising SIGPIPE. The corresponding C function is `send` with `MSG_NOSIGNAL`.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Shuts down the sending side (the peer reads EOF after the bytes already sent). Errors are ignored: the
    /// only ones possible (`ENOTCONN` after a reset, `EBADF`) leave nothing to do. The corresponding C function is
    /// `shutdown` with `SHUT_WR`.
    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Shuts down both directions of a socket someone else owns and will close: the peer reads EOF, and reads
    /// here return 0 once what already arrived is taken. Errors are ignored (`ENOTCONN`, `EBADF`: nothing left
    /// to do). The corresponding C function is `shutdown` with `SHUT_RDWR`.
    static func shutdownBoth(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var value = value
        _ = try blockingSyscall("setsockopt") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }
}
