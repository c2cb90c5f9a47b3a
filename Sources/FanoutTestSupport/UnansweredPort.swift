import Glibc

/// A loopback port where connecting never completes: a connect-timeout target that needs no routable
/// black-hole address.
///
/// It is a listener with backlog 0 whose accept queue is already full (one connection established and never
/// accepted). Linux then drops every further SYN (`tcp_abort_on_overflow` is 0 by default), so a client's
/// connect stays in SYN-SENT, retransmitting, until its own timeout.
///
/// ```swift
/// let silent = try UnansweredPort()
/// defer { silent.close() }
/// // connect to 127.0.0.1:\(silent.port) → times out
/// ```
public final class UnansweredPort {
    /// The port whose SYNs go unanswered.
    public let port: UInt16
    private var listener: CInt
    private var fillers: [CInt] = []

    /// Binds `127.0.0.1:0`, listens with backlog 0 and fills the accept queue.
    /// - Throws: ``TestSupportError`` if a socket call fails, or ``TestSupportError/Kind/malformed`` if the
    ///   kernel kept completing handshakes (then this kernel does not drop SYNs on a full queue).
    public init() throws {
        let listener = try TCPSocket.makeLoopbackListener(listening: false)
        do {
            self.port = try TCPSocket.localPort(listener)
            _ = try Syscall.call("listen") { Glibc.listen(listener, 0) }
        } catch {
            TCPSocket.close(listener)
            throw error
        }
        self.listener = listener
        do {
            try self.fillAcceptQueue()
        } catch {
            self.close()
            throw error
        }
    }

    deinit {
        self.close()
    }

    /// Connects until one attempt times out, which proves the kernel now drops SYNs. A few attempts are
    /// allowed because a completed handshake may take a moment to land in the accept queue.
    private func fillAcceptQueue() throws {
        for _ in 0..<4 {
            let fd: CInt
            do {
                fd = try TCPSocket.connect(host: "127.0.0.1", port: self.port, timeoutMs: 200)
            } catch let error as TestSupportError where error.errno == EINPROGRESS || error.kind == .timedOut {
                // The SYN was dropped; TCPSocket.connect has already closed the half-open socket.
                return
            }
            self.fillers.append(fd)
        }
        throw TestSupportError.malformed(
            call: "fill accept queue",
            detail: "4 connects to a backlog-0 listener completed; SYNs are not dropped on this kernel")
    }

    /// Closes the listener and the queued connections. Idempotent; `deinit` calls it too.
    public func close() {
        for fd in self.fillers {
            TCPSocket.close(fd)
        }
        self.fillers = []
        if self.listener >= 0 {
            TCPSocket.close(self.listener)
            self.listener = -1
        }
    }
}
