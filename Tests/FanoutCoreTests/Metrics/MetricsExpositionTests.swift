import Testing

@testable import FanoutCore

@Suite struct LatencyHistogramTests {
    @Test func countsEachValueInTheFirstBucketThatHoldsIt() {
        var histogram = LatencyHistogram()
        histogram.observe(seconds: 0.001)  // on a bound: that bucket (le is "less than or equal")
        histogram.observe(seconds: 0.0011)
        histogram.observe(seconds: 0.3)
        histogram.observe(seconds: 60)  // beyond the last bound: +Inf
        #expect(histogram.counts.count == LatencyHistogram.bounds.count + 1)
        #expect(histogram.counts[0] == 1)
        #expect(histogram.counts[1] == 1)
        #expect(histogram.counts[LatencyHistogram.bounds.firstIndex(of: 0.5)!] == 1)
        #expect(histogram.counts.last == 1)
        #expect(histogram.count == 4)
        #expect(abs(histogram.sum - 60.3021) < 1e-9)
    }

    @Test func mergeAddsBucketsSumAndCount() {
        var a = LatencyHistogram()
        a.observe(seconds: 0.002)
        var b = LatencyHistogram()
        b.observe(seconds: 0.002)
        b.observe(seconds: 2)
        a.merge(b)
        #expect(a.count == 3)
        #expect(a.counts[1] == 2)
        #expect(a.counts[LatencyHistogram.bounds.firstIndex(of: 2.5)!] == 1)
        #expect(abs(a.sum - 2.004) < 1e-9)
    }
}

@Suite struct ServerMetricsTests {
    @Test func skippedCallsAreNotCountedAndFailuresGoByUpstreamAndKind() {
        var metrics = ServerMetrics()
        metrics.recordCall(route: "GET /a", call: "one", upstream: "u", seconds: 0.01, failure: nil)
        metrics.recordCall(route: "GET /a", call: "two", upstream: "u", seconds: 0.02, failure: "timeout")
        metrics.recordCall(route: "GET /a", call: "three", upstream: "v", seconds: 0, failure: "skipped")
        #expect(metrics.callDurations.count == 2)
        #expect(metrics.upstreamFailures == [ServerMetrics.FailureKey(upstream: "u", kind: "timeout"): 1])
    }

    @Test func aTransferThatOpenedNoConnectionCountsAsReusedOnlyWhenAnswered() {
        var use = ServerMetrics.ConnectionUse()
        use.record(opened: 1, answered: true)
        use.record(opened: 0, answered: true)
        use.record(opened: 0, answered: false)  // e.g. timed out in the admission queue
        use.record(opened: 2, answered: true)  // a followed redirect to another origin
        #expect(use == ServerMetrics.ConnectionUse(opened: 3, reused: 1))
    }

