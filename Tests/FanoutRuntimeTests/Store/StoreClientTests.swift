import FanoutCore
import FanoutTestSupport
import Testing

@testable import FanoutRuntime

/// ``StoreClient`` against a real `redis-server` (and `valkey-server` when installed), on an `EventLoop` run on
/// the test's thread.
@Suite(.serialized) struct StoreClientTests {
    private func settings(_ server: StoreServer) -> StoreSettings {
        var settings = StoreSettings(address: ListenAddress(host: "127.0.0.1", port: server.port))
        settings.commandTimeoutMs = 200
        return settings
    }

    @Test func pipelinesCommandsAndAnswersThemInOrder() throws {
        let server = try StoreServer()
        let loop = try EventLoop()
        let client = StoreClient(loop: loop, settings: settings(server), label: "store test")
        defer { client.close() }
        #expect(loop.run { client.isAvailable })
        var answers: [Int: Result<RESPValue, StoreFailure>] = [:]
        client.send(["SET", "k", "v"]) { answers[-1] = $0 }
        for i in 0..<200 { client.send(["INCR", "n"]) { answers[i] = $0 } }
        client.send(["GET", "k"]) { answers[-2] = $0 }
        client.send(["GET", "missing"]) { answers[-3] = $0 }
        client.send(["LPUSH", "k", "x"]) { answers[-4] = $0 }
        #expect(loop.run { answers.count == 204 })
        #expect(answers[-1] == .success(.simpleString("OK")))
        #expect((0..<200).allSatisfy { answers[$0] == .success(.integer($0 + 1)) })
        #expect(answers[-2] == .success(.bulkString(Array("v".utf8))))
        #expect(answers[-3] == .success(.null))
        guard case .failure(.errorReply(let message)) = answers[-4] else {
            Issue.record("expected an error reply, got \(String(describing: answers[-4]))")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect(client.counters.roundTrips == 204)
        #expect(client.counters.stateChanges == ["connected": 1])
    }

    @Test func authenticatesAndSelectsTheDatabase() throws {
        let server = try StoreServer(password: "s3cret")
        let loop = try EventLoop()
        var wrong = settings(server)
        wrong.password = "nope"
        let refused = StoreClient(loop: loop, settings: wrong, label: "store wrong password")
        defer { refused.close() }
        var good = settings(server)
        good.password = "s3cret"
        good.database = 3
        let client = StoreClient(loop: loop, settings: good, label: "store db 3")
        defer { client.close() }
        #expect(loop.run { client.isAvailable && refused.counters.stateChanges["unavailable"] == 1 })
        #expect(!refused.isAvailable)
        var set: Result<RESPValue, StoreFailure>?
        client.send(["SET", "in3", "yes"]) { set = $0 }
        #expect(loop.run { set != nil })
        #expect(set == .success(.simpleString("OK")))
        let db0Size = try server.command(["DBSIZE"])
        #expect(db0Size == ":0\r\n")
        var refusedAnswer: Result<RESPValue, StoreFailure>?
        refused.send(["GET", "in3"]) { refusedAnswer = $0 }
        #expect(refusedAnswer == .failure(.unavailable))
    }

    @Test func aStoreKilledAndRestartedIsUsedAgainWithinASecond() throws {
        let server = try StoreServer()
        let loop = try EventLoop()
        let client = StoreClient(loop: loop, settings: settings(server), label: "store restart")
        defer { client.close() }
        #expect(loop.run { client.isAvailable })
        server.stop()
        var answer: Result<RESPValue, StoreFailure>?
        var again: Result<RESPValue, StoreFailure>?
        // A completion that sends again while the connection is being dropped is refused, not queued for the
        // next connection.
        client.send(["GET", "k"]) {
            answer = $0
            client.send(["GET", "k"]) { again = $0 }
        }
        #expect(loop.run { answer != nil && again != nil })
        #expect(answer == .failure(.connectionLost) || answer == .failure(.timedOut))
        #expect(again == .failure(.unavailable) || again == .failure(.connectionLost))
        #expect(loop.run { !client.isAvailable })
        // Down: refused at once, nothing waits.
        var refused: Result<RESPValue, StoreFailure>?
        client.send(["GET", "k"]) { refused = $0 }
        #expect(refused == .failure(.unavailable))
        try server.start()
        loop.refreshNow()
        let restarted = loop.now
        #expect(loop.run { client.isAvailable })
        loop.refreshNow()
        #expect(loop.now - restarted < 1_000_000_000)
        var after: Result<RESPValue, StoreFailure>?
        client.send(["PING"]) { after = $0 }
        #expect(loop.run { after != nil })
        #expect(after == .success(.simpleString("PONG")))
        #expect(client.counters.stateChanges == ["connected": 1, "unavailable": 1, "reconnected": 1])
    }

    @Test func aFrozenStoreCostsACommandItsBudgetOnly() throws {
        let server = try StoreServer()
        let loop = try EventLoop()
        var tight = settings(server)
        tight.connectTimeoutMs = 300
        let client = StoreClient(loop: loop, settings: tight, label: "store frozen")
        defer { client.close() }
        #expect(loop.run { client.isAvailable })
        server.pause()
        defer { server.resume() }
        loop.refreshNow()
        let sent = loop.now
        var answer: Result<RESPValue, StoreFailure>?
        var answeredAt: UInt64 = 0
        client.send(["GET", "k"], budget: .milliseconds(5)) {
            answer = $0
            answeredAt = loop.now
        }
        #expect(loop.run { answer != nil })
        #expect(answer == .failure(.timedOut))
        #expect(answeredAt - sent < 50_000_000)
        // Still no answer after connect_timeout: the connection is dropped and tried again.
        for _ in 0..<40 {
            client.send(["GET", "k"], budget: .milliseconds(10)) { _ in }
            loop.run(timeoutMs: 15) { false }
        }
        #expect(client.counters.stateChanges["unavailable"] == 1)
        server.resume()
        #expect(loop.run { client.isAvailable })
    }

    @Test func deliversPublishedMessagesToASubscriber() throws {
        let server = try StoreServer()
        let loop = try EventLoop()
        let client = StoreClient(loop: loop, settings: settings(server), label: "store pubsub")
        defer { client.close() }
        var messages: [String] = []
        client.subscribe(channel: "fanout:events") { messages.append(String(decoding: $0, as: UTF8.self)) }
        #expect(loop.run { client.isAvailable })
        // One PUBLISH at a time until one reaches the subscriber: a message published before the subscription
        // took effect reaches nobody (0 receivers), and exactly one reaches it.
        var receivers: Result<RESPValue, StoreFailure>?
        var publishing = false
        #expect(
            loop.run {
                if receivers == .success(.integer(1)) { return true }
                if !publishing {
                    publishing = true
                    client.send(["PUBLISH", "fanout:events", "breaker open"]) {
                        receivers = $0
                        publishing = false
                    }
                }
                return false
            })
        #expect(loop.run { messages == ["breaker open"] })
    }

    @Test(.enabled(if: StoreServer.isInstalled("valkey-server")))
    func worksWithValkey() throws {
        let server = try StoreServer(executable: "valkey-server")
        let loop = try EventLoop()
        let client = StoreClient(loop: loop, settings: settings(server), label: "valkey")
        defer { client.close() }
        #expect(loop.run { client.isAvailable })
        var answers: [Result<RESPValue, StoreFailure>] = []
        client.send(["SET", "k", "v", "PX", "1000", "NX"]) { answers.append($0) }
        client.send(["SET", "k", "w", "PX", "1000", "NX"]) { answers.append($0) }
        client.send(["GET", "k"]) { answers.append($0) }
        #expect(loop.run { answers.count == 3 })
        #expect(answers == [.success(.simpleString("OK")), .success(.null), .success(.bulkString([118]))])
    }
}
