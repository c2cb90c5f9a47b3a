import Testing

@testable import FanoutCore

@Suite struct ConfigParserTests {
    static let fullFile = """
        # fanout sample
        listen 127.0.0.1:8080
        listen [::1]:9090
        listen :7070
        workers 4
        access_log off
        forward_headers Accept-Language User-Agent X-Tenant
        max_request_line 16k; max_header_bytes 64KiB; max_headers 50; max_body 2m
        keepalive_requests 500; max_client_connections 2000
        max_response_body 4MiB
        client_timeout 5s; keepalive_timeout 1m; send_timeout 1.5s; shutdown_timeout 250ms

        upstream partner {
            url https://API.Partner.example/base/
            connect_timeout 500ms
            timeout 3s
            max_connections 16
            header X-Api-Key ${PARTNER_KEY}
            header X-Region "${REGION:-eu-west}"
        }

        route GET /products/{id}/overview {
            deadline 1500ms
            call product GET partner /v1/products/{id}
            call reviews GET http://127.0.0.1:9002/reviews?product={id}&lang={query.lang} optional timeout=400ms header=X-Trace:abc
            call stock get http://127.0.0.1:9002/stock/{id}
        }
        route * /api/{rest...} {
            proxy partner /v2/{rest...}
            timeout 5s
        }
        route GET,HEAD /legacy/{rest...} {
            proxy https://legacy.example:8443/old
        }
        route POST /passthrough { proxy partner; }
        route GET /health {
            respond 200 `{"status":"ok", "note": "# not a comment ${NOT_INTERPOLATED}"}`
            content_type "application/json; charset=utf-8"
            header Cache-Control no-store
            delay 120ms
        }
        route GET /empty { respond 204; }
        """

    static let environment = ["PARTNER_KEY": "secret-123"]

