/// The accounting of one worker's share of a fleet-wide `rate N/s shared` quota: a pure value driven by an
/// injected monotonic clock (nanoseconds), with no I/O.
///
/// The store keeps one GCRA state per quota (``FleetQuotaScript``): it grants at most `rate × t + burst` tokens
/// over any span `t`, to whichever replica asks. A worker leases small batches from it and spends them locally,
/// so most calls cost no store round trip:
///
/// - ``take(now:)`` spends a leased token; tokens older than ``leaseLifetimeNs`` are dropped, so a worker can
///   never hoard tokens and spend them later as a burst above the fleet's rate.
/// - ``renewal(now:)`` says when to ask for more and how many: when the lease runs low (a quarter of the last
///   batch or less) or is empty, never twice at once, never before the store's wait hint. The batch follows
///   the worker's own rate (an EWMA of its calls): about ``batchSpanNs`` of its calls, at least 1 and at most
///   the store's burst, so a quiet worker does not lock up tokens a busy one needs.
/// - ``granted(_:asked:retryAfterMs:now:)`` records the answer. A partial grant (fewer than asked, 0 included)
///   means the fleet is at its rate: the worker spends what it got and asks again only after the store's hint
///   (when its next token is due), while calls over the limit wait in the queue as with a local `rate`.
public struct QuotaLease: Sendable, Equatable {
    /// The fleet-wide rate, calls per second.
    public private(set) var ratePerSecond: Double
    /// Tokens held and the time they expire.
    public private(set) var tokens: Int = 0
    public private(set) var expiresAt: UInt64 = 0
    /// A renewal was asked for and has not been answered.
    public private(set) var renewing = false
    /// Not before this time: the store said the quota is spent until then.
    public private(set) var retryAt: UInt64 = 0
    /// Until this time the local limit decides (a renewal failed).
    public private(set) var localUntil: UInt64 = 0
    /// The size of the last batch granted (for the low-water mark).
    private var lastBatch: Int = 0
    /// The worker's own call rate (calls per second, EWMA) and the time it was last updated.
    public private(set) var localRate: Double = 0
    private var rateSampledAt: UInt64
    private var callsSinceSample: Int = 0

    /// How long leased tokens stay spendable: 200 ms.
    public static let leaseLifetimeNs: UInt64 = 200_000_000
    /// A batch covers about 50 ms of the worker's own calls.
    public static let batchSpanNs: UInt64 = 50_000_000
    /// The local rate is sampled over 100 ms windows.
    static let sampleNs: UInt64 = 100_000_000

    public init(ratePerSecond: Double, now: UInt64) {
        self.ratePerSecond = ratePerSecond
        self.rateSampledAt = now
    }

    /// The store's burst tolerance in tokens: 5 % of a second of the rate, at least 1. Over any second the fleet
    /// then starts at most `rate + burst` calls from fresh grants (the lease lifetime adds the tokens granted in
    /// the 200 ms before, spent late only when calls were waiting for them).
    public var burst: Int { max(1, Int((ratePerSecond / 20).rounded(.down))) }

    /// A new rate (a reload); tokens held are kept until they expire.
    public mutating func reconfigure(ratePerSecond: Double) {
        self.ratePerSecond = ratePerSecond
    }

