import CFanoutLinux
import FanoutCore
import Glibc
import Synchronization

/// The random half of tracing: a request's trace when the client sent none (or an invalid one) and a span
/// id per upstream call. Ids come from the kernel's CSPRNG (`getrandom`; no Foundation UUID), one 8-byte
/// draw per span and two per started trace, taken from ``RandomIDPool``.
extension TraceContext {
    /// The trace of a request: the client's when its `traceparent` is valid (with its `tracestate`, when that
    /// looks valid), else a new one marked sampled, since fanout records every request in its access log.
    static func forRequest(_ headers: HTTPHeaders) -> TraceContext {
        let parent = headers.values(named: "traceparent")
        if !parent.isEmpty,
            let continued = TraceContext(traceparent: parent, tracestate: headers.values(named: "tracestate"))
        {
            return continued
        }
        return TraceContext(traceIDHigh: newNonZeroID(), traceIDLow: newNonZeroID(), sampled: true)
    }

    /// `traceparent` (this trace, `spanID` as the parent-id) and the client's `tracestate` when kept: the trace
    /// headers of one upstream call. Every call gets its own span id.
    func headerLines(spanID: UInt64) -> [String] {
        var lines: [String] = []
        appendHeaderLines(spanID: spanID, to: &lines)
        return lines
    }

    /// ``headerLines(spanID:)`` appended to `lines` in place (no array of their own).
    func appendHeaderLines(spanID: UInt64, to lines: inout [String]) {
        lines.append(traceparentHeaderLine(spanID: spanID))
        if let traceState { lines.append("tracestate: " + traceState) }
    }

    /// A fresh span id for one upstream call (never zero, which the spec reserves as invalid).
    static func newSpanID() -> UInt64 { newNonZeroID() }

    private static func newNonZeroID() -> UInt64 {
        while true {
            let id = randomIDs.withLock { $0.next() }
            if id != 0 { return id }
        }
    }
}

/// The process's pool of random ids, shared by the workers (the lock is held for a few instructions; a
/// refill holds it for one `getrandom`).
private let randomIDs = Mutex(RandomIDPool())

/// 8-byte random values drawn from the kernel's CSPRNG 64 at a time: one `getrandom` per 64 ids instead of one
/// per id (`SystemRandomNumberGenerator` makes a syscall per draw: 3 per proxied request, 5 per fan-out of
/// three, strace). Values are handed out once each, in order; they are as unpredictable as the draws they
/// come from.
struct RandomIDPool: ~Copyable {
    private let ids: UnsafeMutableBufferPointer<UInt64>
    private var used: Int

    init(capacity: Int = 64) {
        ids = .allocate(capacity: capacity)
        used = capacity  // filled on the first draw
    }

    deinit {
        ids.deallocate()
    }

    /// The next value, refilling the pool when it is used up.
    mutating func next() -> UInt64 {
        if used == ids.count { refill() }
        defer { used += 1 }
        return ids[used]
    }

    private mutating func refill() {
        let raw = UnsafeMutableRawBufferPointer(ids)
        var filled = 0
        while filled < raw.count {
            let count = cfanout_getrandom(raw.baseAddress! + filled, raw.count - filled)
            if count > 0 {
                filled += count
            } else if count < 0 && errno != EINTR {
                break
            }
        }
        if filled < raw.count {
            // getrandom is there since Linux 3.17; should it fail, draw one value at a time.
            var random = SystemRandomNumberGenerator()
            for index in ids.indices { ids[index] = random.next() }
        }
        used = 0
    }
}
