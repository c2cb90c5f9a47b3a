import Glibc
import Synchronization

/// Receives one finished access-log line (JSON, newline-terminated) per request. Called on worker threads.
public protocol AccessLogSink: AnyObject, Sendable {
    func write(_ line: [UInt8])
}

/// Writes access-log lines to standard output from a thread of its own, so a slow reader of stdout never
/// blocks an event loop. Workers only append to a mutex-guarded buffer; when the buffer passes `maxBuffered`
/// bytes (the reader is stuck), lines are dropped and counted, and the count is reported on stderr.
public final class StdoutAccessLog: AccessLogSink, @unchecked Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var dropped = 0
        var stopping = false
    }
    private let state = Mutex(State())
    private let semaphore: UnsafeMutablePointer<sem_t>
    private var thread: OSThread?
    private let maxBuffered = 4 * 1024 * 1024

    public init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        thread = try? OSThread(name: "fanout-log") { [unowned self] in self.drainLoop() }
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    public func write(_ line: [UInt8]) {
        let accepted = state.withLock { state -> Bool in
            if state.buffer.count + line.count > maxBuffered {
                state.dropped += 1
                return false
            }
            state.buffer.append(contentsOf: line)
            return true
        }
        if accepted { sem_post(semaphore) }
    }

    /// Writes what is buffered and stops the writer thread.
    public func close() {
        state.withLock { $0.stopping = true }
        sem_post(semaphore)
        thread?.join()
        thread = nil
    }

    private func drainLoop() {
        while true {
            sem_wait(semaphore)
            let (bytes, dropped, stopping) = state.withLock { state -> ([UInt8], Int, Bool) in
                let taken = state.buffer
                state.buffer.removeAll(keepingCapacity: true)
                let dropped = state.dropped
                state.dropped = 0
                return (taken, dropped, state.stopping)
            }
            writeAll(1, bytes)
            if dropped > 0 {
                writeAll(2, Array("fanout: access log: \(dropped) line(s) dropped, stdout is not keeping up\n".utf8))
            }
            if stopping { return }
        }
    }
}

/// Writes every byte to `fd`, blocking. Only for threads that may block (the log writer, start-up, shutdown).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += n
    }
}

/// Error and lifecycle messages: one line on stderr each. Not on the request path.
public enum ErrorLog {
    public static func write(_ message: String) {
        writeAll(2, Array("fanout: \(message)\n".utf8))
    }
}
