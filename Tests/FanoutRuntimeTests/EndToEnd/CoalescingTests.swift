import FanoutCore
import FanoutTestSupport
import Foundation
import Synchronization
import Testing

/// Coalescing: identical composite GETs in flight at the same time on a worker share one upstream transfer
/// (`CallCoalescer`); counted by the stub, which sees every request that reaches it.
@Suite struct CoalescingTests {
    /// Runs `clients` threads, each sending `requestsPerClient` GETs of `path` on one keep-alive connection;
    /// returns every response (or error). Bounded by `timeoutSeconds`.
    static func burst(
        port: UInt16, path: String, clients: Int, requestsPerClient: Int, timeoutSeconds: Int = 60
    ) throws -> [Result<RawHTTPResponse, any Error>] {
        let results = Mutex<[Result<RawHTTPResponse, any Error>]>([])
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<clients {
            let thread = Thread {
                defer { finished.signal() }
                do {
                    let connection = try RawHTTPClient(port: port, timeoutMs: 10_000)
                    defer { connection.close() }
                    for _ in 0..<requestsPerClient {
                        try connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                        let response = try connection.readResponse()
                        results.withLock { $0.append(.success(response)) }
                    }
                } catch {
                    results.withLock { $0.append(.failure(error)) }
                }
            }
            thread.start()
        }
        for _ in 0..<clients {
            try #require(
                finished.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success, "clients did not finish")
        }
        return results.withLock { $0 }
    }

    @Test func aBurstOfIdenticalRequestsReachesThePartnerAHandfulOfTimes() throws {
        let stub = try UpstreamStub(routes: ["/quote": .json(#"{"price":42}"#, delayMs: 300)])
        defer { stub.stop() }
        let workers = 2
        let server = try TestServer(
            """
            workers \(workers)
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /price { call quote GET partner /quote }
            """, substitutions: ["stub": stub.baseURL])

        // 100 keep-alive connections × 10 requests: each round of 100 concurrent requests needs one transfer
        // per worker, so about 10 rounds × 2 workers reach the stub instead of 1,000.
        let clients = 100
        let rounds = 10
        let results = try Self.burst(port: server.port, path: "/price", clients: clients, requestsPerClient: rounds)
        #expect(results.count == clients * rounds)
        for result in results {
            let response = try result.get()
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"quote":{"price":42}}"#)
        }
        let hits = stub.requests(forPath: "/quote")
        print("coalescing burst: \(results.count) requests, \(hits) upstream requests, \(workers) workers")
        #expect(hits >= rounds)
        // A margin of two for the rounds that straddle two transfers on a worker (a slow client thread).
        #expect(hits <= rounds * workers * 2)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_coalesced_calls_total{upstream="partner"}"#] == Double(clients * rounds - hits))
    }

    @Test func callsDifferingInAHeaderOrTheURLAreNotMerged() throws {
        let stub = try UpstreamStub(routes: [
            "/item/1": .json(#"{"n":1}"#, delayMs: 1_000),
            "/item/2": .json(#"{"n":2}"#, delayMs: 1_000),
        ])
        defer { stub.stop() }
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            forward_headers X-Api-Key
            upstream partner { url {{stub}} }
            route GET /items/{id} { call thing GET partner /item/{id} }
            """, substitutions: ["stub": stub.baseURL])

        // At once, within the stub's one-second delay: (1, key a) twice, (1, key b), (2, key a).
        let requests: [(path: String, key: String)] = [
            ("/items/1", "a"), ("/items/1", "a"), ("/items/1", "b"), ("/items/2", "a"),
        ]
        let responses = Mutex<[Int: RawHTTPResponse]>([:])
        let finished = DispatchSemaphore(value: 0)
        for (index, request) in requests.enumerated() {
            Thread {
                defer { finished.signal() }
                let headers = [("X-Api-Key", request.key)]
                if let response = try? httpGet(port: server.port, path: request.path, headers: headers) {
                    responses.withLock { $0[index] = response }
                }
            }.start()
        }
        for _ in requests { try #require(finished.wait(timeout: .now() + 30) == .success) }

        let answers = responses.withLock { $0 }
        #expect(answers.count == 4)
        #expect(answers.values.allSatisfy { $0.status == 200 })
        #expect(answers[3]?.bodyText == #"{"thing":{"n":2}}"#)
        let seen = stub.receivedRequests.map { "\($0.path) \($0.header("X-Api-Key") ?? "-")" }.sorted()
        #expect(seen == ["/item/1 a", "/item/1 b", "/item/2 a"])
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_coalesced_calls_total{upstream="partner"}"#] == 1)
    }

    /// A route whose one call takes 800 ms, with the admin listener for scraping.
    static func slowPartner() throws -> (UpstreamStub, TestServer) {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"ok":true}"#, delayMs: 800)])
        let server = try TestServer(
            """
            admin_listen 127.0.0.1:0
            upstream partner { url {{stub}} }
            route GET /s { call slow GET partner /slow }
            """, substitutions: ["stub": stub.baseURL])
        return (stub, server)
    }

    @Test(arguments: ClientDeparture.allCases)
    func aWaiterThatLeavesDoesNotCancelTheOthers(departure: ClientDeparture) throws {
        let (stub, server) = try Self.slowPartner()
        defer { stub.stop() }

        // The first client starts the transfer, a second joins it, then the first hangs up. Same Host header
        // (it is forwarded as X-Forwarded-Host, part of the identity).
        let leaver = try RawHTTPClient(port: server.port)
        try leaver.send("GET /s HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.1)
        let stayer = Mutex<RawHTTPResponse?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            defer { finished.signal() }
            if let response = try? httpGet(port: server.port, path: "/s") { stayer.withLock { $0 = response } }
        }.start()
        Thread.sleep(forTimeInterval: 0.2)
        ClientAbortTests.leave(leaver, departure)
        try #require(finished.wait(timeout: .now() + 10) == .success)

        let response = try #require(stayer.withLock { $0 })
        #expect(response.status == 200)
        #expect(response.bodyText == #"{"slow":{"ok":true}}"#)
        #expect(stub.requests(forPath: "/slow") == 1)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_coalesced_calls_total{upstream="partner"}"#] == 1)
        // Only the waiter that left is logged as aborted.
        #expect(samples[#"fanout_client_aborts_total{route="GET /s",reason="\#(departure.rawValue)"}"#] == 1)
        #expect(waitUntil { server.accessLog.all.count == 2 })
        let aborted = #""status":499,"client_abort":"\#(departure.rawValue)""#
        #expect(server.accessLog.all.map { $0.contains(aborted) } == [true, false])
    }

    @Test func whenTheLastWaiterLeavesTheTransferIsCancelledAndTheNextCallStartsAfresh() throws {
        let (stub, server) = try Self.slowPartner()
        defer { stub.stop() }

        let leaver = try RawHTTPClient(port: server.port)
        try leaver.send("GET /s HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n")
        #expect(waitUntil(timeoutMs: 3_000) { stub.requests(forPath: "/slow") == 1 })
        leaver.reset()
        Thread.sleep(forTimeInterval: 0.1)
        // Had the abandoned transfer gone on, this identical request would have joined it.
        let response = try server.get("/s")
        #expect(response.status == 200)
        #expect(stub.requests(forPath: "/slow") == 2)
        let samples = try MetricsTests.scrape(server)
        #expect(samples[#"fanout_coalesced_calls_total{upstream="partner"}"#] == nil)
    }

    @Test func aLaterWaiterWithAShorterTimeoutTimesOutOnItsOwn() throws {
        let stub = try UpstreamStub(routes: ["/slow": .json(#"{"ok":true}"#, delayMs: 1_000)])
        defer { stub.stop() }
        // Same upstream call (same URL and headers) from two routes with different call timeouts.
        let server = try TestServer(
            """
            upstream partner { url {{stub}} }
            route GET /patient { call slow GET partner /slow timeout=5s optional }
            route GET /hurried { call slow GET partner /slow timeout=200ms optional }
            """, substitutions: ["stub": stub.baseURL])

        let patient = Mutex<RawHTTPResponse?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            defer { finished.signal() }
            if let response = try? server.get("/patient") { patient.withLock { $0 = response } }
        }.start()
        Thread.sleep(forTimeInterval: 0.1)
        let (hurried, hurriedMs) = try measureMs { try server.get("/hurried") }
        try #require(finished.wait(timeout: .now() + 10) == .success)

        // The hurried request joined the patient one's transfer, and left it on its own 200 ms timer.
        #expect(hurried.status == 200)
        #expect(hurried.header("X-Fanout-Complete") == "false")
        #expect(hurriedMs < 800, "took \(hurriedMs) ms")
        let answer = try #require(patient.withLock { $0 })
        #expect(answer.header("X-Fanout-Complete") == "true")
        #expect(answer.bodyText == #"{"slow":{"ok":true}}"#)
        #expect(stub.requests(forPath: "/slow") == 1)
    }

    @Test func coalesceOffSendsEveryCall() throws {
        let stub = try UpstreamStub(routes: ["/count": .json(#"{"n":1}"#, delayMs: 500)])
        defer { stub.stop() }
        let server = try TestServer(
            """
            upstream partner { url {{stub}}; coalesce off; }
            route GET /c { call count GET partner /count }
            """, substitutions: ["stub": stub.baseURL])

        let results = try Self.burst(port: server.port, path: "/c", clients: 5, requestsPerClient: 1)
        #expect(results.count == 5)
        #expect(results.allSatisfy { (try? $0.get().status) == 200 })
        #expect(stub.requests(forPath: "/count") == 5)
    }
}
