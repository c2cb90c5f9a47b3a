import FanoutCore
import FanoutTestSupport
import Glibc
import Testing

@testable import FanoutRuntime

/// Issue 15: what a reused easy handle keeps between transfers (a prebuilt URL, header lines rewritten in
/// place, options set only when they change) never leaks into the next request, and a keep-alive transfer
/// costs no `epoll_ctl`. One real loop, one real client, a real partner on loopback.
@Suite struct UpstreamClientReuseTests {
    struct Call {
        var method = "GET"
        var path: String
        var headers: [String] = []
        var body: [UInt8]? = nil
        var fixed = true
    }

    typealias Answer = (status: Int, body: String, control: Int, contentType: String?)

    /// Runs `calls` one after the other on a fresh loop and client; returns each answer's status, body and
    /// `Content-Type`, and the loop's `epoll_ctl` count when each completed.
    static func run(_ calls: [Call], against stub: UpstreamStub) throws -> [Answer] {
        let loop = try EventLoop()
        let client = try #require(UpstreamClient(loop: loop))
        let slot = AdmissionSlot(raw: 0)
        client.setLimits([.init(slot: slot, upstreamName: "stub", limit: 4, queueLimit: nil, breaker: nil)])
        var results: [Answer] = []
        var numbers = FixedURLNumbers()
        func start(_ index: Int) {
            let call = calls[index]
            let request = UpstreamRequest(
                message: UpstreamMessage(
                    method: call.method, url: stub.baseURL + call.path,
                    fixedURLNumber: call.fixed ? numbers.number(for: call.path) : nil, headers: call.headers,
                    body: call.body),
                policy: CallPolicy(
                    upstreamName: "stub", slot: slot, connectTimeoutMs: 2_000, timeoutMs: 5_000,
                    deadline: loop.now &+ 5_000_000_000, maxResponseBytes: 1 << 20, captureHeaders: false,
                    mustNotRepeat: call.method == "POST"))
            client.start(request) { result in
                switch result.outcome {
                case .success(let answer):
                    let body = String(decoding: answer.body, as: UTF8.self)
                    results.append((answer.status, body, loop.controlCalls, answer.contentType))
                case .failure(let failure):
                    results.append((-1, "\(failure)", loop.controlCalls, nil))
                }
                if index + 1 < calls.count { start(index + 1) } else { loop.requestStop() }
            }
        }
        start(0)
        loop.schedule(afterMilliseconds: 10_000) { [weak loop] in loop?.requestStop() }  // never hang the run
        loop.run()
        client.close()
        return results
    }

