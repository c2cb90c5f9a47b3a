import Testing

@testable import FanoutCore

@Suite struct LatencyQuantileTests {
    @Test func interpolatesInsideTheBucketHoldingTheRankAsHistogramQuantileDoes() throws {
        var histogram = LatencyHistogram()
        // 100 observations in (10 ms, 25 ms]: the median lies halfway through that bucket.
        for _ in 0..<100 { histogram.observe(seconds: 0.02) }
        #expect(abs(try #require(histogram.quantile(0.5)) - 0.0175) < 1e-9)
        #expect(abs(try #require(histogram.quantile(0.99)) - 0.02485) < 1e-9)
    }

    @Test func aRankInTheFirstBucketInterpolatesFromZeroAndOneInInfAnswersTheLastBound() throws {
        var fast = LatencyHistogram()
        for _ in 0..<4 { fast.observe(seconds: 0.0005) }
        #expect(abs(try #require(fast.quantile(0.5)) - 0.0005) < 1e-9)
        var slow = LatencyHistogram()
        slow.observe(seconds: 0.001)
        slow.observe(seconds: 60)
        #expect(slow.quantile(0.99) == 10)
        #expect(LatencyHistogram().quantile(0.5) == nil)
    }

    @Test func subtractingLeavesTheObservationsMadeSinceTheEarlierCopy() {
        var earlier = LatencyHistogram()
        earlier.observe(seconds: 0.002)
        var now = earlier
        now.observe(seconds: 0.3)
        now.observe(seconds: 0.3)
        let delta = now.subtracting(earlier)
        #expect(delta.count == 2)
        #expect(delta.counts[LatencyHistogram.bounds.firstIndex(of: 0.5)!] == 2)
        #expect(abs(delta.sum - 0.6) < 1e-9)
        // A copy that is ahead (never expected) gives empty buckets, not wrapped ones.
        #expect(earlier.subtracting(now).count == 0)
    }
}

@Suite struct RecentWindowTests {
    static let second: UInt64 = 1_000_000_000

    static func metrics(requests: Int) -> ServerMetrics {
        var metrics = ServerMetrics()
        for _ in 0..<requests { metrics.recordRequest(route: "GET /a", status: 200, seconds: 0.01) }
        return metrics
    }

    @Test func theFirstMinuteIsMeasuredFromTheStart() {
        let start: UInt64 = 5 * Self.second
        var window = RecentWindow(start: start)
        for elapsed in [1, 2, 30, 59] as [UInt64] {
            let baseline = window.advance(to: Self.metrics(requests: Int(elapsed)), now: start + elapsed * Self.second)
            #expect(baseline.at == start)
            #expect(baseline.metrics.requests.isEmpty)
        }
    }

    @Test func laterTheBaselineIsTheNewestSnapshotAtLeastAMinuteOld() {
        var window = RecentWindow(start: 0)
        // Polled every second for five minutes: request count = seconds elapsed.
        var last: (at: UInt64, metrics: ServerMetrics) = (0, ServerMetrics())
        for elapsed in 1...300 as ClosedRange<UInt64> {
            last = window.advance(to: Self.metrics(requests: Int(elapsed)), now: elapsed * Self.second)
            #expect(window.keptCount <= 8)
        }
        let age = 300 * Self.second - last.at
        #expect(age >= 60 * Self.second && age < 70 * Self.second)
        #expect(last.metrics.requests[.init(route: "GET /a", status: 200)] == UInt64(last.at / Self.second))
    }

    @Test func afterAQuietSpellTheWindowCoversItOnceAndThenShrinksToAMinute() {
        var window = RecentWindow(start: 0)
        _ = window.advance(to: Self.metrics(requests: 1), now: 20 * Self.second)
        // Nobody looked for an hour: the next answer goes back to the last snapshot before.
        let hour = 3_620 * Self.second
        #expect(window.advance(to: Self.metrics(requests: 2), now: hour).at == 20 * Self.second)
        var baseline: UInt64 = 0
        for elapsed in 1...75 as ClosedRange<UInt64> {
            baseline = window.advance(to: Self.metrics(requests: 3), now: hour + elapsed * Self.second).at
        }
        #expect(baseline >= hour)
    }
}

@Suite struct StatusReportTests {
    static let config = """
        upstream users { url https://users.test:8443/v1/hooks/T0SECRETPATH; header Authorization "Bearer s3cr3t"; }
        upstream orders { url http://orders.test; breaker 3 10s; }
        route GET /overview {
            deadline 800ms
            call user GET users /me
            call orders GET orders /orders?user={user.id} optional
        }
        route GET /files/{rest...} { proxy orders; }
        route GET /healthz { respond 200; }
        """

    static func report(metrics: ServerMetrics, baseline: ServerMetrics = ServerMetrics()) throws -> JSONValue {
        let config = try ConfigParser.parse(Self.config, file: "test.conf", environment: [:])
        let report = StatusReport(
            config: config, metrics: metrics, baseline: baseline, windowSeconds: 42.04, uptimeSeconds: 42.04,
            windowIsSinceStart: true, workers: 2)
        return try JSONValue(parsing: report.json)
    }

    static func value(_ json: JSONValue, _ path: String) throws -> JSONValue? {
        json.select(try JSONPath(parsing: path))
    }

