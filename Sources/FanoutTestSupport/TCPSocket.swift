import Glibc

/// Blocking TCP socket calls used by ``UpstreamStub``, ``RawHTTPClient`` and ``freeTCPPort()``.
///
/// Descriptors are plain `CInt`s; whoever calls ``makeStream(family:)`` or ``accept(_:)`` owns the result and
/// must ``close(_:)`` it exactly once.
enum TCPSocket {
    /// Creates a blocking, close-on-exec stream socket. The corresponding C function is `socket`.
    static func makeStream(family: Int32 = AF_INET) throws -> CInt {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try Syscall.call("socket") { socket(family, type, 0) }
    }

    /// Creates a socket bound to `127.0.0.1:port` (0 picks a free port), optionally listening. `reuseAddress`:
    /// SO_REUSEADDR, so that a listener can be bound again at once; without it, no other socket can take the
    /// port while this one holds it.
    static func makeLoopbackListener(port: UInt16 = 0, listening: Bool, reuseAddress: Bool = true) throws -> CInt {
        let fd = try Self.makeStream()
        do {
            var one: CInt = 1
            if reuseAddress {
                _ = try Syscall.call("setsockopt(SO_REUSEADDR)") {
                    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
                }
            }
            var address = try Self.ipv4Address(host: "127.0.0.1", port: port)
            _ = try Syscall.call("bind") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            if listening {
                _ = try Syscall.call("listen") { listen(fd, 128) }
            }
            return fd
        } catch {
            Self.close(fd)
            throw error
        }
    }

    /// The local port of a bound socket. The corresponding C function is `getsockname`.
    static func localPort(_ fd: CInt) throws -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try Syscall.call("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        default:
            throw TestSupportError.malformed(call: "getsockname", detail: "unexpected family \(storage.ss_family)")
        }
    }

    /// Accepts one connection and marks it close-on-exec. The corresponding C function is `accept`.
    static func accept(_ listener: CInt) throws -> CInt {
        let fd = try Syscall.call("accept") { Glibc.accept(listener, nil, nil) }
        _ = try? Syscall.call("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fd
    }

    /// Connects a new blocking socket to `host:port` with both socket timeouts set to `timeoutMs`.
    ///
    /// `host` must be a numeric IPv4 or IPv6 address, or `localhost` (taken as `127.0.0.1`). `SO_SNDTIMEO`
    /// is set before `connect`, so on Linux it bounds the connect as well.
    static func connect(host: String, port: UInt16, timeoutMs: Int) throws -> CInt {
        let isIPv6 = host.contains(":")
        let fd = try Self.makeStream(family: isIPv6 ? AF_INET6 : AF_INET)
        do {
            try Self.setTimeouts(fd, milliseconds: timeoutMs)
            if isIPv6 {
                var address = try Self.ipv6Address(host: host, port: port)
                _ = try Syscall.call("connect") {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                        }
                    }
                }
            } else {
                var address = try Self.ipv4Address(host: host == "localhost" ? "127.0.0.1" : host, port: port)
                _ = try Syscall.call("connect") {
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
            }
            return fd
        } catch {
            Self.close(fd)
            throw error
        }
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO`; 0 means block forever.
    static func setTimeouts(_ fd: CInt, milliseconds: Int) throws {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        for (option, name) in [(SO_RCVTIMEO, "setsockopt(SO_RCVTIMEO)"), (SO_SNDTIMEO, "setsockopt(SO_SNDTIMEO)")] {
            _ = try Syscall.call(name) {
                setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
            }
        }
    }

    /// Writes every byte, looping over short writes. Uses `MSG_NOSIGNAL`, so a closed peer yields `EPIPE`
    /// instead of killing the test process with `SIGPIPE`. The corresponding C function is `send`.
    static func sendAll(_ fd: CInt, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = try Syscall.call("send") {
                    Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                }
                offset += written
            }
        }
    }

    /// Receives up to `buffer.count` bytes; 0 means the peer closed. The corresponding C function is `recv`.
    static func receive(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try Syscall.call("recv") { recv(fd, buffer.baseAddress, buffer.count, 0) }
    }

    /// Makes the next `close` send RST instead of FIN (`SO_LINGER` on, timeout 0).
    static func setLingerZero(_ fd: CInt) {
        var value = linger(l_onoff: 1, l_linger: 0)
        _ = try? Syscall.call("setsockopt(SO_LINGER)") {
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
        }
    }

    /// Wakes any thread blocked in `accept`/`recv`/`send` on `fd`; errors (for example `ENOTCONN`) are
    /// irrelevant here and ignored. The corresponding C function is `shutdown`.
    static func shutdown(_ fd: CInt, how: Int32 = Int32(SHUT_RDWR)) {
        _ = Glibc.shutdown(fd, how)
    }

    /// Closes `fd`, ignoring errors.
    ///
    /// `EINTR` is deliberately not retried: on Linux the descriptor is released even when `close` reports
    /// `EINTR`, so a retry could close a descriptor another thread has just been given
    /// (see the NOTES section of close(2)).
    static func close(_ fd: CInt) {
        _ = Glibc.close(fd)
    }

    // MARK: - Addresses

    private static func ipv4Address(host: String, port: UInt16) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw TestSupportError.malformed(call: "inet_pton", detail: "not an IPv4 address: \(host)")
        }
        return address
    }

    private static func ipv6Address(host: String, port: UInt16) throws -> sockaddr_in6 {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard inet_pton(AF_INET6, literal, &address.sin6_addr) == 1 else {
            throw TestSupportError.malformed(call: "inet_pton", detail: "not an IPv6 address: \(host)")
        }
        return address
    }
}
