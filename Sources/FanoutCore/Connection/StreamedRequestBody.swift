/// The client's limits on a request body streamed to its exchange, part of a ``ClientConnectionStateMachine``'s
/// `handling` state while the body arrives: `client_timeout` between two reads, and the route's `min_rate`
/// over the whole body (a ``RateBudget``). Neither runs while the body's pipe is full: then the upstream is the
/// slow side, and the exchange's own timeout covers it. One body timer fires at the earlier of the two.
public struct StreamedRequestBody: Sendable, Equatable {
    /// Where the idle limit runs out unless the client sends more first.
    public private(set) var idleDeadline: UInt64
    /// The route's `min_rate`, when it has one.
    public private(set) var budget: RateBudget?
    /// The pipe is full: the client's limits are paused.
    public private(set) var paused = false
    let clientTimeoutNanoseconds: UInt64

    init(clientTimeoutMs: Int, minRate: MinimumRate?, now: UInt64) {
        clientTimeoutNanoseconds = UInt64(max(0, clientTimeoutMs)) &* 1_000_000
        idleDeadline = now &+ clientTimeoutNanoseconds
        budget = minRate.map { RateBudget($0, start: now) }
    }

    /// When the body timer fires; nil while paused.
    public var deadline: UInt64? {
        paused ? nil : min(idleDeadline, budget?.deadline ?? .max)
    }

    /// Bytes came from the client: the idle limit starts again.
    mutating func bytesRead(now: UInt64) {
        idleDeadline = now &+ clientTimeoutNanoseconds
    }

    /// `count` body bytes went into the pipe.
    mutating func bytesMoved(_ count: Int, now: UInt64) {
        budget?.bytesMoved(count, at: now)
    }

    /// The pipe filled up (true) or has room again (false). Returns whether that changed anything.
    mutating func setPaused(_ full: Bool, now: UInt64) -> Bool {
        guard full != paused else { return false }
        paused = full
        if full {
            budget?.pause(at: now)
        } else {
            budget?.resume(at: now)
            idleDeadline = now &+ clientTimeoutNanoseconds
        }
        return true
    }

    /// Why the body is cut at `now`, if it is.
    func expiry(at now: UInt64) -> RequestBodyFailure? {
        if paused { return nil }
        if let budget, budget.isSpent(at: now) { return .slowerThanMinRate(budget.rate) }
        if now >= idleDeadline { return .notReceivedInTime }
        return nil
    }
}

/// Why a streamed request body broke off before its end.
public enum RequestBodyFailure: Sendable, Equatable {
    /// The client half-closed before the body ended.
    case clientClosed
    /// Nothing arrived for `client_timeout`.
    case notReceivedInTime
    /// The body moved slower than its route's `min_rate`.
    case slowerThanMinRate(MinimumRate)
    /// Its framing was wrong or it outgrew its limit, as the parser found.
    case malformed(HTTPParserError)

    /// The status of the error answer, when the answer has not begun.
    public var status: Int {
        switch self {
        case .clientClosed: return 400
        case .notReceivedInTime, .slowerThanMinRate: return 408
        case .malformed(let error): return error.status
        }
    }

    /// The message of the error answer.
    public var message: String {
        switch self {
        case .clientClosed: return "the connection ended before the request body"
        case .notReceivedInTime: return "the request body was not received in time"
        case .slowerThanMinRate(let rate): return "the request body arrived slower than min_rate \(rate)"
        case .malformed(let error): return error.message
        }
    }
}

/// The streamed answer being written, part of a ``ClientConnectionStateMachine``'s `handling` state from its
/// head to its end: its status (for the access log), its framer (every body byte goes through it), where its
/// head starts in the output while none of it was sent, and whether the exchange waits for the client to take
/// the output (back-pressure).
public struct StreamedAnswer: Sendable {
    public let status: Int
    public var framer: ResponseBodyFramer
    /// Where the head starts in the output buffer while no byte of it was sent; nil once any was.
    public private(set) var unsentHeadStart: Int?
    /// The exchange was refused bytes and paused its upstream: it hears when the client took the output.
    public internal(set) var exchangeWaits = false

    init(status: Int, framer: ResponseBodyFramer, headStart: Int) {
        self.status = status
        self.framer = framer
        self.unsentHeadStart = headStart
    }

    mutating func bytesSent() {
        unsentHeadStart = nil
    }
}
