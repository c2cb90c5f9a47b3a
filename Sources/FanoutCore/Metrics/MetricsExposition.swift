/// Renders ``ServerMetrics`` in the Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE`
/// for every metric (also when it has no series yet), one line per series, series sorted by label values so
/// two scrapes of the same counters are byte-identical. Histograms as `_bucket{le=…}` (cumulative), `_sum`
/// and `_count`, in seconds.
public enum MetricsExposition {
    /// The `Content-Type` of the text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ metrics: ServerMetrics) -> String {
        var out = ""
        out.reserveCapacity(1024 + metrics.requests.count * 64 + metrics.callDurations.count * 1024)

        var name = "fanout_requests_total"
        header(&out, name, "counter", "Requests answered, by route (empty: no route matched) and status.")
        for key in metrics.requests.keys.sorted(by: { ($0.route, $0.status) < ($1.route, $1.status) }) {
            sample(&out, name, [("route", key.route), ("status", String(key.status))], metrics.requests[key]!)
        }

        name = "fanout_client_aborts_total"
        header(
            &out, name, "counter",
            "Requests whose client went away before the answer was complete (logged 499), by route and reason.")
        let aborts = metrics.clientAborts.keys.sorted {
            ($0.route, $0.reason.rawValue) < ($1.route, $1.reason.rawValue)
        }
        for key in aborts {
            sample(&out, name, [("route", key.route), ("reason", key.reason.rawValue)], metrics.clientAborts[key]!)
        }

        name = "fanout_request_duration_seconds"
        header(&out, name, "histogram", "Time from request head to response, by route.")
        for route in metrics.requestDurations.keys.sorted() {
            histogram(&out, name, [("route", route)], metrics.requestDurations[route]!)
        }

        name = "fanout_call_duration_seconds"
        header(&out, name, "histogram", "Upstream call duration (queue time included), by route and call.")
        for key in metrics.callDurations.keys.sorted(by: { ($0.route, $0.call) < ($1.route, $1.call) }) {
            histogram(&out, name, [("route", key.route), ("call", key.call)], metrics.callDurations[key]!)
        }

        name = "fanout_upstream_failures_total"
        header(&out, name, "counter", "Failed upstream calls, by upstream and failure kind.")
        for key in metrics.upstreamFailures.keys.sorted(by: { ($0.upstream, $0.kind) < ($1.upstream, $1.kind) }) {
            sample(&out, name, [("upstream", key.upstream), ("kind", key.kind)], metrics.upstreamFailures[key]!)
        }

        let upstreams = metrics.upstreamConnections.keys.sorted()
        name = "fanout_upstream_connections_opened_total"
        header(&out, name, "counter", "Connections opened to an upstream.")
        for upstream in upstreams {
            sample(&out, name, [("upstream", upstream)], metrics.upstreamConnections[upstream]!.opened)
        }
        name = "fanout_upstream_connections_reused_total"
        header(&out, name, "counter", "Upstream transfers that reused an open connection.")
        for upstream in upstreams {
            sample(&out, name, [("upstream", upstream)], metrics.upstreamConnections[upstream]!.reused)
        }
        // Counters with one series per upstream name.
        let perUpstream: [(name: String, help: String, values: [String: UInt64])] = [
            (
                "fanout_coalesced_calls_total",
                "Composite calls that shared an identical upstream transfer already in flight.",
                metrics.upstreamCalls.coalesced
            ),
            (
                "fanout_cache_hits_total", "Composite calls with a cache lifetime answered from the worker's cache.",
                metrics.upstreamCalls.cacheHits
            ),
            (
                "fanout_cache_misses_total",
                "Composite calls with a cache lifetime that found no fresh answer in the cache.",
                metrics.upstreamCalls.cacheMisses
            ),
            (
                "fanout_cache_refreshes_total",
                "Background transfers started to refresh a stale cache entry (stale-while-revalidate).",
                metrics.upstreamCalls.refreshes
            ),
            (
                "fanout_upstream_breaker_opens_total",
                "Times an upstream's circuit breaker opened (summed over workers).", metrics.breakerOpens
            ),
            (
                "fanout_upstream_retries_total", "Retries of composite calls sent to an upstream.",
                metrics.upstreamCalls.retries
            ),
            (
                "fanout_upstream_hedges_total", "Hedges (second copies) of composite calls sent to an upstream.",
                metrics.upstreamCalls.hedges
            ),
            (
                "fanout_upstream_hedge_wins_total", "Hedges whose answer was the call's answer.",
                metrics.upstreamCalls.hedgeWins
            ),
            (
                "fanout_upstream_retry_budget_exhausted_total",
                "Retries and hedges the upstream's retry_budget refused.",
                metrics.upstreamCalls.budgetRefusals
            ),
        ]
        for family in perUpstream {
            header(&out, family.name, "counter", family.help)
            for upstream in family.values.keys.sorted() {
                sample(&out, family.name, [("upstream", upstream)], family.values[upstream]!)
            }
        }