    @Test func listsRoutesInFileOrderWithTheirCallsCountsAndRecentPercentiles() throws {
        var metrics = ServerMetrics()
        for _ in 0..<3 { metrics.recordRequest(route: "GET /overview", status: 200, seconds: 0.02) }
        metrics.recordRequest(route: "GET /overview", status: 502, seconds: 0.02)
        metrics.recordRequest(route: "", status: 404, seconds: 0.0001)
        for _ in 0..<4 {
            metrics.recordCall(route: "GET /overview", call: "user", upstream: "users", seconds: 0.02, failure: nil)
        }
        var baseline = ServerMetrics()
        baseline.recordRequest(route: "GET /overview", status: 200, seconds: 0.02)
        let json = try Self.report(metrics: metrics, baseline: baseline)

        #expect(try Self.value(json, "uptime_s") == .number("42.0"))
        #expect(try Self.value(json, "workers") == .number("2"))
        #expect(try Self.value(json, "routes[0].name") == .string("GET /overview"))
        #expect(try Self.value(json, "routes[0].kind") == .string("composite"))
        #expect(try Self.value(json, "routes[0].deadline_ms") == .number("800"))
        #expect(try Self.value(json, "routes[0].requests") == .number("4"))
        #expect(try Self.value(json, "routes[0].statuses.200") == .number("3"))
        #expect(try Self.value(json, "routes[0].statuses.502") == .number("1"))
        // Recent: four requests now, one at the baseline.
        #expect(try Self.value(json, "routes[0].recent.count") == .number("3"))
        #expect(try Self.value(json, "routes[0].recent.p50_ms") == .number("17.5"))
        #expect(try Self.value(json, "routes[0].calls[0].name") == .string("user"))
        #expect(try Self.value(json, "routes[0].calls[0].upstream") == .string("users"))
        #expect(try Self.value(json, "routes[0].calls[0].total") == .number("4"))
        #expect(try Self.value(json, "routes[0].calls[1].optional") == .bool(true))
        #expect(try Self.value(json, "routes[0].calls[1].recent.p99_ms") == .null)
        #expect(try Self.value(json, "routes[1].kind") == .string("proxy"))
        #expect(try Self.value(json, "routes[1].calls[0].name") == .string("proxy"))
        #expect(try Self.value(json, "routes[2].kind") == .string("respond 200"))
        #expect(try Self.value(json, "unmatched.requests") == .number("1"))
    }

    @Test func showsUpstreamLoadBreakerStateAndCacheFigures() throws {
        var metrics = ServerMetrics()
        var load = ServerMetrics.UpstreamLoad(inFlight: 3, queued: 2)
        load.addBreaker(.open(until: 99))
        load.addBreaker(.closed(consecutiveFailures: 0))
        metrics.upstreamLoad["orders"] = load
        metrics.breakerOpens["orders"] = 1
        metrics.upstreamCalls.cacheHits["orders"] = 7
        metrics.upstreamCalls.coalesced["orders"] = 5
        metrics.upstreamFailures[.init(upstream: "orders", kind: "timeout")] = 2
        let json = try Self.report(metrics: metrics)

        #expect(try Self.value(json, "upstreams[1].name") == .string("orders"))
        #expect(try Self.value(json, "upstreams[1].in_flight") == .number("3"))
        #expect(try Self.value(json, "upstreams[1].queued") == .number("2"))
        #expect(try Self.value(json, "upstreams[1].breaker.state") == .string("open"))
        #expect(try Self.value(json, "upstreams[1].breaker.open") == .number("1"))
        #expect(try Self.value(json, "upstreams[1].breaker.workers") == .number("2"))
        #expect(try Self.value(json, "upstreams[1].breaker_opens") == .number("1"))
        #expect(try Self.value(json, "upstreams[1].cache_hits") == .number("7"))
        #expect(try Self.value(json, "upstreams[1].coalesced") == .number("5"))
        #expect(try Self.value(json, "upstreams[1].failures.timeout") == .number("2"))
        #expect(try Self.value(json, "upstreams[0].breaker") == .null)
    }

    @Test func neverShowsHeaderValuesNorTheUpstreamsPath() throws {
        let text = String(decoding: try Self.report(metrics: ServerMetrics()).serialized, as: UTF8.self)
        #expect(
            try Self.value(try Self.report(metrics: ServerMetrics()), "upstreams[0].origin")
                == .string("https://users.test:8443"))
        #expect(!text.contains("s3cr3t"))
        #expect(!text.contains("Authorization"))
        #expect(!text.contains("SECRET"))
    }

    @Test func breakerStateIsOpenIfAnyWorkerIsOpenThenHalfOpen() {
        var load = ServerMetrics.UpstreamLoad()
        load.addBreaker(.closed(consecutiveFailures: 2))
        load.addBreaker(.halfOpen(probeInFlight: true))
        #expect(StatusReport.breaker(load).select(try! JSONPath(parsing: "state")) == .string("half_open"))
        load.addBreaker(.open(until: 1))
        #expect(StatusReport.breaker(load).select(try! JSONPath(parsing: "state")) == .string("open"))
    }
}

@Suite struct StatusPageTests {
    @Test func isSelfContainedAndPollsStatusJSON() {
        let html = StatusPage.html
        #expect(html.hasPrefix("<!doctype html>"))
        // No external asset: nothing is loaded from another origin, and no script or stylesheet file at all.
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"))
        #expect(!html.contains("<script src") && !html.contains("<link"))
        #expect(html.contains(#"fetch("status.json""#))
        #expect(html.contains("setInterval(poll, 1000)"))
        // Figures are written as text only: a name from the configuration cannot become markup.
        #expect(!html.contains("innerHTML"))
        #expect(html.contains("window.onerror"))
    }
}
