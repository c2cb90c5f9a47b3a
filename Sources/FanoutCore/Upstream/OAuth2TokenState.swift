/// One upstream's access token on one worker, as a state machine over an injected monotonic clock
/// (nanoseconds): empty → fetching → valid(until) → refreshing → valid…, or → failed(backoff until).
///
/// - At most one token request runs at a time (single flight): a call that finds one running waits for it
///   (``Acquisition/wait(startFetch:)``), or uses the current token while it is still valid.
/// - A token is refreshed in the background from `refresh_before` ahead of its expiry (at most half its
///   lifetime ahead), so calls keep using it meanwhile; once expired, calls wait for the new one.
/// - A failed request starts a back-off (``OAuth2Settings/backoffMs``): calls without a valid token fail at
///   once (`auth`) until it ends, then the next call asks again. A refresh that fails keeps the old token
///   while it is valid.
/// - A 401 with the current token (``invalidate(_:)``) drops it: the next call fetches a new one.
///
/// The runtime carries out what it returns: it starts the request when told `startFetch`, and reports the end
/// with ``fetchSucceeded(_:now:)`` or ``fetchFailed(now:)``.
public struct OAuth2TokenState: Sendable {
    /// A token and the times that matter for it.
    public struct Token: Sendable, Equatable {
        public var value: String
        /// From here on the token is not sent any more.
        public var expiresAt: UInt64
        /// From here on a call that uses it also starts a refresh.
        public var refreshAt: UInt64
    }

    public enum State: Sendable, Equatable {
        /// No token and no request running.
        case empty
        /// A request runs and there is no valid token: calls wait.
        case fetching
        /// A token, no request running.
        case valid(Token)
        /// A request runs; calls use the token meanwhile while it is valid.
        case refreshing(Token)
        /// The last request failed: no request before `backoffUntil`. `token`: one still usable until it
        /// expires (a failed refresh).
        case failed(backoffUntil: UInt64, token: Token?)
    }

    /// What a call does now.
    public enum Acquisition: Sendable, Equatable {
        /// Send the call with this token; `startFetch`: also start a (background) refresh.
        case use(String, startFetch: Bool)
        /// Wait for the request in flight; `startFetch`: start it first.
        case wait(startFetch: Bool)
        /// Fail the call (`auth`): the last request failed and its back-off runs until then.
        case backingOff(until: UInt64)
    }

    public private(set) var state: State = .empty
    public let refreshBeforeNs: UInt64
    public let backoffNs: UInt64

    public init(refreshBeforeMs: Int, backoffMs: Int = OAuth2Settings.backoffMs) {
        self.refreshBeforeNs = UInt64(max(0, refreshBeforeMs)) * 1_000_000
        self.backoffNs = UInt64(max(0, backoffMs)) * 1_000_000
    }

    /// Whether a token request is running.
    public var isFetching: Bool {
        switch self.state {
        case .fetching, .refreshing: return true
        case .empty, .valid, .failed: return false
        }
    }

    /// A call wants a token at `now`.
    public mutating func acquire(now: UInt64) -> Acquisition {
        switch self.state {
        case .empty:
            self.state = .fetching
            return .wait(startFetch: true)
        case .fetching:
            return .wait(startFetch: false)
        case .valid(let token):
            if now >= token.expiresAt {
                self.state = .fetching
                return .wait(startFetch: true)
            }
            if now >= token.refreshAt {
                self.state = .refreshing(token)
                return .use(token.value, startFetch: true)
            }
            return .use(token.value, startFetch: false)
        case .refreshing(let token):
            if now >= token.expiresAt {
                self.state = .fetching
                return .wait(startFetch: false)
            }
            return .use(token.value, startFetch: false)
        case .failed(let backoffUntil, let token):
            if let token, now < token.expiresAt {
                if now >= backoffUntil {
                    self.state = .refreshing(token)
                    return .use(token.value, startFetch: true)
                }
                return .use(token.value, startFetch: false)
            }
            if now < backoffUntil { return .backingOff(until: backoffUntil) }
            self.state = .fetching
            return .wait(startFetch: true)
        }
    }

    /// The request in flight brought a token living `response.expiresInSeconds` (at least 1 s; the default
    /// when absent).
    public mutating func fetchSucceeded(_ response: OAuth2TokenResponse, now: UInt64) {
        let seconds = max(1, response.expiresInSeconds ?? OAuth2Settings.defaultLifetimeSeconds)
        let lifetime = UInt64(seconds) * 1_000_000_000
        let margin = min(self.refreshBeforeNs, lifetime / 2)
        self.state = .valid(
            Token(value: response.accessToken, expiresAt: now &+ lifetime, refreshAt: now &+ lifetime &- margin))
    }

    /// The request in flight failed: back off, keeping a token that is still valid.
    public mutating func fetchFailed(now: UInt64) {
        var kept: Token?
        if case .refreshing(let token) = self.state, now < token.expiresAt { kept = token }
        self.state = .failed(backoffUntil: now &+ self.backoffNs, token: kept)
    }

    /// The partner answered 401 to a call sent with `value`: if it is still the current token, it is dropped
    /// (a request already running is then waited for). A token that already changed is left alone.
    public mutating func invalidate(_ value: String) {
        switch self.state {
        case .valid(let token) where token.value == value:
            self.state = .empty
        case .refreshing(let token) where token.value == value:
            self.state = .fetching
        case .failed(let backoffUntil, let token?) where token.value == value:
            self.state = .failed(backoffUntil: backoffUntil, token: nil)
        case .empty, .fetching, .valid, .refreshing, .failed:
            break
        }
    }
}