    @Test func parsesFullFileIntoModel() throws {
        let config = try ConfigParser.parse(Self.fullFile, file: "proxy.conf", environment: Self.environment)

        #expect(
            config.listen == [
                ListenAddress(host: "127.0.0.1", port: 8080),
                ListenAddress(host: "::1", port: 9090),
                ListenAddress(host: "*", port: 7070),
            ]
        )
        #expect(config.workers == .fixed(4))
        #expect(config.accessLog == .off)
        #expect(config.forwardHeaders == ["accept-language", "user-agent", "x-tenant"])
        #expect(config.limits.maxRequestLineBytes == 16 * 1024)
        #expect(config.limits.maxHeaderBytes == 64 * 1024)
        #expect(config.limits.maxHeaderCount == 50)
        #expect(config.limits.maxBodyBytes == 2 * 1024 * 1024)
        #expect(config.limits.keepaliveRequests == 500)
        #expect(config.limits.maxClientConnections == 2000)
        #expect(config.limits.maxUpstreamBodyBytes == 4 * 1024 * 1024)
        #expect(config.timeouts.clientMs == 5_000)
        #expect(config.timeouts.keepaliveMs == 60_000)
        #expect(config.timeouts.sendMs == 1_500)
        #expect(config.timeouts.shutdownMs == 250)
    }

    @Test func parsesNamedAndImplicitUpstreams() throws {
        let config = try ConfigParser.parse(Self.fullFile, file: "proxy.conf", environment: Self.environment)
        #expect(
            config.upstreams.map(\.name) == ["partner", "http://127.0.0.1:9002", "https://legacy.example:8443/old"]
        )

        let partner = config.upstreams[0]
        #expect(
            partner.origin == UpstreamOrigin(scheme: "https", host: "api.partner.example", port: 443, basePath: "/base")
        )
        #expect(partner.origin.urlPrefix == "https://api.partner.example:443/base")
        #expect(partner.connectTimeoutMs == 500)
        #expect(partner.timeoutMs == 3_000)
        #expect(partner.maxConnections == 16)
        #expect(
            partner.headers == [
                HeaderField(name: "X-Api-Key", value: "secret-123"), HeaderField(name: "X-Region", value: "eu-west"),
            ]
        )
        #expect(partner.isImplicit == false)
        #expect(partner.location == SourceLocation(file: "proxy.conf", line: 13, column: 1))

        let implicit = config.upstreams[1]
        #expect(implicit.isImplicit)
        #expect(implicit.origin == UpstreamOrigin(scheme: "http", host: "127.0.0.1", port: 9002, basePath: ""))
        #expect(implicit.connectTimeoutMs == 2_000)
        #expect(implicit.timeoutMs == 10_000)
        #expect(implicit.maxConnections == 1024)
        #expect(implicit.headers.isEmpty)
        #expect(implicit.followRedirects == 0)

        let legacy = config.upstreams[2]
        #expect(legacy.isImplicit)
        #expect(legacy.origin == UpstreamOrigin(scheme: "https", host: "legacy.example", port: 8443, basePath: "/old"))
    }

    @Test func followRedirectsDefaultsToZeroAndIsPerUpstream() throws {
        let config = try ConfigParser.parse(
            """
            upstream moving {
                url http://moving.test:1
                follow_redirects 3
            }
            upstream still { url http://still.test:1; follow_redirects 0; }
            upstream plain { url http://plain.test:1 }
            """,
            file: "test.conf", environment: [:])

        #expect(config.upstreams.map(\.followRedirects) == [3, 0, 0])
    }

    @Test func cacheIsAPerCallLifetimeWithAPerWorkerSize() throws {
        let config = try ConfigParser.parse(
            """
            cache_size 2m
            route GET /a {
                call one GET http://a.test:1/one cache=30s
                call two GET http://a.test:1/two { cache 1m }
                call three GET http://a.test:1/three
            }
            """,
            file: "test.conf", environment: [:])
        guard case .composite(let route) = config.routes[0].action else {
            Issue.record("not a composite route")
            return
        }
        #expect(
            route.calls.map(\.cache) == [
                CachePolicy(lifetime: .upTo(milliseconds: 30_000)), CachePolicy(lifetime: .upTo(milliseconds: 60_000)),
                nil,
            ])
        #expect(config.limits.cacheBytesPerWorker == 2 * 1024 * 1024)
        #expect(try ConfigParser.parse("", file: "t.conf", environment: [:]).limits.cacheBytesPerWorker == 16 << 20)
        for invalid in [
            "route POST /a { call one POST http://a.test:1/one cache=30s }",
            "route GET /a { call one GET http://a.test:1/one cache=30s cache=1s }",
            "route GET /a { call one GET http://a.test:1/one cache=soon }",
        ] {
            #expect(throws: ConfigError.self) { try ConfigParser.parse(invalid, file: "t.conf", environment: [:]) }
        }
    }

    @Test func busyPollIsOffByDefaultAndTakesMicroseconds() throws {
        #expect(try ConfigParser.parse("", file: "t.conf", environment: [:]).busyPollMicroseconds == 0)
        #expect(try ConfigParser.parse("busy_poll 50us", file: "t.conf", environment: [:]).busyPollMicroseconds == 50)
        #expect(
            try ConfigParser.parse("busy_poll 1000us", file: "t.conf", environment: [:]).busyPollMicroseconds == 1000)
        #expect(try ConfigParser.parse("busy_poll off", file: "t.conf", environment: [:]).busyPollMicroseconds == 0)
        for invalid in [
            "busy_poll 0us", "busy_poll 1001us", "busy_poll 50", "busy_poll 1ms", "busy_poll on", "busy_poll",
        ] {
            #expect(throws: ConfigError.self, "\(invalid)") {
                try ConfigParser.parse(invalid, file: "t.conf", environment: [:])
            }
        }
    }

    @Test func abortGraceIsADurationOrOffAndDefaultsToOneSecond() throws {
        let config = try ConfigParser.parse(
            """
            upstream short { url http://short.test:1; abort_grace 250ms; }
            upstream none { url http://none.test:1; abort_grace off; }
            upstream plain { url http://plain.test:1; }
            """,
            file: "test.conf", environment: [:])
        #expect(config.upstreams.map(\.abortGraceMs) == [250, 0, UpstreamConfig.defaultAbortGraceMs])
        #expect(UpstreamConfig.defaultAbortGraceMs == 1_000)
        for invalid in ["abort_grace", "abort_grace 2", "abort_grace soon", "abort_grace -1s", "abort_grace 1s 2s"] {
            let text = "upstream u { url http://u.test:1; \(invalid); }"
            #expect(throws: ConfigError.self) { try ConfigParser.parse(text, file: "t.conf", environment: [:]) }
        }
    }

    @Test func hedgeAndRetriesArePerUpstreamAndPerCall() throws {
        let config = try ConfigParser.parse(
            """
            upstream hedged { url http://hedged.test:1; hedge 50ms; retries 2; retry_budget 10%; }
            upstream plain { url http://plain.test:1; hedge off; retry_budget 35; }
            route GET /a {
                call one GET hedged /one hedge=off retries=0
                call two GET plain /two hedge=20ms retries=1
                call three PUT plain /three { retries 3; }
                call four GET hedged /four { hedge 1s; }
                call five POST hedged /five
            }
            """,
            file: "test.conf", environment: [:])
        #expect(config.upstreams.map(\.hedgeDelayMs) == [50, nil])
        #expect(config.upstreams.map(\.retries) == [2, 0])
        #expect(config.upstreams.map(\.retryBudgetPercent) == [10, 35])
        guard case .composite(let route) = config.routes[0].action else {
            Issue.record("not a composite route")
            return
        }
        #expect(route.calls.map(\.hedgeDelayMs) == [0, 20, nil, 1_000, nil])
        #expect(route.calls.map(\.retries) == [0, 1, 3, nil, nil])
        #expect(
            try ConfigParser.parse("upstream a { url http://a.test:1 }", file: "t.conf", environment: [:])
                .upstreams[0].retryBudgetPercent == 20)
        for invalid in [
            "upstream a { url http://a.test:1; retries 6; }",
            "upstream a { url http://a.test:1; retry_budget 101%; }",
            "upstream a { url http://a.test:1; hedge soon; }",
            "route POST /a { call one POST http://a.test:1/one retries=1 }",
            "route PUT /a { call one PUT http://a.test:1/one hedge=50ms }",
            "route GET /a { call one GET http://a.test:1/one hedge=1s hedge=2s }",
        ] {
            #expect(throws: ConfigError.self) { try ConfigParser.parse(invalid, file: "t.conf", environment: [:]) }
        }
        // Turning them off is allowed on any method.
        _ = try ConfigParser.parse(
            "route POST /a { call one POST http://a.test:1/one retries=0 hedge=off }", file: "t.conf", environment: [:])
    }

    @Test func cacheUpstreamAndStaleWindowsAreCallOptionsOrBlockDirectives() throws {
        let config = try ConfigParser.parse(
            """
            route GET /a {
                call one GET http://a.test:1/one stale_if_error=1m cache=upstream stale_while_revalidate=10s
                call two GET http://a.test:1/two { stale_while_revalidate 2s; cache 5s; stale_if_error 1h }
                call three GET http://a.test:1/three { cache upstream }
            }
            """,
            file: "test.conf", environment: [:])
        guard case .composite(let route) = config.routes[0].action else {
            Issue.record("not a composite route")
            return
        }
        #expect(
            route.calls.map(\.cache) == [
                CachePolicy(lifetime: .upstream, staleWhileRevalidateMs: 10_000, staleIfErrorMs: 60_000),
                CachePolicy(
                    lifetime: .upTo(milliseconds: 5_000), staleWhileRevalidateMs: 2_000, staleIfErrorMs: 3_600_000),
                CachePolicy(lifetime: .upstream),
            ])
        for (invalid, message) in [
            ("call one GET http://a.test:1/one stale_if_error=1m", "'stale_if_error=1m' needs 'cache' in call 'one'"),
            (
                "call one GET http://a.test:1/one { stale_while_revalidate 1s }",
                "'stale_while_revalidate' needs 'cache'"
            ),
            ("call one GET http://a.test:1/one cache=5s stale_if_error=soon", "invalid duration 'soon'"),
            (
                "call one GET http://a.test:1/one cache=5s stale_if_error=1s stale_if_error=2s",
                "duplicate 'stale_if_error'"
            ),
            (
                "call one GET http://a.test:1/one cache=upstream stale_whilerevalidate=1s",
                "did you mean 'stale_while_revalidate='"
            ),
        ] {
            #expect {
                try ConfigParser.parse("route GET /a { \(invalid) }", file: "t.conf", environment: [:])
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func coalesceDefaultsToOnAndCanBeTurnedOff() throws {
        let config = try ConfigParser.parse(
            """
            upstream counted { url http://counted.test:1; coalesce off; }
            upstream merged { url http://merged.test:1; coalesce on; }
            upstream plain { url http://plain.test:1 }
            """,
            file: "test.conf", environment: [:])

        #expect(config.upstreams.map(\.coalesce) == [false, true, true])
        #expect(throws: ConfigError.self) {
            let text = "upstream a { url http://a.test:1; coalesce maybe; }"
            _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
        }
    }

    @Test func acceptEncodingDefaultsToGzipAndBrotli() throws {
        let config = try ConfigParser.parse(
            """
            upstream plain { url http://plain.test:1 }
            upstream off { url http://off.test:1; accept_encoding off; }
            upstream all { url http://all.test:1; accept_encoding zstd br deflate gzip; }
            """,
            file: "test.conf", environment: [:])

        #expect(config.upstreams.map(\.acceptEncoding) == [["gzip", "br"], [], ["zstd", "br", "deflate", "gzip"]])
        for text in [
            "upstream a { url http://a.test:1; accept_encoding compress; }",
            "upstream a { url http://a.test:1; accept_encoding gzip gzip; }",
            "upstream a { url http://a.test:1; accept_encoding off gzip; }",
            "upstream a { url http://a.test:1; accept_encoding; }",
            "forward_headers Accept-Encoding",
        ] {
            #expect(throws: ConfigError.self, "\(text)") {
                _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
            }
        }
    }

    @Test func contextHeadersDefaultToAllAndTakeASubsetOrOff() throws {
        let config = try ConfigParser.parse(
            """
            upstream plain { url http://plain.test:1 }
            upstream off { url http://off.test:1; context_headers off; }
            upstream some { url http://some.test:1; context_headers x-request-id TRACEPARENT; }
            upstream every { url http://every.test:1
                context_headers X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Request-Id traceparent
            }
            """,
            file: "test.conf", environment: [:])

        #expect(config.upstreams.map(\.contextHeaders) == [.all, [], [.requestID, .traceparent], .all])
        var slots = AdmissionSlots()
        let resolved = config.upstreams.enumerated().map { index, upstream in
            ResolvedUpstream(upstream, index: index, workerCount: 1, decodableCodings: [], slots: &slots)
        }
        #expect(resolved.map(\.sendsAllContextHeaders) == [true, false, false, true])
        for text in [
            "upstream a { url http://a.test:1; context_headers tracestate; }",
            "upstream a { url http://a.test:1; context_headers Forwarded; }",
            "upstream a { url http://a.test:1; context_headers X-Request-Id x-request-id; }",
            "upstream a { url http://a.test:1; context_headers off X-Request-Id; }",
            "upstream a { url http://a.test:1; context_headers; }",
            "upstream a { url http://a.test:1; context_headers off; context_headers off; }",
        ] {
            #expect(throws: ConfigError.self, "\(text)") {
                _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
            }
        }
    }

    @Test func gzipIsOffByDefaultAndConfigurable() throws {
        #expect(try ConfigParser.parse("", file: "t.conf", environment: [:]).gzip == GzipSettings())
        let config = try ConfigParser.parse(
            "gzip on\ngzip_min_length 2k\ngzip_level 6\n", file: "t.conf", environment: [:])
        #expect(config.gzip.enabled && config.gzip.minLength == 2048 && config.gzip.level == 6)
        for text in ["gzip yes", "gzip_level 0", "gzip_level 10", "gzip_min_length 0", "gzip on\ngzip off"] {
            #expect(throws: ConfigError.self, "\(text)") {
                _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
            }
        }
    }

    @Test func abortOnCloseIsOnByDefaultAndConfigurable() throws {
        #expect(try ConfigParser.parse("", file: "t.conf", environment: [:]).abortOnClose)
        #expect(try !ConfigParser.parse("abort_on_close off", file: "t.conf", environment: [:]).abortOnClose)
        #expect(try ConfigParser.parse("abort_on_close on", file: "t.conf", environment: [:]).abortOnClose)
        let invalid = [
            "abort_on_close", "abort_on_close yes", "abort_on_close on off", "abort_on_close on\nabort_on_close on",
        ]
        for text in invalid {
            #expect(throws: ConfigError.self, "\(text)") {
                _ = try ConfigParser.parse(text, file: "t.conf", environment: [:])
            }
        }
    }

    @Test func breakerAndMaxQueueAreOffByDefaultAndPerUpstream() throws {
        let config = try ConfigParser.parse(
            """
            upstream guarded {
                url http://guarded.test:1
                breaker 5 30s
                max_queue 100
            }
            upstream strict { url http://strict.test:1; max_queue 0; breaker 1 250ms; }
            upstream plain { url http://plain.test:1 }
            """,
            file: "test.conf", environment: [:])

        #expect(
            config.upstreams.map(\.breaker) == [
                BreakerSettings(failures: 5, cooldownMs: 30_000), BreakerSettings(failures: 1, cooldownMs: 250), nil,
            ])
        #expect(config.upstreams.map(\.maxQueue) == [100, 0, nil])
    }

    @Test func rateIsPerSecondOrPerMinute() throws {
        let config = try ConfigParser.parse(
            """
            upstream fast { url http://fast.test:1; rate 250/s; }
            upstream slow { url http://slow.test:1; rate 30/m; }
            upstream free { url http://free.test:1 }
            """,
            file: "test.conf", environment: [:])

        #expect(config.upstreams.map(\.ratePerSecond) == [250, 0.5, nil])
        #expect(config.upstreams.map(\.sharedRate) == [nil, nil, nil])
    }

    @Test func rateMayBeSharedAcrossTheFleetWithAReplicaCount() throws {
        let config = try ConfigParser.parse(
            """
            upstream a { url http://a.test:1; rate 100/s shared; }
            upstream b { url http://b.test:1; rate 100/s shared replicas=4; }
            """,
            file: "test.conf", environment: [:])
        #expect(config.upstreams.map(\.sharedRate) == [SharedRate(replicas: 1), SharedRate(replicas: 4)])
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse(
                "upstream a { url http://a.test:1; rate 100/s global; }", file: "t", environment: [:])
        }
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse(
                "upstream a { url http://a.test:1; rate 100/s shared replicas=0; }", file: "t", environment: [:])
        }
    }

    @Test func minRateIsPerProxyRouteWithAStandardDefaultAndOff() throws {
        let config = try ConfigParser.parse(
            """
            upstream up { url http://up.test:1 }
            route GET /default { proxy up }
            route GET /rate { proxy up; min_rate 4k/s; }
            route GET /grace { proxy up; min_rate 512/s 1500ms; }
            route GET /off { proxy up; min_rate off; }
            """,
            file: "test.conf", environment: [:])
        let rates = config.routes.map { route -> MinimumRate?? in
            guard case .proxy(let proxy) = route.action else { return .none }
            return .some(proxy.minRate)
        }
        #expect(
            rates == [
                .standard, MinimumRate(bytesPerSecond: 4_096, graceMs: 30_000),
                MinimumRate(bytesPerSecond: 512, graceMs: 1_500), .some(nil),
            ])
        #expect(MinimumRate.standard == MinimumRate(bytesPerSecond: 1_024, graceMs: 30_000))
    }

    @Test func parsesCompositeRoute() throws {
        let config = try ConfigParser.parse(Self.fullFile, file: "proxy.conf", environment: Self.environment)
        let route = config.routes[0]
        #expect(route.displayName == "GET /products/{id}/overview")
        #expect(route.methods == .only(["GET"]))
        #expect(route.location == SourceLocation(file: "proxy.conf", line: 22, column: 1))
        guard case .composite(let composite) = route.action else {
            Issue.record("expected a composite route, got \(route.action)")
            return
        }
        #expect(composite.deadlineMs == 1_500)
        #expect(composite.calls.map(\.name) == ["product", "reviews", "stock"])
        #expect(composite.calls.map(\.upstream) == [0, 1, 1])
        #expect(composite.calls.map(\.method) == ["GET", "GET", "GET"])
        #expect(
            composite.calls.map(\.target.raw) == [
                "/v1/products/{id}", "/reviews?product={id}&lang={query.lang}", "/stock/{id}",
            ]
        )

        let product = composite.calls[0]
        #expect(product.required)
        #expect(product.timeoutMs == nil)
        #expect(product.headers.isEmpty)
        #expect(product.location == SourceLocation(file: "proxy.conf", line: 24, column: 5))

        let reviews = composite.calls[1]
        #expect(reviews.required == false)
        #expect(reviews.timeoutMs == 400)
        #expect(reviews.headers.map(\.name) == ["X-Trace"])
        #expect(reviews.headers.map(\.value.raw) == ["abc"])
        let values = TemplateValues(
            routeParameters: ["id": ["42"]],
            query: try QueryParameters(parsing: "lang=en")
        )
        #expect(try reviews.target.render(values) == "/reviews?product=42&lang=en")
    }

    @Test func parsesProxyRoutes() throws {
        let config = try ConfigParser.parse(Self.fullFile, file: "proxy.conf", environment: Self.environment)
        guard case .proxy(let api) = config.routes[1].action,
            case .proxy(let legacy) = config.routes[2].action,
            case .proxy(let passthrough) = config.routes[3].action
        else {
            Issue.record("expected proxy routes")
            return
        }
        #expect(config.routes[1].methods == .any)
        #expect(api.upstream == 0)
        #expect(api.target?.raw == "/v2/{rest...}")
        #expect(api.timeoutMs == 5_000)
        #expect(config.routes[2].methods == .only(["GET", "HEAD"]))
        #expect(legacy.upstream == 2)
        #expect(legacy.target == nil)
        #expect(legacy.timeoutMs == nil)
        #expect(passthrough.upstream == 0)
        #expect(passthrough.target == nil)
    }

    @Test func parsesRespondRoutes() throws {
        let config = try ConfigParser.parse(Self.fullFile, file: "proxy.conf", environment: Self.environment)
        guard case .respond(let health) = config.routes[4].action, case .respond(let empty) = config.routes[5].action
        else {
            Issue.record("expected respond routes")
            return
        }
        #expect(health.status == 200)
        #expect(
            String(decoding: health.body, as: UTF8.self)
                == ##"{"status":"ok", "note": "# not a comment ${NOT_INTERPOLATED}"}"##
        )
        #expect(health.contentType == "application/json; charset=utf-8")
        #expect(health.headers == [HeaderField(name: "Cache-Control", value: "no-store")])
        #expect(health.delayMs == 120)
        #expect(empty.status == 204)
        #expect(empty.body.isEmpty)
        #expect(empty.contentType == "application/json")
        #expect(empty.delayMs == 0)
    }

    @Test func parsesTheGrammarSampleWithTrailingComments() throws {
        let text = """
            max_request_line 8k; max_header_bytes 32k; max_headers 100; max_body 1m; keepalive_requests 1000; max_response_body 8m
            client_timeout 10s; keepalive_timeout 75s; send_timeout 30s; shutdown_timeout 10s

            upstream partner {               # name: [A-Za-z0-9_-]+, unique
                url https://api.partner.example/base   # required: http(s) only
                connect_timeout 2s
                timeout 10s
                max_connections 64
                header X-Api-Key ${PARTNER_KEY}        # repeatable
            }

            route GET /products/{id}/overview {        # METHODS: `*`, a method, or a comma list `GET,HEAD`
                deadline 1500ms
                call product GET partner /v1/products/{id}
                call reviews GET http://127.0.0.1:9002/reviews?product={id}&lang={query.lang} optional timeout=400ms header=X-Trace:abc
            }
            route * /api/{rest...} {
                proxy partner /v2/{rest...}            # or `proxy partner` or `proxy http://host:port/prefix`
                timeout 5s
            }
            route GET /health {
                respond 200 `{"status":"ok"}`          # status 100..599, body optional (backtick/quoted/bare)
                content_type application/json           # default application/json
                header Cache-Control no-store
                delay 120ms
            }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: ["PARTNER_KEY": "k"])
        #expect(config.limits == ServerLimits())
        #expect(config.timeouts == ServerTimeouts())
        #expect(config.upstreams.map(\.name) == ["partner", "http://127.0.0.1:9002"])
        #expect(config.routes.map(\.displayName) == ["GET /products/{id}/overview", "* /api/{rest...}", "GET /health"])
    }

    @Test func emptyFileGivesDefaults() throws {
        let config = try ConfigParser.parse("# nothing\n\n", file: "proxy.conf", environment: [:])
        #expect(config.listen == [ListenAddress(host: "127.0.0.1", port: 8080)])
        #expect(config.workers == .auto)
        #expect(config.accessLog == .stdout)
        #expect(config.forwardHeaders == ["accept-language", "user-agent"])
        #expect(config.limits == ServerLimits())
        #expect(config.limits.maxRequestLineBytes == 8 * 1024)
        #expect(config.limits.maxUpstreamBodyBytes == 8 * 1024 * 1024)
        #expect(config.timeouts == ServerTimeouts())
        #expect(config.upstreams.isEmpty)
        #expect(config.routes.isEmpty)
    }

    @Test func adminListenIsOffByDefaultAndABarePortMeansLoopback() throws {
        func admin(_ text: String) throws -> ListenAddress? {
            try ConfigParser.parse(text, file: "proxy.conf", environment: [:]).adminListen
        }
        #expect(try admin("") == nil)
        #expect(try admin("admin_listen off\n") == nil)
        #expect(try admin("admin_listen 9901\n") == ListenAddress(host: "127.0.0.1", port: 9901))
        #expect(try admin("admin_listen 10.0.0.5:9901\n") == ListenAddress(host: "10.0.0.5", port: 9901))
        #expect(try admin("admin_listen [::1]:0\n") == ListenAddress(host: "::1", port: 0))
        #expect(throws: ConfigError.self) { try admin("admin_listen 70000\n") }
        #expect(throws: ConfigError.self) { try admin("admin_listen localhost:9901\n") }
        #expect(throws: ConfigError.self) { try admin("admin_listen 9901\nadmin_listen 9902\n") }
    }

    @Test func compositeDeadlineDefaultsToFiveSeconds() throws {
        let config = try ConfigParser.parse(
            "route GET /a { call one GET http://h:1/x }",
            file: "proxy.conf",
            environment: [:]
        )
        guard case .composite(let composite) = config.routes[0].action else {
            Issue.record("expected a composite route")
            return
        }
        #expect(composite.deadlineMs == 5_000)
        #expect(composite.calls[0].required)
        #expect(config.upstreams.map(\.name) == ["http://h:1"])
    }

    @Test func implicitUpstreamsAreSharedByOrigin() throws {
        let text = """
            route GET /a {
                call one GET http://Example.com/x
                call two GET http://example.com:80/y
                call three GET https://example.com/z
            }
            route GET /b { proxy http://example.com }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        #expect(config.upstreams.map(\.name) == ["http://example.com", "https://example.com"])
        guard case .composite(let composite) = config.routes[0].action, case .proxy(let proxy) = config.routes[1].action
        else {
            Issue.record("unexpected actions")
            return
        }
        #expect(composite.calls.map(\.upstream) == [0, 0, 1])
        #expect(proxy.upstream == 0)
    }

    @Test func upstreamMayBeDeclaredAfterItsRoute() throws {
        let text = """
            route GET /a { proxy late }
            upstream early { url http://early:1 }
            upstream late { url http://late:2 }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        guard case .proxy(let proxy) = config.routes[0].action else {
            Issue.record("expected a proxy route")
            return
        }
        #expect(proxy.upstream == 1)
    }

    @Test(arguments: [
        ("${A}", "a-value"),
        ("x${A}y", "xa-valuey"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${A:-fallback}", "a-value"),
        ("${MISSING:-}", ""),
        ("\"${A} and ${MISSING:-b c}\"", "a-value and b c"),
        ("`${A}`", "${A}"),
    ])
    func interpolatesEnvironment(written: String, expected: String) throws {
        let text = "route GET /a { respond 200 \(written); content_type text/plain }"
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: ["A": "a-value", "EMPTY": ""])
        guard case .respond(let response) = config.routes[0].action else {
            Issue.record("expected respond")
            return
        }
        #expect(String(decoding: response.body, as: UTF8.self) == expected)
    }

    @Test func interpolatedValueIsNeverRelexed() throws {
        let text = "route GET /a { respond 200 ${BODY}; content_type text/plain }"
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: ["BODY": "} # ; x"])
        guard case .respond(let response) = config.routes[0].action else {
            Issue.record("expected respond")
            return
        }
        #expect(String(decoding: response.body, as: UTF8.self) == "} # ; x")
    }

    @Test func emptyVariableWarnsOnceAtItsFirstUse() throws {
        let text = """
            upstream a {
                url http://a:1
                header X-Key ${KEY}
                header X-Other "k=${KEY}"
            }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: ["KEY": ""])
        #expect(
            config.parseWarnings == [
                ConfigWarning(
                    location: SourceLocation(file: "proxy.conf", line: 3, column: 18),
                    message:
                        "environment variable 'KEY' is set but empty, so ${KEY} is replaced by nothing; give it a "
                        + "value, or write ${KEY:-default} (${KEY:-} if empty is meant)")
            ])
        #expect(config.warnings == config.parseWarnings.map(\.description))
        #expect(config.warnings[0].hasPrefix("proxy.conf:3:18: warning: environment variable 'KEY' is set but empty"))
    }

    @Test(arguments: ["${KEY:-}", "${KEY:-fallback}", "${UNSET:-}", "${KEY2}"])
    func variablesWithADefaultOrAValueDoNotWarn(written: String) throws {
        let text = "upstream a {\n url http://a:1\n header X-Key \"v\(written)\"\n}"
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: ["KEY": "", "KEY2": "x"])
        #expect(config.parseWarnings.isEmpty)
    }

    @Test func respondBodyMustBeJSONOnlyUnderAJSONContentType() throws {
        let text = """
            route GET /a { respond 200 `{"ok": [1, 2.5e3, null]}` }
            route GET /b { respond 200 "plain words"; content_type text/plain }
            route GET /c { respond 503 `"maintenance"` }
            route GET /d { respond 200 `{"type": "about:blank"}`; content_type application/problem+json }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        #expect(config.routes.count == 4)
    }

    @Test func minSuccessIsParsedAndCheckedAgainstTheCalls() throws {
        let text = """
            route GET /a {
                min_success 2
                call a GET http://h:1/a optional
                call b GET http://h:1/b optional
                call c GET http://h:1/c
            }
            route GET /b {
                call a GET http://h:1/a
            }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        guard case .composite(let first) = config.routes[0].action,
            case .composite(let second) = config.routes[1].action
        else {
            Issue.record("expected composite routes")
            return
        }
        #expect(first.minSuccess == 2)
        #expect(second.minSuccess == nil)
        #expect(config.parseWarnings.isEmpty)
    }

    @Test func minSuccessInARouteOfRequiredCallsWarns() throws {
        let text = "route GET /a {\n  call a GET http://h:1/a\n  min_success 1\n}"
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        #expect(config.parseWarnings.map(\.location.line) == [3])
        #expect(config.warnings[0].contains("min_success has no effect in route GET /a: every call is required"))
    }

    @Test func getAndStarRoutesOnSamePathAreAllowed() throws {
        let text = """
            route GET /x { respond 200 }
            route * /x { respond 405 }
            route POST /x/{a} { respond 201 }
            route PUT /x/{b} { respond 202 }
            """
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        #expect(config.routes.count == 4)
    }

    @Test func blocksMayCloseOnTheSameLineAfterSemicolon() throws {
        let text = "upstream a { url http://a:1; timeout 2s; }\nroute GET /b {\n    proxy a; timeout 1s; }\n"
        let config = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        #expect(config.upstreams[0].timeoutMs == 2_000)
        guard case .proxy(let proxy) = config.routes[0].action else {
            Issue.record("expected proxy")
            return
        }
        #expect(proxy.timeoutMs == 1_000)
    }

    @Test func errorDescriptionHasFileLineColumn() {
        let text = "route GET /x {\n    cal a GET http://h:1/\n}"
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        }
        do {
            _ = try ConfigParser.parse(text, file: "proxy.conf", environment: [:])
        } catch {
            #expect(
                error.description == "proxy.conf:2:5: unknown directive 'cal' in route GET /x; did you mean 'call'?"
            )
        }
    }
}
