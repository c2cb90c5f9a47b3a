import Testing

@testable import FanoutCore

@Suite struct ResponseHeaderPlanTests {
    @Test func theShortestRemainingFreshnessWinsInWholeSeconds() {
        #expect(
            DerivedCacheControl.value(status: 200, calls: [.fresh(remainingMs: 60_000), .fresh(remainingMs: 9_999)])
                == "max-age=9")
        #expect(DerivedCacheControl.value(status: 200, calls: [.fresh(remainingMs: -5)]) == "max-age=0")
    }

    @Test func anUncacheableCallAFailureOrNoCallsGiveNoStore() {
        #expect(
            DerivedCacheControl.value(status: 200, calls: [.fresh(remainingMs: 60_000), .uncacheable]) == "no-store")
        #expect(DerivedCacheControl.value(status: 502, calls: [.fresh(remainingMs: 60_000)]) == "no-store")
        #expect(DerivedCacheControl.value(status: 200, calls: []) == "no-store")
    }

    @Test func itemContributionsCombineToTheShortestAndUncacheableWins() {
        #expect(DerivedCacheControl.combine(nil, .fresh(remainingMs: 5)) == .fresh(remainingMs: 5))
        #expect(DerivedCacheControl.combine(.fresh(remainingMs: 9), .fresh(remainingMs: 5)) == .fresh(remainingMs: 5))
        #expect(DerivedCacheControl.combine(.uncacheable, .fresh(remainingMs: 5)) == .uncacheable)
        #expect(DerivedCacheControl.combine(.fresh(remainingMs: 5), .uncacheable) == .uncacheable)
    }

    @Test func passedFieldsComeFromAnsweredCallsOnlyInPassOrder() {
        var plan = ResponseHeaderPlan()
        plan.passed = [
            PassedHeaders(call: 1, names: ["ETag", "Link"]), PassedHeaders(call: 0, names: ["Retry-After"]),
        ]
        plan.derivedCacheControl = true
        let fields = plan.compositeFields(
            answerHeaders: [
                nil, [("etag", "\"v7\""), ("Content-Type", "application/json"), ("link", "</p2>; rel=next")],
            ],
            status: 200, freshness: [.fresh(remainingMs: 30_000), .fresh(remainingMs: 120_000)])
        #expect(fields.map(\.name) == ["ETag", "Link", "Cache-Control"])
        #expect(fields.map(\.value) == ["\"v7\"", "</p2>; rel=next", "max-age=30"])
    }

    @Test func theOverlayReplacesSameNamedFieldsAddsVaryAndDropsAPartnersCORSFields() {
        var plan = ResponseHeaderPlan()
        plan.fixed = [HeaderField(name: "Cache-Control", value: "public, max-age=60")]
        plan.cors = CORSPolicy(origins: .list(["https://a.example"]))
        var headers: [(name: String, value: String)] = [
            ("cache-control", "no-cache"), ("Vary", "Accept-Encoding"), ("Access-Control-Allow-Origin", "*"),
            ("ETag", "\"1\""),
        ]
        plan.overlay(origin: "https://a.example").apply(to: &headers)
        #expect(headers.map(\.name) == ["Vary", "ETag", "Cache-Control", "Access-Control-Allow-Origin", "Vary"])
        #expect(
            headers.map(\.value) == ["Accept-Encoding", "\"1\"", "public, max-age=60", "https://a.example", "Origin"])
    }

    @Test func framingAndFanoutsOwnFieldsAreRefused() {
        for name in ["Content-Length", "transfer-encoding", "Connection", "Upgrade", "Date", "Content-Type", "TE"] {
            #expect(ResponseHeaderPlan.refusal(forName: name) != nil, "\(name)")
        }
        #expect(ResponseHeaderPlan.refusal(forName: "Access-Control-Allow-Origin")?.contains("cors") == true)
        for name in ["ETag", "Cache-Control", "Link", "Retry-After", "Strict-Transport-Security"] {
            #expect(ResponseHeaderPlan.refusal(forName: name) == nil, "\(name)")
        }
    }
}
