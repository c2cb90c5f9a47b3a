/// The fleet side of one upstream's ``CircuitBreaker`` on one worker: what to tell the store and what the
/// store's answers do to the local breaker. A pure value, driven by an injected monotonic clock (nanoseconds).
///
/// Two keys per upstream in the store: `open` (set with `PX cooldown` by the replica whose breaker opened)
/// and `probe` (`SET NX PX`, the fleet's one half-open probe). Every worker polls both every
/// ``pollIntervalMs`` (one `PTTL` and one `EXISTS` in a pipeline), which bounds how late it learns an opening:
/// under a second with the round trip. Polling rather than publish/subscribe: a poll needs no second
/// connection in subscriber mode per worker, loses nothing across a store restart (a message published while
/// a subscriber reconnects is gone, a key is still there), and costs two commands per upstream with a breaker
/// per worker every half second.
///
/// - The local breaker opens (its own failures): ``localOpened(cooldownMs:)`` says to set `open`.
/// - A poll sees `open` with time left: the local breaker opens until then (a closed one too).
/// - The cool-down is over and the next call would be the probe: ``needsProbeLock(_:now:)`` holds calls back
///   (they fail fast, as they do while a probe is in flight) until the store answers `SET probe NX`. Granted:
///   this worker probes. Denied: another replica probes; this one stays open (``waitingForFleetProbe``) and
///   polls. A poll that then finds neither key means the other replica's probe closed the breaker: close here.
///   A poll that finds `open` again means the probe failed: stay open until the key's expiry.
/// - The probe ends: ``probeFinished(succeeded:)`` says to delete `probe` (and a failure opened the breaker
///   again, which ``localOpened(cooldownMs:)`` publishes).
///
/// Without a store, or while it is down, the runtime skips all of this: breakers stay local, as without a
/// store block.
public struct FleetBreaker: Sendable, Equatable {
    /// How often a worker asks the store: 500 ms.
    public static let pollIntervalMs = 500

    /// This worker holds the fleet's probe lock (its next call, or the one in flight, is the probe).
    public private(set) var holdsProbeLock = false
    /// A `SET probe NX` was sent and has not been answered.
    public private(set) var probeLockAsked = false
    /// Another replica holds the probe lock: the local breaker stays open until a poll tells the outcome.
    public private(set) var waitingForFleetProbe = false

    public init() {}

    /// What a worker asks the store to do.
    public enum Command: Sendable, Equatable {
        /// `SET open 1 PX cooldownMs`.
        case publishOpen(cooldownMs: Int)
        /// `SET probe 1 NX PX ttlMs`.
        case acquireProbe(ttlMs: Int)
        /// `DEL probe`.
        case releaseProbe
    }

    /// The local breaker opened (from closed, or a failed probe): tell the fleet.
    public func localOpened(cooldownMs: Int) -> Command {
        .publishOpen(cooldownMs: max(1, cooldownMs))
    }

    /// Whether the next call would be the half-open probe but the fleet's lock is not held: the call must fail
    /// fast, and ``probeLockCommand(ttlMs:)`` says whether to ask for the lock.
    public func needsProbeLock(_ breaker: CircuitBreaker, now: UInt64) -> Bool {
        guard !holdsProbeLock else { return false }
        switch breaker.state {
        case .closed: return false
        case .open(let until): return now >= until
        case .halfOpen(let probeInFlight): return !probeInFlight
        }
    }

    /// The lock request to send now, if none is in flight.
    public mutating func probeLockCommand(ttlMs: Int) -> Command? {
        guard !probeLockAsked, !holdsProbeLock else { return nil }
        probeLockAsked = true
        return .acquireProbe(ttlMs: max(1, ttlMs))
    }

    /// The store answered `SET probe NX`. Denied: the breaker stays open for a poll interval at least.
    public mutating func probeLockAnswered(granted: Bool, breaker: inout CircuitBreaker, now: UInt64) {
        probeLockAsked = false
        if granted {
            holdsProbeLock = true
            waitingForFleetProbe = false
        } else {
            waitingForFleetProbe = true
            holdOpen(&breaker, until: now &+ Self.pollNs * 2)
        }
    }

    /// The store did not answer the lock request (down or slow): the local breaker decides alone.
    public mutating func probeLockUnanswered() {
        probeLockAsked = false
        holdsProbeLock = true
    }

    /// The probe this worker ran is over; returns the command to release the lock if it held it.
    public mutating func probeFinished() -> Command? {
        guard holdsProbeLock else { return nil }
        holdsProbeLock = false
        return .releaseProbe
    }

    /// A poll's answer: `openRemainingMs` (nil: no `open` key) and whether a `probe` key exists.
    public mutating func polled(
        openRemainingMs: Int?, probeHeld: Bool, breaker: inout CircuitBreaker, now: UInt64
    ) {
        if let remaining = openRemainingMs, remaining > 0 {
            let until = now &+ UInt64(remaining) &* 1_000_000
            switch breaker.state {
            case .halfOpen(probeInFlight: true):
                break  // this worker's own probe decides
            case .closed:
                breaker.state = .open(until: until)
            case .open(let current):
                breaker.state = .open(until: max(current, until))
            case .halfOpen(probeInFlight: false):
                breaker.state = .open(until: until)
            }
            // The key's expiry governs now; a new round for the probe lock follows it.
            if !holdsProbeLock { waitingForFleetProbe = false }
        } else if waitingForFleetProbe {
            if probeHeld {
                holdOpen(&breaker, until: now &+ Self.pollNs * 2)
            } else if !holdsProbeLock {
                // Another replica's probe succeeded (it deleted the lock, and nobody set `open` again).
                waitingForFleetProbe = false
                if case .halfOpen(probeInFlight: true) = breaker.state { return }
                breaker.state = .closed(consecutiveFailures: 0)
            }
        }
    }

    /// The store is gone: forget every fleet state, the local breaker decides alone.
    public mutating func storeLost() {
        self = FleetBreaker()
    }

    static let pollNs = UInt64(pollIntervalMs) * 1_000_000

    private func holdOpen(_ breaker: inout CircuitBreaker, until: UInt64) {
        switch breaker.state {
        case .halfOpen(probeInFlight: true): return
        case .open(let current): breaker.state = .open(until: max(current, until))
        default: breaker.state = .open(until: until)
        }
    }
}
