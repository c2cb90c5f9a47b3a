import Testing

@testable import FanoutCore

/// ``OAuth2TokenState`` over an injected clock (nanoseconds): single flight, refresh ahead of expiry, back-off
/// after a failure, and 401 invalidation.
@Suite struct OAuth2TokenStateTests {
    static let second: UInt64 = 1_000_000_000

    static func token(_ value: String, expiresIn: Int?) -> OAuth2TokenResponse {
        OAuth2TokenResponse(accessToken: value, expiresInSeconds: expiresIn)
    }

    @Test func theFirstCallStartsTheOnlyRequestAndTheOthersWaitForIt() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000)
        #expect(state.acquire(now: 0) == .wait(startFetch: true))
        #expect(state.acquire(now: 1) == .wait(startFetch: false))
        #expect(state.acquire(now: 2) == .wait(startFetch: false))
        #expect(state.isFetching)
        state.fetchSucceeded(Self.token("a", expiresIn: 3600), now: 10)
        #expect(state.acquire(now: 11) == .use("a", startFetch: false))
        #expect(!state.isFetching)
    }

    @Test func refreshesInTheBackgroundFromRefreshBeforeAheadOfExpiry() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000)
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("a", expiresIn: 300), now: 0)
        #expect(state.acquire(now: 269 * Self.second) == .use("a", startFetch: false))
        #expect(state.acquire(now: 270 * Self.second) == .use("a", startFetch: true))
        #expect(state.acquire(now: 271 * Self.second) == .use("a", startFetch: false), "one refresh at a time")
        #expect(state.isFetching)
        // The refresh is late: once the token expired, calls wait for it.
        #expect(state.acquire(now: 300 * Self.second) == .wait(startFetch: false))
        state.fetchSucceeded(Self.token("b", expiresIn: 300), now: 301 * Self.second)
        #expect(state.acquire(now: 301 * Self.second) == .use("b", startFetch: false))
    }

    @Test func refreshBeforeIsCappedAtHalfTheLifetime() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000)
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("short", expiresIn: 2), now: 0)
        #expect(state.state == .valid(.init(value: "short", expiresAt: 2 * Self.second, refreshAt: Self.second)))
        #expect(state.acquire(now: Self.second - 1) == .use("short", startFetch: false))
        #expect(state.acquire(now: Self.second) == .use("short", startFetch: true))
    }

    @Test func aTokenWithoutExpiresInLivesTheDefaultAndZeroLivesOneSecond() {
        var state = OAuth2TokenState(refreshBeforeMs: 0)
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("a", expiresIn: nil), now: 0)
        let lifetime = UInt64(OAuth2Settings.defaultLifetimeSeconds) * Self.second
        #expect(state.state == .valid(.init(value: "a", expiresAt: lifetime, refreshAt: lifetime)))
        state.invalidate("a")
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("b", expiresIn: 0), now: 0)
        #expect(state.acquire(now: Self.second) == .wait(startFetch: true))
    }

    @Test func aFailedRequestBacksOffThenTheNextCallAsksAgain() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000, backoffMs: 1_000)
        _ = state.acquire(now: 0)
        state.fetchFailed(now: 5 * Self.second)
        let until = 6 * Self.second
        #expect(state.state == .failed(backoffUntil: until, token: nil))
        #expect(state.acquire(now: until - 1) == .backingOff(until: until))
        #expect(state.acquire(now: until) == .wait(startFetch: true))
        #expect(state.acquire(now: until + 1) == .wait(startFetch: false))
    }

    @Test func aFailedRefreshKeepsTheValidTokenAndRetriesAfterTheBackOff() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000, backoffMs: 1_000)
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("a", expiresIn: 60), now: 0)
        #expect(state.acquire(now: 30 * Self.second) == .use("a", startFetch: true))
        state.fetchFailed(now: 31 * Self.second)
        #expect(state.acquire(now: 31 * Self.second) == .use("a", startFetch: false))
        #expect(state.acquire(now: 32 * Self.second) == .use("a", startFetch: true))
        let half = Self.second / 2
        state.fetchFailed(now: 59 * Self.second + half)
        // Expired within the back-off: calls fail until it ends.
        #expect(state.acquire(now: 60 * Self.second) == .backingOff(until: 60 * Self.second + half))
        #expect(state.acquire(now: 60 * Self.second + half) == .wait(startFetch: true))
    }

    @Test func a401DropsTheCurrentTokenButNotANewerOne() {
        var state = OAuth2TokenState(refreshBeforeMs: 30_000)
        _ = state.acquire(now: 0)
        state.fetchSucceeded(Self.token("a", expiresIn: 3600), now: 0)
        state.invalidate("old")
        #expect(state.acquire(now: 1) == .use("a", startFetch: false))
        state.invalidate("a")
        #expect(state.state == .empty)
        #expect(state.acquire(now: 2) == .wait(startFetch: true))
        // A 401 for the token being refreshed: the refresh in flight is waited for, not doubled.
        state.fetchSucceeded(Self.token("b", expiresIn: 60), now: 3)
        #expect(state.acquire(now: 40 * Self.second) == .use("b", startFetch: true))
        state.invalidate("b")
        #expect(state.acquire(now: 40 * Self.second) == .wait(startFetch: false))
    }
}