    /// Spends one leased token if one is held and unexpired at `now`. Counts the call for the local rate either
    /// way (a call that waits is still demand).
    public mutating func take(now: UInt64) -> Bool {
        sample(now: now)
        callsSinceSample += 1
        if now >= expiresAt { tokens = 0 }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    /// Whether a token is held at `now` (without spending it).
    public func hasToken(now: UInt64) -> Bool { tokens > 0 && now < expiresAt }

    /// How many tokens to ask the store for now, or nil when no renewal is due.
    public func renewal(now: UInt64) -> Int? {
        guard !renewing, now >= retryAt else { return nil }
        let held = now < expiresAt ? tokens : 0
        guard held == 0 || held * 4 <= lastBatch else { return nil }
        return batchSize
    }

    /// The batch asked for: about ``batchSpanNs`` of the local rate, from 1 to ``burst``.
    public var batchSize: Int {
        let wanted = Int((localRate * Double(Self.batchSpanNs) / 1e9).rounded(.up))
        return min(burst, max(1, wanted))
    }

    /// A renewal was sent.
    public mutating func renewalSent() {
        renewing = true
    }

    /// The store answered a renewal: `count` tokens out of `asked`; when short, it named the milliseconds until
    /// its next token is due.
    public mutating func granted(_ count: Int, asked: Int, retryAfterMs: Int, now: UInt64) {
        renewing = false
        let held = now < expiresAt ? tokens : 0
        tokens = held + max(0, count)
        if count > 0 {
            expiresAt = now &+ Self.leaseLifetimeNs
            lastBatch = count
        }
        retryAt = count < asked ? now &+ UInt64(max(1, retryAfterMs)) &* 1_000_000 : 0
    }

    /// The renewal got no answer (store down or slow): the local limit decides for ``fallbackNs`` (a store that
    /// does not answer is not asked again for every call), then the store is tried again.
    public mutating func renewalFailed(now: UInt64) {
        renewing = false
        localUntil = now &+ Self.fallbackNs
    }

    /// Whether calls should be admitted by the lease (true) or by the local limit (false) at `now`.
    public func usesStore(now: UInt64) -> Bool { now >= localUntil }

    /// How long a failed renewal hands calls to the local limit: 500 ms.
    public static let fallbackNs: UInt64 = 500_000_000

    /// Nanoseconds from `now` until a renewal may be asked (0: now, or one is already in flight).
    public func nanosecondsUntilRenewal(now: UInt64) -> UInt64 {
        retryAt > now ? retryAt - now : 0
    }

    private mutating func sample(now: UInt64) {
        let elapsed = now &- rateSampledAt
        guard now > rateSampledAt, elapsed >= Self.sampleNs else { return }
        let measured = Double(callsSinceSample) / (Double(elapsed) / 1e9)
        // A quiet spell longer than a window counts fully; otherwise half old, half new.
        localRate = elapsed > 4 * Self.sampleNs ? measured : (localRate + measured) / 2
        callsSinceSample = 0
        rateSampledAt = now
    }
}

/// The store side of a shared quota: a GCRA (generic cell rate algorithm) in one Lua script, run with EVALSHA.
/// KEYS[1]: the quota's key; ARGV: microseconds per token, burst tolerance in microseconds, tokens asked. It
/// answers `{granted, retryAfterMs}`: as many tokens as the rate allows now (0 to asked), and when fewer, the
/// milliseconds until the next one is due. The clock is the store's (`TIME`), so replicas' clocks do not matter.
public enum FleetQuotaScript {
    public static let source = """
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local ask = tonumber(ARGV[3])
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local room = math.floor((now + burst - tat) / interval)
        local grant = math.max(0, math.min(ask, room))
        if grant > 0 then
          tat = tat + grant * interval
          redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
        end
        local wait = 0
        if grant < ask then wait = math.max(1, math.ceil((tat + interval - burst - now) / 1000)) end
        return {grant, wait}
        """

    /// The script's arguments for `lease`.
    public static func arguments(_ lease: QuotaLease, asking count: Int) -> [String] {
        let interval = max(1, Int((1e6 / lease.ratePerSecond).rounded()))
        return [String(interval), String(interval * lease.burst), String(count)]
    }
}

/// The store keys of one upstream's shared quota and breaker. They share the hash tag `{NAME}`, so that a Redis
/// Cluster keeps them on one node.
public struct FleetKeys: Sendable, Equatable {
    public var quota: String
    public var breakerOpen: String
    public var breakerProbe: String

    public init(prefix: String, upstream name: String) {
        let tag = "\(prefix){\(name)}"
        quota = tag + ":quota"
        breakerOpen = tag + ":breaker:open"
        breakerProbe = tag + ":breaker:probe"
    }
}