        name = "fanout_cache_stale_total"
        header(&out, name, "counter", "Composite calls answered from a stale cache entry, by upstream and reason.")
        let stale = [
            ("error", metrics.upstreamCalls.staleError), ("revalidate", metrics.upstreamCalls.staleRevalidate),
        ]
        for upstream in Set(stale.flatMap(\.1.keys)).sorted() {
            for (reason, values) in stale {
                guard let value = values[upstream] else { continue }
                sample(&out, name, [("upstream", upstream), ("reason", reason)], value)
            }
        }

        name = "fanout_oauth_token_fetches_total"
        header(&out, name, "counter", "OAuth2 token requests to an upstream's token endpoint, by result (ok, failed).")
        for key in metrics.tokenFetches.keys.sorted(by: { ($0.upstream, $0.result) < ($1.upstream, $1.result) }) {
            sample(&out, name, [("upstream", key.upstream), ("result", key.result)], metrics.tokenFetches[key]!)
        }

        name = "fanout_min_rate_cuts_total"
        header(&out, name, "counter", "Streamed proxy bodies cut for moving slower than min_rate, by route and side.")
        for key in metrics.minRateCuts.keys.sorted(by: { ($0.route, $0.side) < ($1.route, $1.side) }) {
            sample(&out, name, [("route", key.route), ("side", key.side)], metrics.minRateCuts[key]!)
        }

        // Gauges with one series per upstream name that has had load since start.
        let loads = metrics.upstreamLoad.keys.sorted()
        let perUpstreamGauges: [(name: String, help: String, value: (ServerMetrics.UpstreamLoad) -> Int)] = [
            (
                "fanout_upstream_calls_in_flight", "Calls to an upstream inside libcurl now (hedges included).",
                { $0.inFlight }
            ),
            (
                "fanout_upstream_calls_queued", "Calls to an upstream waiting for a place (max_connections, rate) now.",
                { $0.queued }
            ),
            (
                "fanout_upstream_breakers_open", "Workers whose breaker for an upstream is open or half-open now.",
                { $0.breakersOpen + $0.breakersHalfOpen }
            ),
        ]
        for family in perUpstreamGauges {
            header(&out, family.name, "gauge", family.help)
            for upstream in loads {
                let value = UInt64(max(0, family.value(metrics.upstreamLoad[upstream]!)))
                sample(&out, family.name, [("upstream", upstream)], value)
            }
        }

        if let counts = metrics.traceExport {
            let families: [(String, String, UInt64)] = [
                ("fanout_trace_spans_exported_total", "Spans an OTLP receiver accepted.", counts.spansExported),
                (
                    "fanout_trace_spans_dropped_total",
                    "Spans dropped: the export queue was full, or their export request failed.", counts.spansDropped
                ),
                (
                    "fanout_trace_export_failures_total",
                    "OTLP export requests that failed (no answer or not 2xx); never retried.", counts.exportFailures
                ),
            ]
            for (name, help, value) in families {
                header(&out, name, "counter", help)
                out += "\(name) \(value)\n"
            }
        }

