import Testing

@testable import FanoutCore

@Suite struct RouteMetricsTableTests {
    private func table() -> RouteMetricsTable {
        RouteMetricsTable(
            routeNames: ["GET /a", "GET /p", "GET /s"], callNames: [["x", "y"], ["proxy"], []], upstreamNames: ["u"])
    }

    /// What the table drains is what ``ServerMetrics`` counts when given the same requests by name.
    @Test func drainsTheSameSeriesAsRecordingByName() {
        let counted = table()
        var byName = ServerMetrics()
        counted.recordRequest(route: 0, status: 200, seconds: 0.003)
        byName.recordRequest(route: "GET /a", status: 200, seconds: 0.003)
        counted.recordRequest(route: 0, status: 502, seconds: 0.2)
        byName.recordRequest(route: "GET /a", status: 502, seconds: 0.2)
        counted.recordRequest(route: 1, status: 200, seconds: 0.001)
        byName.recordRequest(route: "GET /p", status: 200, seconds: 0.001)
        counted.recordCall(route: 0, call: 1, seconds: 0.002)
        byName.recordCall(route: "GET /a", call: "y", upstream: "u", seconds: 0.002, failure: nil)
        counted.recordCall(route: 1, call: 0, seconds: 0.0005)
        byName.recordCall(route: "GET /p", call: "proxy", upstream: "u", seconds: 0.0005, failure: nil)

        var drained = ServerMetrics()
        counted.drain(into: &drained)
        #expect(drained == byName)
        // Only what was recorded has a series: no call `x`, no route `GET /s`.
        #expect(drained.callDurations.count == 2)
        #expect(drained.requestDurations["GET /s"] == nil)
    }

    /// A drain empties the table; the next one adds only what came since, onto the earlier counts.
    @Test func aSecondDrainAddsOnlyWhatCameSince() {
        let counted = table()
        var metrics = ServerMetrics()
        counted.recordRequest(route: 0, status: 200, seconds: 0.003)
        counted.recordCall(route: 0, call: 0, seconds: 0.002)
        counted.drain(into: &metrics)
        counted.drain(into: &metrics)
        #expect(metrics.requests[.init(route: "GET /a", status: 200)] == 1)
        counted.recordRequest(route: 0, status: 200, seconds: 0.003)
        counted.drain(into: &metrics)
        #expect(metrics.requests[.init(route: "GET /a", status: 200)] == 2)
        #expect(metrics.requestDurations["GET /a"]?.count == 2)
        #expect(metrics.callDurations[.init(route: "GET /a", call: "x")]?.count == 1)
    }

    /// Two configurations' tables (a reload in between) add into one series when they name a route alike.
    @Test func tablesOfTwoConfigurationsMeetByName() {
        let before = table()
        let after = RouteMetricsTable(
            routeNames: ["GET /new", "GET /a"], callNames: [[], ["y"]], upstreamNames: ["u"])
        before.recordCall(route: 0, call: 1, seconds: 0.002)
        after.recordCall(route: 1, call: 0, seconds: 0.002)
        var metrics = ServerMetrics()
        before.drain(into: &metrics)
        after.drain(into: &metrics)
        #expect(metrics.callDurations[.init(route: "GET /a", call: "y")]?.count == 2)
        #expect(after.hasCall(route: 1, call: 0))
        #expect(!after.hasCall(route: 1, call: 1))
    }

    /// A configuration's table names its routes, each route's calls (a proxy route's one call is `proxy`) and
    /// its upstreams by the indices a logged call's identity uses.
    @Test func aConfigurationsTableNamesRoutesCallsAndUpstreamsByIndex() throws {
        let config = try ConfigParser.parse(
            """
            upstream p { url http://p.test:1 }
            upstream q { url http://q.test:1 }
            route GET /a {
                call first GET q /a
                call second GET p /b
            }
            route GET /p { proxy q }
            route GET /s { respond 204 }
            """, file: "t.conf", environment: [:])
        let table = RouteMetricsTable(config)
        #expect(table.routeNames == ["GET /a", "GET /p", "GET /s"])
        #expect(table.callNames == [["first", "second"], ["proxy"], []])
        #expect(table.upstreamNames == ["p", "q"])
    }
}
