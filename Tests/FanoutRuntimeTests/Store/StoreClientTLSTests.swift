import FanoutCore
import FanoutTestSupport
import Glibc
import Testing

@testable import FanoutRuntime

/// ``StoreClient`` with `tls on` against a real `redis-server` listening with TLS only (`--port 0 --tls-port N`),
/// with a throwaway PKI (``TestCertificates``), on an `EventLoop` run on the test's thread.
@Suite(.serialized) struct StoreClientTLSTests {
    init() {
        // As the executable does (`cfanout_block_shutdown_signals`): a TLS write to a closed socket must not
        // kill the test process.
        signal(SIGPIPE, SIG_IGN)
    }

    private func settings(_ server: StoreServer, ca: String, client: TestCertificates? = nil) -> StoreSettings {
        var settings = StoreSettings(address: ListenAddress(host: "127.0.0.1", port: server.port))
        settings.commandTimeoutMs = 500
        settings.connectTimeoutMs = 1000
        settings.tls = true
        settings.tlsCA = ca
        settings.tlsCertificate = client?.clientCertificate
        settings.tlsKey = client?.clientKey
        return settings
    }

    @Test func pipelinesCommandsOverTLS() throws {
        let pki = try TestCertificates()
        let server = try StoreServer(tls: .init(certificates: pki, authClients: false))
        let loop = try EventLoop()
        let client = StoreClient(loop: loop, settings: settings(server, ca: pki.caCertificate), label: "store tls")
        defer { client.close() }
        var named = settings(server, ca: pki.caCertificate)
        named.tlsServerName = TestCertificates.serverName
        let byName = StoreClient(loop: loop, settings: named, label: "store tls by name")
        defer { byName.close() }
        #expect(loop.run { client.isAvailable && byName.isAvailable })

        // Larger than a TLS record (16 KiB) and than the client's read buffer: written and read in pieces.
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 300_000)
        var answers: [Int: Result<RESPValue, StoreFailure>] = [:]
        client.send(["SET", "k", "v"]) { answers[-1] = $0 }
        for i in 0..<200 { client.send(["INCR", "n"]) { answers[i] = $0 } }
        client.send(bytes: [Array("SET".utf8), Array("big".utf8), big]) { answers[-2] = $0 }
        client.send(["GET", "big"]) { answers[-3] = $0 }
        byName.send(["GET", "k"]) { answers[-4] = $0 }
        #expect(loop.run { answers.count == 204 })
        #expect(answers[-1] == .success(.simpleString("OK")))
        #expect((0..<200).allSatisfy { answers[$0] == .success(.integer($0 + 1)) })
        #expect(answers[-2] == .success(.simpleString("OK")))
        #expect(answers[-3] == .success(.bulkString(big)))
        #expect(answers[-4] == .success(.bulkString(Array("v".utf8))))
        #expect(client.counters.roundTrips == 203)
        #expect(client.counters.stateChanges == ["connected": 1])
    }

    @Test func aServerItCannotVerifyIsUnavailable() throws {
        let pki = try TestCertificates()
        let other = try TestCertificates()
        let server = try StoreServer(tls: .init(certificates: pki, authClients: false))
        let loop = try EventLoop()
        let wrongCA = StoreClient(
            loop: loop, settings: settings(server, ca: other.caCertificate), label: "store tls wrong CA")
        defer { wrongCA.close() }
        var misnamed = settings(server, ca: pki.caCertificate)
        misnamed.tlsServerName = "other.test"
        let wrongName = StoreClient(loop: loop, settings: misnamed, label: "store tls wrong name")
        defer { wrongName.close() }
        let missing = StoreClient(
            loop: loop, settings: settings(server, ca: pki.directory + "/absent.pem"), label: "store tls no CA file")
        defer { missing.close() }
        let clients = [wrongCA, wrongName, missing]
        #expect(loop.run { clients.allSatisfy { $0.counters.stateChanges["unavailable"] == 1 } })
        #expect(wrongCA.lastUnavailableReason?.hasPrefix("TLS handshake: certificate verify failed") == true)
        #expect(wrongName.lastUnavailableReason == "TLS handshake: certificate verify failed: hostname mismatch")
        #expect(missing.lastUnavailableReason?.hasPrefix("TLS: tls_ca \(pki.directory)/absent.pem: ") == true)
        // Still refused after more attempts (each attempt fails the same way; logged once).
        #expect(!loop.run(timeoutMs: 300) { clients.contains { $0.isAvailable } })
        for client in clients {
            var answer: Result<RESPValue, StoreFailure>?
            client.send(["PING"]) { answer = $0 }
            #expect(answer == .failure(.unavailable))
            #expect(client.counters.stateChanges == ["unavailable": 1])
        }
    }

    @Test func presentsAClientCertificateForMutualTLS() throws {
        let pki = try TestCertificates()
        let server = try StoreServer(tls: .init(certificates: pki, authClients: true))
        let loop = try EventLoop()
        let client = StoreClient(
            loop: loop, settings: settings(server, ca: pki.caCertificate, client: pki), label: "store mTLS")
        defer { client.close() }
        let anonymous = StoreClient(
            loop: loop, settings: settings(server, ca: pki.caCertificate), label: "store mTLS without a certificate")
        defer { anonymous.close() }
        #expect(loop.run { client.isAvailable && anonymous.counters.stateChanges["unavailable"] == 1 })
        var answer: Result<RESPValue, StoreFailure>?
        client.send(["PING"]) { answer = $0 }
        #expect(loop.run { answer != nil })
        #expect(answer == .success(.simpleString("PONG")))
        // TLS 1.3 ends the client's handshake before the server checks its certificate: the refusal comes with
        // the first answer, before the connection is called ready (no flapping, one log line).
        #expect(!loop.run(timeoutMs: 300) { anonymous.isAvailable })
        #expect(anonymous.counters.stateChanges == ["unavailable": 1])
        #expect(
            anonymous.lastUnavailableReason?.hasSuffix("does it require a client certificate (tls_cert)?") == true,
            "\(anonymous.lastUnavailableReason ?? "")")
    }

    /// A command larger than the socket's buffer blocks the write: the rest goes out when the socket is writable,
    /// and then the loop stops watching for it (the loop is level-triggered: a write interest left on would
    /// wake it at once, forever). With and without TLS.
    @Test(arguments: [false, true])
    func aBlockedWriteLeavesTheLoopIdleOnceFlushed(tls: Bool) throws {
        let pki = try TestCertificates()
        let server = try StoreServer(tls: tls ? .init(certificates: pki, authClients: false) : nil)
        let loop = try EventLoop()
        var settings = settings(server, ca: pki.caCertificate)
        settings.tls = tls
        if !tls { settings.tlsCA = nil }
        let client = StoreClient(loop: loop, settings: settings, label: "store big write")
        defer { client.close() }
        #expect(loop.run { client.isAvailable })
        let big = [UInt8](repeating: UInt8(ascii: "y"), count: 32 << 20)
        var answer: Result<RESPValue, StoreFailure>?
        client.send(bytes: [Array("SET".utf8), Array("big".utf8), big], budget: .seconds(10)) { answer = $0 }
        #expect(loop.run(timeoutMs: 10_000) { answer != nil })
        #expect(answer == .success(.simpleString("OK")))
        let before = Self.threadCPUNanoseconds()
        loop.run(timeoutMs: 300) { false }
        let busyMs = (Self.threadCPUNanoseconds() - before) / 1_000_000
        #expect(busyMs < 50, "the loop thread used \(busyMs) ms of CPU in 300 ms with nothing to do")
    }

    private static func threadCPUNanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return time.tv_sec * 1_000_000_000 + time.tv_nsec
    }
}
