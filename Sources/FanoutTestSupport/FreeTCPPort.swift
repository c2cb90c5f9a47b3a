import Glibc
import Synchronization

/// Returns a TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range.
///
/// For configuration that must name a port up front (a fanout's `listen` or `admin_listen`, a Redis server's
/// `--port`); anything that can bind port 0 itself and report its port (the proxy under test, ``UpstreamStub``)
/// should do that instead. Between this call and the caller's bind, another socket may take the port. Two
/// choices make that rare:
/// - The port is taken from below the ephemeral range (`net.ipv4.ip_local_port_range`, 32768 and up by
///   default). The kernel picks the local port of every outgoing connection from that range, and the suite makes
///   thousands of them; a port from `bind(0)`, also in that range, could be given to one of them before the caller
///   bound it. Ports below it are taken only by an explicit bind.
/// - No port is handed out twice in one process, so two tests running in parallel never get the same one.
///
/// A port that is bound elsewhere (listening, or held like ``RefusedPort``) fails the check bind and is skipped.
/// - Throws: ``TestSupportError`` naming `bind` (`EADDRINUSE`) when no port of the range could be bound.
public func freeTCPPort() throws -> UInt16 {
    try PortPicker.shared.pick()
}

/// The ports ``freeTCPPort()`` handed out so far, and where it looks next.
private final class PortPicker: Sendable {
    static let shared = PortPicker()

    /// From 10000 up to below the ephemeral range's first port.
    private let range: ClosedRange<Int>
    private let state: Mutex<(next: Int, given: Set<UInt16>)>

    private init() {
        let ephemeralStart = Self.ephemeralRangeStart() ?? 32768
        let low = 10000
        range = low...max(low + 1000, ephemeralStart - 1)
        // A start of its own per process: two test processes at once (a plain run beside a sanitized one) walk
        // different parts of the range.
        state = Mutex((next: Int.random(in: range), given: []))
    }

    func pick() throws -> UInt16 {
        for _ in 0..<range.count {
            let candidate: UInt16? = state.withLock { state in
                let port = UInt16(state.next)
                state.next = state.next == range.upperBound ? range.lowerBound : state.next + 1
                return state.given.insert(port).inserted ? port : nil
            }
            guard let port = candidate else { continue }
            // Bound without SO_REUSEADDR: a port with a listener, a held socket or a lingering connection fails.
            guard let fd = try? TCPSocket.makeLoopbackListener(port: port, listening: false, reuseAddress: false) else {
                continue
            }
            TCPSocket.close(fd)
            return port
        }
        throw TestSupportError(kind: .system(errno: EADDRINUSE), call: "bind", detail: "no free port in \(range)")
    }

    /// The first port of `net.ipv4.ip_local_port_range`, or nil when it cannot be read.
    private static func ephemeralRangeStart() -> Int? {
        guard let bytes = FileContents.bytes(atPath: "/proc/sys/net/ipv4/ip_local_port_range") else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
    }
}