    @Test func aClientAbortCountsAsA499AnswerAndAsAnAbortByReason() {
        var metrics = ServerMetrics()
        metrics.recordClientAbort(route: "GET /a", reason: .closed, seconds: 0.2)
        metrics.recordClientAbort(route: "GET /a", reason: .reset, seconds: 0.3)
        metrics.recordClientAbort(route: "GET /a", reason: .reset, seconds: 0.4)
        #expect(metrics.requests == [ServerMetrics.RequestKey(route: "GET /a", status: 499): 3])
        #expect(metrics.requestDurations["GET /a"]?.count == 3)
        #expect(
            metrics.clientAborts == [
                ServerMetrics.ClientAbortKey(route: "GET /a", reason: .closed): 1,
                ServerMetrics.ClientAbortKey(route: "GET /a", reason: .reset): 2,
            ])
        var other = ServerMetrics()
        other.recordClientAbort(route: "GET /a", reason: .closed, seconds: 0.1)
        metrics.merge(other)
        #expect(metrics.clientAborts[ServerMetrics.ClientAbortKey(route: "GET /a", reason: .closed)] == 2)
    }

    @Test func mergeSumsCountersAndGauges() {
        var a = ServerMetrics()
        a.recordRequest(route: "GET /a", status: 200, seconds: 0.01)
        a.upstreamConnections["u"] = ServerMetrics.ConnectionUse(opened: 1, reused: 2)
        a.breakerOpens["u"] = 1
        a.upstreamCalls.coalesced["u"] = 5
        a.requestsInFlight = 1
        a.clientConnections = 3
        var b = ServerMetrics()
        b.recordRequest(route: "GET /a", status: 200, seconds: 0.02)
        b.recordRequest(route: "", status: 404, seconds: 0)
        b.upstreamConnections["u"] = ServerMetrics.ConnectionUse(opened: 4, reused: 8)
        b.breakerOpens["u"] = 2
        b.breakerOpens["v"] = 1
        b.upstreamCalls.coalesced["u"] = 7
        b.upstreamCalls.coalesced["v"] = 1
        b.upstreamCalls.cacheHits["u"] = 3
        b.upstreamCalls.cacheMisses["u"] = 4
        a.upstreamCalls.retries["u"] = 1
        b.upstreamCalls.retries["u"] = 2
        a.tokenFetches[ServerMetrics.TokenFetchKey(upstream: "u", result: "ok")] = 1
        b.tokenFetches[ServerMetrics.TokenFetchKey(upstream: "u", result: "ok")] = 2
        b.upstreamCalls.hedges["v"] = 5
        b.upstreamCalls.hedgeWins["v"] = 4
        b.upstreamCalls.budgetRefusals["u"] = 6
        a.minRateCuts[ServerMetrics.MinRateCutKey(route: "* /up", side: "client")] = 1
        b.minRateCuts[ServerMetrics.MinRateCutKey(route: "* /up", side: "client")] = 2
        a.upstreamLoad["u"] = ServerMetrics.UpstreamLoad(inFlight: 1, queued: 2, breakersOpen: 1, breakers: 1)
        b.upstreamLoad["u"] = ServerMetrics.UpstreamLoad(inFlight: 3, breakersHalfOpen: 1, breakers: 1)
        b.requestsInFlight = 2
        b.clientConnections = 1
        a.merge(b)
        #expect(a.requests[ServerMetrics.RequestKey(route: "GET /a", status: 200)] == 2)
        #expect(a.requests[ServerMetrics.RequestKey(route: "", status: 404)] == 1)
        #expect(a.requestDurations["GET /a"]?.count == 2)
        #expect(a.upstreamConnections["u"] == ServerMetrics.ConnectionUse(opened: 5, reused: 10))
        #expect(a.breakerOpens == ["u": 3, "v": 1])
        #expect(a.upstreamCalls.coalesced == ["u": 12, "v": 1])
        #expect(a.upstreamCalls.cacheHits == ["u": 3])
        #expect(a.upstreamCalls.cacheMisses == ["u": 4])
        #expect(a.upstreamCalls.retries == ["u": 3])
        #expect(a.tokenFetches == [ServerMetrics.TokenFetchKey(upstream: "u", result: "ok"): 3])
        #expect(a.upstreamCalls.hedges == ["v": 5])
        #expect(a.upstreamCalls.hedgeWins == ["v": 4])
        #expect(a.minRateCuts == [ServerMetrics.MinRateCutKey(route: "* /up", side: "client"): 3])
        #expect(a.upstreamCalls.budgetRefusals == ["u": 6])
        let load = ServerMetrics.UpstreamLoad(inFlight: 4, queued: 2, breakersOpen: 1, breakersHalfOpen: 1, breakers: 2)
        #expect(a.upstreamLoad["u"] == load)
        #expect(a.requestsInFlight == 3)
        #expect(a.clientConnections == 4)
    }
}

