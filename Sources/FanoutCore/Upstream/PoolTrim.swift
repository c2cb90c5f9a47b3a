/// How much of a worker's upstream pool (easy handles, idle libcurl connections) to keep after a burst: as much
/// as the peak in use over the last one to two trim intervals, and never less than a small floor (issue 15).
///
/// The hot path only notes the count in use (``noteInUse(_:)``, one comparison); the loop timer that trims
/// asks ``keep(inUseNow:now:)`` once per interval, which also starts a new interval. A burst so keeps its
/// resources for at least one full interval after it ends, then they go. Time is an injected clock
/// (nanoseconds), so the policy is tested without a loop.
public struct PoolTrim: Sendable {
    /// The length of one interval, in nanoseconds.
    public let intervalNanoseconds: UInt64
    /// Resources kept however quiet the worker has been.
    public let floor: Int
    private var intervalStart: UInt64
    private var currentPeak = 0
    private var previousPeak = 0

    public init(intervalMilliseconds: Int, floor: Int, now: UInt64) {
        intervalNanoseconds = UInt64(max(1, intervalMilliseconds)) * 1_000_000
        self.floor = max(0, floor)
        intervalStart = now
    }

    /// Notes that `count` resources are in use now (call when the count grows).
    @inline(__always)
    public mutating func noteInUse(_ count: Int) {
        if count > currentPeak { currentPeak = count }
    }

    /// How many resources to keep now, `inUseNow` being in use: the peak of the interval under way and of the
    /// one before it. An interval at least ``intervalNanoseconds`` old ends here and a new one starts (with
    /// `inUseNow` as its peak so far); one that ended more than an interval ago counts as quiet.
    public mutating func keep(inUseNow: Int, now: UInt64) -> Int {
        let elapsed = now &- intervalStart
        if now >= intervalStart, elapsed >= intervalNanoseconds {
            previousPeak = elapsed >= 2 * intervalNanoseconds ? 0 : currentPeak
            currentPeak = inUseNow
            intervalStart = now
        }
        noteInUse(inUseNow)
        return max(floor, currentPeak, previousPeak)
    }
}
