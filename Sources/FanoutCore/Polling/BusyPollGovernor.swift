/// How long an event loop polls for events before it sleeps (`busy_poll`), adapted to the idle gaps it sees.
///
/// Waking a thread that slept in `epoll_wait` costs the kernel, and on a virtual machine whose idle vCPU halts it
/// is most of a request's latency at low load (docs/contributing/benchmarks.md). Polling pays only when the next
/// event comes within the poll; when it comes later, the poll was CPU spent for nothing. So the window adapts, as
/// KVM's halt polling adapts to a vCPU's idle periods:
///
/// - an idle gap that the window covered changes nothing;
/// - a gap longer than the window but within ``limitNanoseconds`` grows the window (doubling it, from
///   ``growStartNanoseconds``): a longer poll would have caught it;
/// - a gap longer than the limit halves the window (and below the start, closes it): no allowed poll would have.
///
/// Under steady traffic whose gaps are short (a partner that answers in tens of µs, a client that sends again at
/// once) the loop polls instead of sleeping; under traffic whose gaps are longer than the limit it closes the
/// window within a few turns and sleeps as if polling were off. Only gaps that ended with an event teach it, and
/// the loop does not poll after a turn without events, so an idle loop sleeps.
///
/// Pure: times are nanoseconds the loop measures, so the policy is tested without a loop.
public struct BusyPollGovernor: Sendable, Equatable {
    /// The longest poll (the directive's value); 0 turns polling off.
    public let limitNanoseconds: UInt64
    /// How long the next poll lasts (0: sleep at once).
    public private(set) var windowNanoseconds: UInt64 = 0

    public init(limitMicroseconds: Int) {
        limitNanoseconds = UInt64(max(0, limitMicroseconds)) * 1_000
    }

    /// Whether the loop polls at all (`busy_poll` is not `off`).
    public var isEnabled: Bool { limitNanoseconds > 0 }

    /// The first window after a closed one: a tenth of the limit, at least 1 µs.
    public var growStartNanoseconds: UInt64 { max(1_000, limitNanoseconds / 10) }

    /// The loop was idle for `idleNanoseconds`: from the end of a turn with events to the next event, polling
    /// and sleeping included.
    public mutating func idleGapEnded(after idleNanoseconds: UInt64) {
        guard isEnabled, idleNanoseconds > windowNanoseconds else { return }
        if idleNanoseconds <= limitNanoseconds {
            windowNanoseconds =
                windowNanoseconds == 0 ? growStartNanoseconds : min(windowNanoseconds * 2, limitNanoseconds)
        } else {
            let halved = windowNanoseconds / 2
            windowNanoseconds = halved < growStartNanoseconds ? 0 : halved
        }
    }
}
