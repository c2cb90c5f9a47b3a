import Testing

@testable import FanoutCore

/// ``ResolvedUpstream`` and ``ResolvedRoute``: what is computed once per configuration load.
@Suite struct ResolvedConfigTests {
    static let file = """
        upstream partner {
            url https://partner.test/api
            header X-Api-Key k1
            query v 2
            max_connections 10
            max_queue 5
            rate 30/s
            accept_encoding gzip br zstd
            connect_to 10.0.0.9:8443
            oauth2 {
                token_url https://auth.test/oauth/token
                client_id id
                client_secret secret
            }
        }
        upstream plain { url http://plain.test:8080 }
        route GET /overview {
            call a GET partner /a
            call b GET plain /b
        }
        route * /p { proxy plain }
        route GET /static { respond 200 `{"ok": true}` }
        """

    static func resolve(workerCount: Int, decodable: Set<String>, slots: inout AdmissionSlots) throws
        -> [ResolvedUpstream]
    {
        let config = try ConfigParser.parse(Self.file, file: "proxy.conf", environment: [:])
        return config.upstreams.enumerated().map { index, upstream in
            ResolvedUpstream(
                upstream, index: index, workerCount: workerCount, decodableCodings: decodable, slots: &slots)
        }
    }

    /// Fixed targets get their whole URL (origin, base path, target, the upstream's `query`) and a number
    /// that an unchanged URL keeps across loads; a target with a placeholder, or none, gets nothing.
    @Test func fixedTargetsGetTheirURLAndANumberThatSurvivesAReload() throws {
        func file(_ x: Int) -> String {
            """
            upstream partner {
                url https://partner.test/api
                query v 2
            }
            upstream plain { url http://plain.test:8080 }
            route GET /overview/{id} {
                call a GET partner /a?x=\(x)
                call b GET plain /b/{id}
                call c GET plain /c
            }
            route GET /p { proxy plain /fixed }
            route GET /q/{id} { proxy plain /q/{id} }
            route * /r { proxy partner }
            """
        }
        func calls(_ config: FanoutConfig) -> [FixedURL?] {
            guard case .composite(let composite) = config.routes[0].action else { return [] }
            return composite.calls.map(\.fixedURL)
        }
        func proxies(_ config: FanoutConfig) -> [FixedURL?] {
            config.routes.dropFirst().map {
                guard case .proxy(let proxy) = $0.action else { return nil }
                return proxy.fixedURL
            }
        }
        var numbers = FixedURLNumbers()
        var config = try ConfigParser.parse(file(1), file: "fixed.conf", environment: [:])
        #expect(calls(config).allSatisfy { $0 == nil })
        config.numberFixedURLs(&numbers)
        #expect(
            calls(config).map { $0?.url } == [
                "https://partner.test:443/api/a?x=1&v=2", nil, "http://plain.test:8080/c",
            ])
        #expect(calls(config).map { $0?.number } == [0, nil, 1])
        #expect(proxies(config).map { $0?.url } == ["http://plain.test:8080/fixed", nil, nil])
        #expect(proxies(config).map { $0?.number } == [2, nil, nil])

        // A reload: /c and /fixed unchanged keep their numbers, a changed URL gets a new one.
        var reloaded = try ConfigParser.parse(file(2), file: "fixed.conf", environment: [:])
        reloaded.numberFixedURLs(&numbers)
        #expect(calls(reloaded).map { $0?.number } == [3, nil, 1])
        #expect(proxies(reloaded).map { $0?.number } == [2, nil, nil])
    }

    @Test func anUpstreamsLimitsAreOneWorkersShareRoundedUp() throws {
        var slots = AdmissionSlots()
        let upstreams = try Self.resolve(workerCount: 4, decodable: ["gzip", "deflate", "br"], slots: &slots)
        let partner = upstreams[0]
        #expect(partner.index == 0 && partner.name == "partner")
        #expect(partner.limitPerWorker == 3)
        #expect(partner.queueLimitPerWorker == 2)
        #expect(partner.ratePerWorker == 7.5)
        let plain = upstreams[1]
        #expect(plain.limitPerWorker == 256)
        #expect(plain.queueLimitPerWorker == nil)
        #expect(plain.ratePerWorker == nil)
        // More workers than connections: each still gets one.
        var more = AdmissionSlots()
        #expect(try Self.resolve(workerCount: 16, decodable: [], slots: &more)[0].limitPerWorker == 1)
    }

    @Test func headerLinesURLAndTransportAreBuiltOnce() throws {
        var slots = AdmissionSlots()
        let partner = try Self.resolve(workerCount: 1, decodable: ["gzip", "br"], slots: &slots)[0]
        #expect(partner.headerLines == ["X-Api-Key: k1"])
        #expect(partner.urlPrefix == "https://partner.test:443/api")
        #expect(partner.url("/a?x=1") == "https://partner.test:443/api/a?x=1&v=2")
        #expect(partner.url("/a?x=1") == partner.config.url("/a?x=1"))
        #expect(partner.transport.connectTo == "partner.test:443:10.0.0.9:8443")
        #expect(!partner.transport.cleartext)
    }

    @Test func acceptEncodingKeepsOnlyWhatTheLibraryDecodes() throws {
        var slots = AdmissionSlots()
        #expect(
            try Self.resolve(workerCount: 1, decodable: ["gzip", "br"], slots: &slots)[0].acceptEncoding == "gzip, br")
        #expect(try Self.resolve(workerCount: 1, decodable: ["zstd"], slots: &slots)[0].acceptEncoding == "zstd")
        #expect(try Self.resolve(workerCount: 1, decodable: [], slots: &slots)[0].acceptEncoding == nil)
    }

    @Test func slotsStayTheSameAcrossLoadsAndTokenRequestsHaveTheirOwn() throws {
        var slots = AdmissionSlots()
        let first = try Self.resolve(workerCount: 1, decodable: [], slots: &slots)
        let again = try Self.resolve(workerCount: 2, decodable: [], slots: &slots)
        #expect(first.map(\.slot) == again.map(\.slot))
        #expect(first.map(\.tokenSlot) == again.map(\.tokenSlot))
        let tokenSlot = try #require(first[0].tokenSlot)
        #expect(Set([first[0].slot, first[1].slot, tokenSlot]).count == 3)
        #expect(first[1].tokenSlot == nil)
        #expect(ResolvedUpstream.tokenRequestName("partner") == "partner.oauth2")
    }

    @Test func aRoutesName() throws {
        let config = try ConfigParser.parse(Self.file, file: "proxy.conf", environment: [:])
        let routes = config.routes.map(ResolvedRoute.init)
        #expect(routes.map(\.name) == ["GET /overview", "* /p", "GET /static"])
    }
}
