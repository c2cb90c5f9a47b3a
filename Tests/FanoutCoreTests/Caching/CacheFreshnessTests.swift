import Testing

@testable import FanoutCore

@Suite struct CacheFreshnessTests {
    /// Sun, 06 Nov 1994 08:49:37 GMT: the wall clock when the answer arrived.
    private static let now: Int64 = 784_111_777
    private static let date = "Sun, 06 Nov 1994 08:49:37 GMT"
    private static let minute = CachePolicy(lifetime: .upTo(milliseconds: 60_000))

    private func freshness(
        _ cacheControl: String?, status: Int = 200, expires: String? = nil, date: String? = nil, age: String? = nil,
        vary: String? = nil
    ) -> CacheFreshness? {
        CacheFreshness(
            status: status,
            headers: CacheHeaders(cacheControl: cacheControl, vary: vary, expires: expires, date: date, age: age),
            now: Self.now)
    }

    /// Fresh, end of stale-while-revalidate, end of stale-if-error, in ms after storing; nil when not stored.
    private func windows(
        _ cacheControl: String?, expires: String? = nil, date: String? = nil, age: String? = nil,
        policy: CachePolicy = minute
    ) -> [Int]? {
        freshness(cacheControl, expires: expires, date: date, age: age).map { freshness in
            let windows = freshness.windows(for: policy)
            return [windows.freshMs, windows.revalidateMs, windows.errorMs]
        }
    }

    @Test func theConfiguredLifetimeAppliesWithoutExplicitFreshness() {
        #expect(windows(nil) == [60_000, 60_000, 60_000])
        #expect(windows("public") == [60_000, 60_000, 60_000])
    }

    @Test func onlySuccessfulAnswersAreStored() {
        #expect(freshness(nil, status: 204) != nil)
        for status in [304, 404, 500, 503] { #expect(freshness("max-age=60", status: status) == nil) }
    }

    @Test func noStorePrivateAndNoCacheWinOverEverythingElse() {
        #expect(freshness("no-store") == nil)
        #expect(freshness("public, max-age=30, stale-if-error=600, No-Store") == nil)
        #expect(freshness("private, max-age=600") == nil)
        #expect(freshness("no-cache") == nil)
        #expect(freshness("no-cache=\"Set-Cookie\", max-age=60") == nil)
    }

    @Test func maxAgeShortensButNeverLengthensTheConfiguredLifetime() {
        #expect(windows("max-age=5")?.first == 5_000)
        #expect(windows("max-age=\"7\"")?.first == 7_000)
        #expect(windows("max-age=3600")?.first == 60_000)
        #expect(windows("max-age=99999999999999999999")?.first == 60_000)
        #expect(windows("max-age=0")?.first == 0)
        // Unparsable: already stale (RFC 9111 §4.2.1).
        #expect(windows("max-age=ten")?.first == 0)
        #expect(windows("max-age=-1")?.first == 0)
        #expect(windows("max-age=0")?.max() == 0)
    }

    @Test func sharedMaxAgeWinsOverMaxAgeWhichWinsOverExpires() {
        let inThirty = "Sun, 06 Nov 1994 08:50:07 GMT"
        #expect(windows("max-age=5, s-maxage=20", expires: inThirty, date: Self.date)?.first == 20_000)
        #expect(windows("s-maxage=ten, max-age=20")?.first == 0)
        #expect(windows("max-age=5", expires: inThirty, date: Self.date)?.first == 5_000)
        #expect(windows(nil, expires: inThirty, date: Self.date)?.first == 30_000)
    }

    @Test func expiresIsMeasuredFromDateOrElseFromArrival() {
        // Date an hour behind the local clock: Expires − Date is still 30 s (both from the partner's clock).
        let date = "Sun, 06 Nov 1994 07:49:37 GMT"
        #expect(windows(nil, expires: "Sun, 06 Nov 1994 07:50:07 GMT", date: date)?.first == 30_000)
        // No Date, or an invalid one: from the time the answer arrived.
        #expect(windows(nil, expires: "Sun, 06 Nov 1994 08:50:07 GMT")?.first == 30_000)
        #expect(windows(nil, expires: "Sunday, 06-Nov-94 08:50:07 GMT", date: "yesterday")?.first == 30_000)
        #expect(windows(nil, expires: "Sun Nov  6 08:50:07 1994")?.first == 30_000)
        // Expires shortens the configured lifetime, never lengthens it.
        #expect(windows(nil, expires: "Sun, 06 Nov 1994 09:49:37 GMT", date: Self.date)?.first == 60_000)
    }

    @Test func anInvalidOrPastExpiresMeansAlreadyExpired() {
        #expect(windows(nil, expires: "0", date: Self.date)?.first == 0)
        #expect(windows(nil, expires: "-1")?.first == 0)
        #expect(windows(nil, expires: "Sun, 06 Nov 1994 08:00:00 GMT", date: Self.date)?.first == 0)
        // Kept only for a stale-if-error window, if any.
        let sie = CachePolicy(lifetime: .upTo(milliseconds: 60_000), staleIfErrorMs: 10_000)
        #expect(windows(nil, expires: "0", policy: sie) == [0, 0, 10_000])
    }

    @Test func ageIsSubtractedFromTheLifetime() {
        #expect(windows("max-age=10", age: "4")?.first == 6_000)
        #expect(windows(nil, expires: "Sun, 06 Nov 1994 08:50:07 GMT", date: Self.date, age: "10")?.first == 20_000)
        #expect(windows("max-age=10", age: "4, 9")?.first == 6_000)
        #expect(windows("max-age=10", age: "soon")?.first == 10_000)
        // Older than its lifetime: arrived stale; the stale windows count from when it became stale.
        #expect(windows("max-age=10, stale-while-revalidate=30", age: "15") == [-5_000, 25_000, -5_000])
        // Age alone does not shorten the configured lifetime (it only ages explicit freshness).
        #expect(windows(nil, age: "30")?.first == 60_000)
    }

    @Test func upstreamModeTakesTheExplicitFreshnessUpToADay() {
        let upstream = CachePolicy(lifetime: .upstream)
        #expect(windows("max-age=600", policy: upstream) == [600_000, 600_000, 600_000])
        #expect(windows("max-age=31536000", policy: upstream)?.first == CachePolicy.upstreamLimitMs)
        #expect(
            windows(nil, expires: "Sun, 06 Nov 1994 08:50:07 GMT", date: Self.date, policy: upstream)?.first == 30_000)
        // No explicit freshness: no heuristic lifetime, nothing kept, not even for a configured stale window.
        let withStale = CachePolicy(lifetime: .upstream, staleWhileRevalidateMs: 5_000, staleIfErrorMs: 5_000)
        #expect(windows("public", policy: withStale) == [0, 0, 0])
        #expect(windows("stale-if-error=60", policy: upstream) == [0, 0, 0])
    }

