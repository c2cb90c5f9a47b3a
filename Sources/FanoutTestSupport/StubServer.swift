import Foundation
import Glibc

/// The threads, sockets and records behind an ``UpstreamStub``.
///
/// Descriptor ownership: the accept thread owns the listener and each connection thread owns its connection.
/// ``stop()`` only calls `shutdown` to wake them; each owner closes its own descriptor. Every `shutdown` and
/// every `close` happens under the lock, and a closed descriptor is removed from ``State`` in the same
/// critical section, so `stop()` can never shut down a descriptor number that has been reused elsewhere.
final class StubServer: @unchecked Sendable {
    // @unchecked: `state` is only touched with `condition` locked; everything else is immutable.

    /// Mutable state, guarded by `condition`.
    struct State {
        var stopped = false
        /// The listening socket, -1 once the accept thread has closed it.
        var listener: CInt
        /// Open connections, each owned by its connection thread.
        var connections: Set<CInt> = []
        var requests: [StubRequest] = []
        var connectionsAccepted = 0
        /// Threads started and not yet finished; `stop()` waits for this to reach 0.
        var liveThreads = 0
        /// Behavior per path; a test may change one while the stub runs (``UpstreamStub/setBehavior(_:forPath:)``).
        var routes: [String: UpstreamStub.Behavior]
    }

    /// How long `stop()` waits for threads before giving up with a warning.
    static let stopTimeout: TimeInterval = 2

    let port: UInt16
    let fallback: UpstreamStub.Behavior
    /// See ``UpstreamStub/init(routes:fallback:idleTimeoutMs:)``.
    let idleTimeoutMs: Int?
    private let condition = NSCondition()
    private var state: State

    init(routes: [String: UpstreamStub.Behavior], fallback: UpstreamStub.Behavior, idleTimeoutMs: Int? = nil) throws {
        let listener = try TCPSocket.makeLoopbackListener(listening: true)
        do {
            self.port = try TCPSocket.localPort(listener)
        } catch {
            TCPSocket.close(listener)
            throw error
        }
        self.fallback = fallback
        self.idleTimeoutMs = idleTimeoutMs
        self.state = State(listener: listener, routes: routes)
    }

    /// Runs `body` with the lock held.
    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        self.condition.lock()
        defer { self.condition.unlock() }
        return try body(&self.state)
    }

    var isStopped: Bool { self.withLock { $0.stopped } }

    /// Starts the accept thread.
    func start() {
        let listener = self.withLock { state in
            state.liveThreads += 1
            return state.listener
        }
        self.spawn(name: "UpstreamStub:\(self.port) accept") { self.acceptLoop(listener) }
    }

    /// Wakes and waits for every thread; see ``UpstreamStub/stop()``.
    func stop() {
        self.condition.lock()
        if !self.state.stopped {
            self.state.stopped = true
            if self.state.listener >= 0 {
                // On Linux, shutdown on a listening socket makes a blocked accept fail with EINVAL.
                TCPSocket.shutdown(self.state.listener)
            }
            for fd in self.state.connections {
                TCPSocket.shutdown(fd)
            }
            self.condition.broadcast()
        }
        let deadline = Date(timeIntervalSinceNow: Self.stopTimeout)
        while self.state.liveThreads > 0 && self.condition.wait(until: deadline) {}
        let stuck = self.state.liveThreads
        self.condition.unlock()
        if stuck > 0 {
            Self.warn("UpstreamStub on port \(self.port): \(stuck) thread(s) still running after stop()")
        }
    }

    /// Waits `milliseconds`, returning early if the stub stops.
    func pause(milliseconds: Int) {
        guard milliseconds > 0 else {
            return
        }
        let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
        self.condition.lock()
        defer { self.condition.unlock() }
        while !self.state.stopped && self.condition.wait(until: deadline) {}
    }

    // MARK: - Threads

    /// Starts a thread running `body`; the caller has already counted it in `liveThreads`.
    private func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            body()
            self.withLock { $0.liveThreads -= 1 }
            self.condition.broadcast()
        }
        thread.name = name
        thread.start()
    }

    private func acceptLoop(_ listener: CInt) {
        while true {
            let fd: CInt
            do {
                fd = try TCPSocket.accept(listener)
            } catch {
                if self.isStopped || !Self.isTransientAcceptError(error) {
                    break
                }
                usleep(10_000)
                continue
            }
            let admitted = self.withLock { state -> Int? in
                guard !state.stopped else {
                    return nil
                }
                state.connections.insert(fd)
                state.connectionsAccepted += 1
                state.liveThreads += 1
                return state.connectionsAccepted
            }
            guard let ordinal = admitted else {
                TCPSocket.close(fd)
                break
            }
            self.spawn(name: "UpstreamStub:\(self.port) connection \(fd)") { self.runConnection(fd, ordinal: ordinal) }
        }
        self.withLock { state in
            TCPSocket.close(state.listener)
            state.listener = -1
        }
    }

    private func runConnection(_ fd: CInt, ordinal: Int) {
        let ending = self.serve(fd, connection: ordinal)
        self.withLock { state in
            state.connections.remove(fd)
            if ending == .reset {
                TCPSocket.setLingerZero(fd)
            }
            TCPSocket.close(fd)
        }
    }

    private static func isTransientAcceptError(_ error: Error) -> Bool {
        guard let code = (error as? TestSupportError)?.errno else {
            return false
        }
        return [ECONNABORTED, EPROTO, EPERM, EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code)
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }
}