@Suite struct MetricsExpositionTests {
    @Test func rendersEveryMetricFamilyWithSortedSeries() {
        var metrics = ServerMetrics()
        metrics.recordRequest(route: "GET /b", status: 502, seconds: 0.004)
        metrics.recordRequest(route: "GET /a", status: 200, seconds: 0.5)
        metrics.recordRequest(route: "GET /a", status: 200, seconds: 0.25)
        metrics.recordCall(route: "GET /a", call: "users", upstream: "accounts", seconds: 0.002, failure: nil)
        metrics.recordCall(route: "GET /a", call: "users", upstream: "accounts", seconds: 0.003, failure: "status")
        metrics.upstreamConnections["accounts"] = ServerMetrics.ConnectionUse(opened: 1, reused: 1)
        metrics.breakerOpens["users"] = 2
        metrics.breakerOpens["accounts"] = 1
        metrics.upstreamCalls.coalesced["users"] = 998
        metrics.upstreamCalls.coalesced["accounts"] = 3
        metrics.upstreamCalls.cacheHits["users"] = 40
        metrics.upstreamCalls.cacheMisses["users"] = 2
        metrics.upstreamCalls.retries["users"] = 7
        metrics.tokenFetches[ServerMetrics.TokenFetchKey(upstream: "users", result: "ok")] = 12
        metrics.tokenFetches[ServerMetrics.TokenFetchKey(upstream: "users", result: "failed")] = 1
        metrics.upstreamCalls.hedges["users"] = 9
        metrics.upstreamCalls.hedgeWins["users"] = 3
        metrics.upstreamCalls.budgetRefusals["accounts"] = 1
        metrics.upstreamCalls.refreshes["users"] = 3
        metrics.upstreamCalls.staleRevalidate["users"] = 7
        metrics.upstreamCalls.staleError["users"] = 1
        metrics.upstreamCalls.staleError["accounts"] = 2
        metrics.clientAborts[.init(route: "GET /b", reason: .reset)] = 1
        metrics.clientAborts[.init(route: "GET /a", reason: .reset)] = 2
        metrics.clientAborts[.init(route: "GET /a", reason: .closed)] = 3
        metrics.minRateCuts[ServerMetrics.MinRateCutKey(route: "GET /files", side: "upstream")] = 4
        metrics.minRateCuts[ServerMetrics.MinRateCutKey(route: "GET /files", side: "client")] = 1
        metrics.upstreamLoad["users"] = ServerMetrics.UpstreamLoad(
            inFlight: 4, queued: 1, breakersOpen: 1, breakersHalfOpen: 1, breakers: 3)
        metrics.upstreamLoad["accounts"] = ServerMetrics.UpstreamLoad(inFlight: 0)
        metrics.requestsInFlight = 2
        metrics.clientConnections = 5
        let text = MetricsExposition.render(metrics)
        let expected = """
            # HELP fanout_requests_total Requests answered, by route (empty: no route matched) and status.
            # TYPE fanout_requests_total counter
            fanout_requests_total{route="GET /a",status="200"} 2
            fanout_requests_total{route="GET /b",status="502"} 1
            # HELP fanout_client_aborts_total Requests whose client went away before the answer was complete (logged 499), by route and reason.
            # TYPE fanout_client_aborts_total counter
            fanout_client_aborts_total{route="GET /a",reason="closed"} 3
            fanout_client_aborts_total{route="GET /a",reason="reset"} 2
            fanout_client_aborts_total{route="GET /b",reason="reset"} 1
            # HELP fanout_request_duration_seconds Time from request head to response, by route.
            # TYPE fanout_request_duration_seconds histogram
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.001"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.0025"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.005"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.01"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.025"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.05"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.1"} 0
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.25"} 1
            fanout_request_duration_seconds_bucket{route="GET /a",le="0.5"} 2
            fanout_request_duration_seconds_bucket{route="GET /a",le="1"} 2
            fanout_request_duration_seconds_bucket{route="GET /a",le="2.5"} 2
            fanout_request_duration_seconds_bucket{route="GET /a",le="5"} 2
            fanout_request_duration_seconds_bucket{route="GET /a",le="10"} 2
            fanout_request_duration_seconds_bucket{route="GET /a",le="+Inf"} 2
            fanout_request_duration_seconds_sum{route="GET /a"} 0.75
            fanout_request_duration_seconds_count{route="GET /a"} 2
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.001"} 0
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.0025"} 0
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.005"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.01"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.025"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.05"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.1"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.25"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="0.5"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="1"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="2.5"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="5"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="10"} 1
            fanout_request_duration_seconds_bucket{route="GET /b",le="+Inf"} 1
            fanout_request_duration_seconds_sum{route="GET /b"} 0.004
            fanout_request_duration_seconds_count{route="GET /b"} 1
            # HELP fanout_call_duration_seconds Upstream call duration (queue time included), by route and call.
            # TYPE fanout_call_duration_seconds histogram
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.001"} 0
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.0025"} 1
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.005"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.01"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.025"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.05"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.1"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.25"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="0.5"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="1"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="2.5"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="5"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="10"} 2
            fanout_call_duration_seconds_bucket{route="GET /a",call="users",le="+Inf"} 2
            fanout_call_duration_seconds_sum{route="GET /a",call="users"} 0.005
            fanout_call_duration_seconds_count{route="GET /a",call="users"} 2
            # HELP fanout_upstream_failures_total Failed upstream calls, by upstream and failure kind.
            # TYPE fanout_upstream_failures_total counter
            fanout_upstream_failures_total{upstream="accounts",kind="status"} 1
            # HELP fanout_upstream_connections_opened_total Connections opened to an upstream.
            # TYPE fanout_upstream_connections_opened_total counter
            fanout_upstream_connections_opened_total{upstream="accounts"} 1
            # HELP fanout_upstream_connections_reused_total Upstream transfers that reused an open connection.
            # TYPE fanout_upstream_connections_reused_total counter
            fanout_upstream_connections_reused_total{upstream="accounts"} 1
            # HELP fanout_coalesced_calls_total Composite calls that shared an identical upstream transfer already in flight.
            # TYPE fanout_coalesced_calls_total counter
            fanout_coalesced_calls_total{upstream="accounts"} 3
            fanout_coalesced_calls_total{upstream="users"} 998
            # HELP fanout_cache_hits_total Composite calls with a cache lifetime answered from the worker's cache.
            # TYPE fanout_cache_hits_total counter
            fanout_cache_hits_total{upstream="users"} 40
            # HELP fanout_cache_misses_total Composite calls with a cache lifetime that found no fresh answer in the cache.
            # TYPE fanout_cache_misses_total counter
            fanout_cache_misses_total{upstream="users"} 2
            # HELP fanout_cache_refreshes_total Background transfers started to refresh a stale cache entry (stale-while-revalidate).
            # TYPE fanout_cache_refreshes_total counter
            fanout_cache_refreshes_total{upstream="users"} 3
            # HELP fanout_upstream_breaker_opens_total Times an upstream's circuit breaker opened (summed over workers).
            # TYPE fanout_upstream_breaker_opens_total counter
            fanout_upstream_breaker_opens_total{upstream="accounts"} 1
            fanout_upstream_breaker_opens_total{upstream="users"} 2
            # HELP fanout_upstream_retries_total Retries of composite calls sent to an upstream.
            # TYPE fanout_upstream_retries_total counter
            fanout_upstream_retries_total{upstream="users"} 7
            # HELP fanout_upstream_hedges_total Hedges (second copies) of composite calls sent to an upstream.
            # TYPE fanout_upstream_hedges_total counter
            fanout_upstream_hedges_total{upstream="users"} 9
            # HELP fanout_upstream_hedge_wins_total Hedges whose answer was the call's answer.
            # TYPE fanout_upstream_hedge_wins_total counter
            fanout_upstream_hedge_wins_total{upstream="users"} 3
            # HELP fanout_upstream_retry_budget_exhausted_total Retries and hedges the upstream's retry_budget refused.
            # TYPE fanout_upstream_retry_budget_exhausted_total counter
            fanout_upstream_retry_budget_exhausted_total{upstream="accounts"} 1
            # HELP fanout_cache_stale_total Composite calls answered from a stale cache entry, by upstream and reason.
            # TYPE fanout_cache_stale_total counter
            fanout_cache_stale_total{upstream="accounts",reason="error"} 2
            fanout_cache_stale_total{upstream="users",reason="error"} 1
            fanout_cache_stale_total{upstream="users",reason="revalidate"} 7
            # HELP fanout_oauth_token_fetches_total OAuth2 token requests to an upstream's token endpoint, by result (ok, failed).
            # TYPE fanout_oauth_token_fetches_total counter
            fanout_oauth_token_fetches_total{upstream="users",result="failed"} 1
            fanout_oauth_token_fetches_total{upstream="users",result="ok"} 12
            # HELP fanout_min_rate_cuts_total Streamed proxy bodies cut for moving slower than min_rate, by route and side.
            # TYPE fanout_min_rate_cuts_total counter
            fanout_min_rate_cuts_total{route="GET /files",side="client"} 1
            fanout_min_rate_cuts_total{route="GET /files",side="upstream"} 4
            # HELP fanout_upstream_calls_in_flight Calls to an upstream inside libcurl now (hedges included).
            # TYPE fanout_upstream_calls_in_flight gauge
            fanout_upstream_calls_in_flight{upstream="accounts"} 0
            fanout_upstream_calls_in_flight{upstream="users"} 4
            # HELP fanout_upstream_calls_queued Calls to an upstream waiting for a place (max_connections, rate) now.
            # TYPE fanout_upstream_calls_queued gauge
            fanout_upstream_calls_queued{upstream="accounts"} 0
            fanout_upstream_calls_queued{upstream="users"} 1
            # HELP fanout_upstream_breakers_open Workers whose breaker for an upstream is open or half-open now.
            # TYPE fanout_upstream_breakers_open gauge
            fanout_upstream_breakers_open{upstream="accounts"} 0
            fanout_upstream_breakers_open{upstream="users"} 2
            # HELP fanout_requests_in_flight Requests received and not answered yet.
            # TYPE fanout_requests_in_flight gauge
            fanout_requests_in_flight 2
            # HELP fanout_client_connections Open client connections.
            # TYPE fanout_client_connections gauge
            fanout_client_connections 5
            # HELP fanout_tunnels_open Upgrade tunnels (WebSockets) open now.
            # TYPE fanout_tunnels_open gauge
            fanout_tunnels_open 0
            # HELP fanout_tunnels_total Upgrade tunnels opened (the partner answered 101).
            # TYPE fanout_tunnels_total counter
            fanout_tunnels_total 0
            # HELP fanout_tunnel_bytes_total Bytes passed through Upgrade tunnels, by direction.
            # TYPE fanout_tunnel_bytes_total counter
            fanout_tunnel_bytes_total{direction="up"} 0
            fanout_tunnel_bytes_total{direction="down"} 0

            """
        #expect(text == expected)
    }