    static func stub() throws -> UpstreamStub {
        try UpstreamStub(routes: ["/a": .json(#"{"a":1}"#), "/b": .json(#"{"b":2}"#)])
    }

    /// Prebuilt and string URLs alternate on the same handles, header lists grow, shrink and change length,
    /// and a POST's state does not stay on the handle for the GET after it.
    @Test func aReusedHandleSendsExactlyEachRequest() throws {
        let stub = try Self.stub()
        defer { stub.stop() }
        let calls = [
            Call(path: "/a", headers: ["X-Id: 1111", "X-Chain: a"]),
            Call(path: "/b", headers: ["X-Id: 2222", "X-Chain: a, b"]),
            Call(method: "POST", path: "/a", headers: ["X-Id: 3333"], body: Array("x=1".utf8), fixed: false),
            Call(path: "/a", headers: ["X-Id: 4444", "X-Chain: a", "X-Extra: e"]),
            Call(path: "/b", fixed: false),
            Call(path: "/a", headers: ["X-Id: 6666"]),
        ]
        let results = try Self.run(calls, against: stub)
        #expect(results.map(\.status) == [200, 200, 200, 200, 200, 200])
        #expect(results.map(\.body) == [#"{"a":1}"#, #"{"b":2}"#, #"{"a":1}"#, #"{"a":1}"#, #"{"b":2}"#, #"{"a":1}"#])
        let received = stub.receivedRequests
        try #require(received.count == calls.count)
        for (call, request) in zip(calls, received) {
            #expect(request.method == call.method)
            #expect(request.target == call.path)
            let custom = request.headers.filter { $0.0.hasPrefix("X-") }.map { "\($0.0): \($0.1)" }
            #expect(custom == call.headers, "\(call.method) \(call.path)")
            #expect(!request.headers.contains { $0.0.lowercased() == "expect" })
            #expect(request.body == (call.body ?? []))
        }
    }

    /// A handle keeps its last `Content-Type` to reuse an equal one: each answer still gets its own, whether it
    /// repeats, changes length, differs only in case, is empty, or is missing.
    @Test func eachAnswerGetsItsOwnContentType() throws {
        func answer(_ contentType: String?) -> UpstreamStub.Behavior {
            .respond(headers: contentType.map { [("Content-Type", $0)] } ?? [], body: Array("{}".utf8))
        }
        let types: [String?] = [
            "application/json", "application/json", "text/plain", "application/JSON", "", nil, "application/json",
        ]
        var routes: [String: UpstreamStub.Behavior] = [:]
        for (index, type) in types.enumerated() { routes["/t\(index)"] = answer(type) }
        let stub = try UpstreamStub(routes: routes)
        defer { stub.stop() }
        let results = try Self.run(types.indices.map { Call(path: "/t\($0)") }, against: stub)
        #expect(results.map(\.status) == Array(repeating: 200, count: types.count))
        #expect(results.map(\.contentType) == types)
        #expect(stub.connectionsAccepted == 1)  // one handle, one connection: every answer went through the reuse
    }

    /// Lazy deregistration folded with the idle-connection watch: once its connection is open, a keep-alive
    /// GET makes no `epoll_ctl` at all (before: three per transfer).
    @Test(arguments: [true, false])
    func keepAliveTransfersMakeNoEpollControlCalls(fixedURL: Bool) throws {
        let stub = try Self.stub()
        defer { stub.stop() }
        let calls = (0..<6).map { Call(path: $0 % 2 == 0 ? "/a" : "/b", headers: ["X-Id: \($0)"], fixed: fixedURL) }
        let results = try Self.run(calls, against: stub)
        #expect(results.map(\.status) == Array(repeating: 200, count: 6))
        #expect(stub.connectionsAccepted == 1)
        let counts = results.map(\.control)
        #expect(counts.allSatisfy { $0 == counts[0] }, "epoll_ctl calls after each transfer: \(counts)")
    }

    /// Connection use is counted per upstream name as the transfers carry it: by admission slot, and by name
    /// for a transfer whose name is not its slot's. Keep-alive, one after the other: one connection opened.
    @Test func connectionUseIsCountedPerUpstreamName() throws {
        let stub = try Self.stub()
        defer { stub.stop() }
        let loop = try EventLoop()
        let client = try #require(UpstreamClient(loop: loop))
        let one = AdmissionSlot(raw: 0)
        let two = AdmissionSlot(raw: 1)
        client.setLimits([
            .init(slot: one, upstreamName: "one", limit: 4, queueLimit: nil, breaker: nil),
            .init(slot: two, upstreamName: "two", limit: 4, queueLimit: nil, breaker: nil),
        ])
        let calls: [(name: String, slot: AdmissionSlot)] = [("one", one), ("two", two), ("one", one), ("other", one)]
        var statuses: [Int] = []
        func start(_ index: Int) {
            let request = UpstreamRequest(
                message: UpstreamMessage(method: "GET", url: stub.baseURL + "/a", headers: [], body: nil),
                policy: CallPolicy(
                    upstreamName: calls[index].name, slot: calls[index].slot, connectTimeoutMs: 2_000,
                    timeoutMs: 5_000, deadline: loop.now &+ 5_000_000_000, maxResponseBytes: 1 << 20,
                    captureHeaders: false, mustNotRepeat: false))
            client.start(request) { result in
                statuses.append((try? result.outcome.get().status) ?? -1)
                if index + 1 < calls.count { start(index + 1) } else { loop.requestStop() }
            }
        }
        start(0)
        loop.schedule(afterMilliseconds: 10_000) { [weak loop] in loop?.requestStop() }  // never hang the run
        loop.run()
        #expect(statuses == [200, 200, 200, 200])
        #expect(
            client.connectionUse == [
                "one": .init(opened: 1, reused: 1), "two": .init(opened: 0, reused: 1),
                "other": .init(opened: 0, reused: 1),
            ])
        client.close()
    }

    /// The overrun check and the idle watch learn a completed transfer's connection from the socket and close
    /// callbacks, not from CURLINFO_ACTIVESOCKET (a walk over libcurl's whole connection cache): a kept
    /// connection is watched when idle, and one libcurl closed after an answer longer than its Content-Length
    /// still reads as the overrun. The partner answers 200 ms after each request, so libcurl has asked to read
    /// the connection by then (an answer in the call that sent the request leaves libcurl to be asked).
    @Test func completedConnectionsAreKnownWithoutAskingLibcurl() throws {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
        let stub = try UpstreamStub(routes: [
            "/a": .json(#"{"a":1}"#, delayMs: 200),
            "/over": .raw(Array((head + #"{"a":1}{"b":2}"#).utf8), delayMs: 200),
        ])
        defer { stub.stop() }
        let loop = try EventLoop()
        let client = try #require(UpstreamClient(loop: loop))
        let slot = AdmissionSlot(raw: 0)
        client.setLimits([.init(slot: slot, upstreamName: "stub", limit: 4, queueLimit: nil, breaker: nil)])
        let paths = ["/a", "/a", "/over", "/a"]
        var outcomes: [String] = []
        var idleAfter: [Int] = []
        func start(_ index: Int) {
            let request = UpstreamRequest(
                message: UpstreamMessage(method: "GET", url: stub.baseURL + paths[index], headers: [], body: nil),
                policy: CallPolicy(
                    upstreamName: "stub", slot: slot, connectTimeoutMs: 2_000, timeoutMs: 10_000,
                    deadline: loop.now &+ 10_000_000_000, maxResponseBytes: 1 << 20, captureHeaders: false,
                    mustNotRepeat: false))
            client.start(request) { result in
                switch result.outcome {
                case .success(let answer): outcomes.append("\(answer.status)")
                case .failure(let failure): outcomes.append("\(failure)")
                }
                idleAfter.append(client.socketStates.count { $0.contains(.idle) })
                if index + 1 < paths.count { start(index + 1) } else { loop.requestStop() }
            }
        }
        start(0)
        loop.schedule(afterMilliseconds: 20_000) { [weak loop] in loop?.requestStop() }  // never hang the run
        loop.run()
        client.close()
        try #require(outcomes.count == paths.count, "\(outcomes)")
        #expect(outcomes[0] == "200" && outcomes[1] == "200" && outcomes[3] == "200", "\(outcomes)")
        #expect(outcomes[2].contains("longer than its Content-Length of 7 bytes"), "\(outcomes[2])")
        // Kept connections are watched while idle; the overrun's connection is gone, not watched.
        #expect(idleAfter == [1, 1, 0, 1])
        #expect(stub.connectionsAccepted == 2)
        #expect(client.activeSocketLookups == 0)
    }
}
