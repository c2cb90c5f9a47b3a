import Testing

@testable import FanoutCore

@Suite struct CacheFreshnessTests {
    private func lifetime(_ cacheControl: String?, status: Int = 200, vary: String? = nil, configured: Int = 60_000)
        -> Int?
    {
        CacheFreshness.lifetimeMs(configuredMs: configured, status: status, cacheControl: cacheControl, vary: vary)
    }

    @Test func theConfiguredLifetimeAppliesWithoutCacheControl() {
        #expect(lifetime(nil) == 60_000)
        #expect(lifetime("public") == 60_000)
        #expect(lifetime(nil, configured: 0) == nil)
    }

    @Test func onlySuccessfulAnswersAreStored() {
        #expect(lifetime(nil, status: 204) == 60_000)
        #expect(lifetime(nil, status: 304) == nil)
        #expect(lifetime(nil, status: 404) == nil)
        #expect(lifetime(nil, status: 500) == nil)
    }

    @Test func noStorePrivateAndNoCacheAreNeverStored() {
        #expect(lifetime("no-store") == nil)
        #expect(lifetime("public, max-age=30, No-Store") == nil)
        #expect(lifetime("private, max-age=600") == nil)
        #expect(lifetime("no-cache") == nil)
    }

    @Test func maxAgeShortensButNeverLengthensTheConfiguredLifetime() {
        #expect(lifetime("max-age=5") == 5_000)
        #expect(lifetime("max-age=\"7\"") == 7_000)
        #expect(lifetime("max-age=3600") == 60_000)
        #expect(lifetime("max-age=0") == nil)
        #expect(lifetime("max-age=99999999999999999999") == 60_000)
        #expect(lifetime("max-age=5, s-maxage=20") == 20_000)
        #expect(lifetime("max-age=ten") == nil)
        #expect(lifetime("max-age=-1") == nil)
    }

    @Test func varyStarIsNeverStored() {
        #expect(lifetime(nil, vary: "*") == nil)
        #expect(lifetime(nil, vary: "Accept-Language, *") == nil)
        #expect(lifetime(nil, vary: "Accept-Language") == 60_000)
    }
}