        header(&out, "fanout_requests_in_flight", "gauge", "Requests received and not answered yet.")
        out += "fanout_requests_in_flight \(metrics.requestsInFlight)\n"
        header(&out, "fanout_client_connections", "gauge", "Open client connections.")
        out += "fanout_client_connections \(metrics.clientConnections)\n"
        if metrics.store.configured { appendStore(metrics.store, to: &out) }
        header(&out, "fanout_tunnels_open", "gauge", "Upgrade tunnels (WebSockets) open now.")
        out += "fanout_tunnels_open \(metrics.tunnelsOpen)\n"
        header(&out, "fanout_tunnels_total", "counter", "Upgrade tunnels opened (the partner answered 101).")
        out += "fanout_tunnels_total \(metrics.tunnelsOpened)\n"
        header(&out, "fanout_tunnel_bytes_total", "counter", "Bytes passed through Upgrade tunnels, by direction.")
        sample(&out, "fanout_tunnel_bytes_total", [("direction", "up")], metrics.tunnelBytesUp)
        sample(&out, "fanout_tunnel_bytes_total", [("direction", "down")], metrics.tunnelBytesDown)
        if let polls = metrics.busyPolls {
            let name = "fanout_busy_polls_total"
            header(
                &out, name, "counter",
                "Loop turns that polled before sleeping (busy_poll): hit (events came), miss (none came; it slept).")
            sample(&out, name, [("result", "hit")], polls.hits)
            sample(&out, name, [("result", "miss")], polls.misses)
        }
        return out
    }

    /// The shared store's families (only with a `store` block).
    private static func appendStore(_ store: StoreMetrics, to out: inout String) {
        var name = "fanout_store_round_trips_total"
        header(&out, name, "counter", "Commands the shared store answered.")
        out += "\(name) \(store.roundTrips)\n"
        name = "fanout_store_errors_total"
        header(&out, name, "counter", "Store commands without an answer, by kind (the call went on without the store).")
        for kind in store.errors.keys.sorted() { sample(&out, name, [("kind", kind)], store.errors[kind]!) }
        name = "fanout_store_state_changes_total"
        header(&out, name, "counter", "Store connection state changes (connected, unavailable, reconnected).")
        for change in store.stateChanges.keys.sorted() {
            sample(&out, name, [("change", change)], store.stateChanges[change]!)
        }
        name = "fanout_store_redirects_total"
        header(&out, name, "counter", "Redis Cluster redirections followed (moved, ask).")
        for kind in store.redirects.keys.sorted() { sample(&out, name, [("kind", kind)], store.redirects[kind]!) }
        header(&out, "fanout_store_connections_available", "gauge", "Workers whose store connection is ready now.")
        out += "fanout_store_connections_available \(store.available)\n"
        let perUpstream: [(name: String, help: String, values: [String: UInt64])] = [
            (
                "fanout_cache_store_hits_total",
                "Composite calls with a cache lifetime answered from the shared store (the worker's cache missed).",
                store.hits
            ),
            ("fanout_cache_store_misses_total", "Store lookups that found no usable answer.", store.misses),
            (
                "fanout_cache_store_fallbacks_total",
                "Store lookups and refresh locks that went on without the store (down, slow or refusing).",
                store.fallbacks
            ),
            ("fanout_cache_store_writes_total", "Partner answers written to the shared store.", store.writes),
            (
                "fanout_cache_store_refreshes_left_total",
                "Stale-while-revalidate refreshes not made because another replica held the refresh lock.",
                store.refreshesLeft
            ),
            ("fanout_quota_tokens_leased_total", "Shared rate tokens the store granted.", store.quotaTokensLeased),
            (
                "fanout_quota_waits_total", "Shared rate renewals answered short: the fleet was at its rate.",
                store.quotaWaits
            ),
            (
                "fanout_quota_fallbacks_total",
                "Shared rate renewals without an answer: the local limit (rate / replicas) decided for 500 ms.",
                store.quotaFallbacks
            ),
            (
                "fanout_breaker_opens_learned_total",
                "Breakers opened because another replica opened theirs (seen in the store).",
                store.breakerOpensLearned
            ),
        ]
        for family in perUpstream {
            header(&out, family.name, "counter", family.help)
            for upstream in family.values.keys.sorted() {
                sample(&out, family.name, [("upstream", upstream)], family.values[upstream]!)
            }
        }
    }

    private static func header(_ out: inout String, _ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private static func sample(_ out: inout String, _ name: String, _ labels: [(String, String)], _ value: UInt64) {
        out += name
        appendLabels(&out, labels)
        out += " \(value)\n"
    }

    private static func histogram(
        _ out: inout String, _ name: String, _ labels: [(String, String)], _ histogram: LatencyHistogram
    ) {
        var cumulative: UInt64 = 0
        for (index, count) in histogram.counts.enumerated() {
            cumulative &+= count
            let bound = index < LatencyHistogram.bounds.count ? number(LatencyHistogram.bounds[index]) : "+Inf"
            out += name + "_bucket"
            appendLabels(&out, labels + [("le", bound)])
            out += " \(cumulative)\n"
        }
        out += name + "_sum"
        appendLabels(&out, labels)
        out += " \(number(histogram.sum))\n"
        out += name + "_count"
        appendLabels(&out, labels)
        out += " \(histogram.count)\n"
    }

    private static func appendLabels(_ out: inout String, _ labels: [(String, String)]) {
        out += "{"
        for (index, (name, value)) in labels.enumerated() {
            if index > 0 { out += "," }
            out += name
            out += "=\""
            out += escapeLabelValue(value)
            out += "\""
        }
        out += "}"
    }

    /// A label value with `\`, `"` and newline escaped, as the text format requires.
    public static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A float as Prometheus clients print it: integral values without a fraction (`1`, not `1.0`).
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