    @Test func staleDirectivesOfThePartnerWinOverTheCallDefaults() {
        let defaults = CachePolicy(
            lifetime: .upTo(milliseconds: 60_000), staleWhileRevalidateMs: 2_000, staleIfErrorMs: 3_000)
        #expect(windows("max-age=1, stale-while-revalidate=30, stale-if-error=300") == [1_000, 31_000, 301_000])
        #expect(windows("max-age=1", policy: defaults) == [1_000, 3_000, 4_000])
        #expect(windows("max-age=1, stale-if-error=10", policy: defaults) == [1_000, 3_000, 11_000])
        #expect(windows("max-age=1, stale-if-error=later", policy: defaults) == [1_000, 3_000, 4_000])
        #expect(windows("max-age=1, stale-while-revalidate=99999999", policy: defaults)?[1] == 1_000 + 86_400_000)
    }

    @Test func mustRevalidateForbidsStaleAndSharedMaxAgeDropsTheDefaults() {
        let defaults = CachePolicy(
            lifetime: .upTo(milliseconds: 60_000), staleWhileRevalidateMs: 2_000, staleIfErrorMs: 3_000)
        #expect(windows("max-age=1, must-revalidate, stale-if-error=60", policy: defaults) == [1_000, 1_000, 1_000])
        #expect(windows("max-age=1, proxy-revalidate", policy: defaults) == [1_000, 1_000, 1_000])
        #expect(windows("s-maxage=1", policy: defaults) == [1_000, 1_000, 1_000])
        #expect(windows("s-maxage=1, stale-while-revalidate=59", policy: defaults) == [1_000, 60_000, 1_000])
    }

    @Test func varyStarOrAnUnkeyedHeaderIsNeverStored() {
        #expect(freshness(nil, vary: "*") == nil)
        #expect(freshness(nil, vary: "Accept-Language, *") == nil)
        #expect(freshness(nil, vary: "x-request-id") == nil)
        #expect(freshness(nil, vary: "Accept, Traceparent") == nil)
        #expect(freshness(nil, vary: "X-Forwarded-For") == nil)
        #expect(freshness(nil, vary: "Accept-Language, Authorization") != nil)
    }

    @Test func windowsSayWhatAnEntryOfAGivenAgeIsGoodFor() {
        let windows = CacheWindows(freshMs: 1_000, revalidateMs: 31_000, errorMs: 301_000)
        #expect(windows.keepMs == 301_000)
        #expect(
            [0, 999, 1_000, 30_999, 31_000, 300_999, 301_000].map(windows.state) == [
                .fresh, .fresh, .staleWhileRevalidate, .staleWhileRevalidate, .staleIfError, .staleIfError, .expired,
            ])
        // stale-if-error shorter than stale-while-revalidate: it adds nothing.
        let short = CacheWindows(freshMs: 0, revalidateMs: 10_000, errorMs: 5_000)
        #expect([0, 9_999, 10_000].map(short.state) == [.staleWhileRevalidate, .staleWhileRevalidate, .expired])
    }

    @Test func staleIfErrorCoversUnreachedPartnersAndTheirServerErrors() {
        let covered: [CallFailure] = [
            .timeout, .refused, .unreachable("u"), .connection("c"), .tls("t"), .circuitOpen,
            .overloaded(queueLimit: 1),
            .status(503),
        ]
        for failure in covered { #expect(failure.permitsStaleAnswer, "\(failure)") }
        let notCovered: [CallFailure] = [
            .status(404), .tooLarge, .invalidBody, .htmlPage, .skipped("s"), .tooManyItems(count: 2, limit: 1),
        ]
        for failure in notCovered { #expect(!failure.permitsStaleAnswer, "\(failure)") }
    }

    @Test func cacheHeadersKeepTheFiveFieldsAndNothingElse() {
        var headers = CacheHeaders()
        let fields = [
            ("Cache-Control", "max-age=5", true), ("cache-control", "stale-if-error=9", true),
            ("DATE", Self.date, true),
            ("Date", "later", true), ("Vary", "Accept", true), ("vary", "Accept-Language", true),
            ("Expires", "0", true), ("Age", "3", true), ("Content-Length", "3", false), ("Ages", "3", false),
        ]
        for (name, value, kept) in fields {
            let taken = headers.take(name: name, value: value)
            #expect(taken == kept, "\(name)")
        }
        #expect(
            headers
                == CacheHeaders(
                    cacheControl: "max-age=5, stale-if-error=9", vary: "Accept, Accept-Language", expires: "0",
                    date: Self.date, age: "3"))
    }
}