    @Test func anEmptyRegistryStillDeclaresEveryFamily() {
        let text = MetricsExposition.render(ServerMetrics())
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(types.count == 27)
        #expect(text.contains("fanout_requests_in_flight 0\n"))
        #expect(!text.contains("_bucket"))
    }

    @Test func busyPollsAreShownOnlyWhenPollingIsOnAndSummedOverWorkers() {
        #expect(!MetricsExposition.render(ServerMetrics()).contains("fanout_busy_polls_total"))
        var first = ServerMetrics()
        first.busyPolls = BusyPollCounts(hits: 7, misses: 2)
        var second = ServerMetrics()
        second.busyPolls = BusyPollCounts(hits: 3, misses: 1)
        var total = ServerMetrics()
        total.merge(first)
        total.merge(second)
        #expect(total.busyPolls == BusyPollCounts(hits: 10, misses: 3))
        let text = MetricsExposition.render(total)
        #expect(text.contains("# TYPE fanout_busy_polls_total counter\n"))
        #expect(text.contains(#"fanout_busy_polls_total{result="hit"} 10"# + "\n"))
        #expect(text.contains(#"fanout_busy_polls_total{result="miss"} 3"# + "\n"))
    }

    @Test func escapesLabelValues() {
        #expect(MetricsExposition.escapeLabelValue(#"a"b\c"# + "\nd") == #"a\"b\\c\nd"#)
        #expect(MetricsExposition.escapeLabelValue("GET /users/{id}") == "GET /users/{id}")
        var metrics = ServerMetrics()
        metrics.recordRequest(route: #"GET /"q""#, status: 200, seconds: 0)
        let text = MetricsExposition.render(metrics)
        #expect(text.contains(#"fanout_requests_total{route="GET /\"q\"",status="200"} 1"#))
    }

    @Test func printsIntegralFloatsWithoutAFraction() {
        #expect(MetricsExposition.number(1) == "1")
        #expect(MetricsExposition.number(0.25) == "0.25")
        #expect(MetricsExposition.number(0) == "0")
    }
}
