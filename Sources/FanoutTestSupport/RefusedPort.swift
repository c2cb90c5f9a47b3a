import Glibc

/// A loopback port where every connect is refused, for as long as this value holds it.
///
/// A socket bound to the port without listening (and without SO_REUSEADDR): the kernel answers a SYN with an
/// RST, and no other socket can bind the port meanwhile. A port that was bound and closed again
/// (``freeTCPPort()``) is refused too, until a test running in parallel gets it for its own server (seen: the
/// "refused" partner answered 404).
public final class RefusedPort {
    /// The port whose connects are refused.
    public let port: UInt16
    private var socket: CInt

    /// Binds `127.0.0.1:0` and keeps the socket.
    /// - Throws: ``TestSupportError`` if a socket call fails.
    public init() throws {
        let socket = try TCPSocket.makeLoopbackListener(listening: false, reuseAddress: false)
        do {
            self.port = try TCPSocket.localPort(socket)
        } catch {
            TCPSocket.close(socket)
            throw error
        }
        self.socket = socket
    }

    deinit {
        self.close()
    }

    /// Gives the port up. Idempotent; `deinit` calls it too.
    public func close() {
        if self.socket >= 0 {
            TCPSocket.close(self.socket)
            self.socket = -1
        }
    }
}
