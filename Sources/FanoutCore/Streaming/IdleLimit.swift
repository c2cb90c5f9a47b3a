/// A proxy route's `timeout`: an exact idle limit. The upstream may move no byte (take none of the request body,
/// send none of its answer) for `limit`, measured from the last byte that moved, not from the last time a
/// timer looked. A pure value on an injected monotonic clock (nanoseconds); the exchange arms one timer at
/// ``deadline`` and asks ``check(now:waitingOnClient:)`` when it fires.
///
/// Time spent waiting on the client (a full output window, an empty request-body pipe) is not the upstream's
/// silence: the exchange reports the end of such a wait as progress, and a check during one starts the limit
/// afresh.
public struct IdleLimit: Sendable, Equatable {
    public let limitNanoseconds: UInt64
    /// When a byte last moved (or a wait on the client ended); the start of the call before that.
    public private(set) var lastProgress: UInt64

    /// - Parameters:
    ///   - milliseconds: the limit, at least 1 ms.
    ///   - start: when the call started, the first point the limit is measured from.
    public init(milliseconds: Int, start: UInt64) {
        self.limitNanoseconds = UInt64(max(1, milliseconds)) &* 1_000_000
        self.lastProgress = start
    }

    /// Where the limit runs out unless something moves first.
    public var deadline: UInt64 { lastProgress &+ limitNanoseconds }

    /// Bytes moved, or a wait on the client ended, at `now`.
    public mutating func noteProgress(at now: UInt64) {
        lastProgress = max(lastProgress, now)
    }

    /// What the limit's timer does.
    public enum Verdict: Sendable, Equatable {
        /// Nothing moved for the whole limit: the call is cut.
        case expired
        /// Not yet: arm the timer again for this time.
        case checkAgain(at: UInt64)
    }

    /// The decision when the timer fires at `now`. `waitingOnClient`: the client holds things up at this moment
    /// (the answer waits for it to read, or the body pipe for it to send), so the limit starts afresh.
    public mutating func check(now: UInt64, waitingOnClient: Bool) -> Verdict {
        if waitingOnClient { noteProgress(at: now) }
        if now >= deadline { return .expired }
        return .checkAgain(at: deadline)
    }
}
