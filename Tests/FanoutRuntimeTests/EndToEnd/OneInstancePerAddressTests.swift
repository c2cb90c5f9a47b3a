import FanoutCore
import FanoutRuntime
import FanoutTestSupport
import Foundation
import Testing

/// A second fanout on an address a running one listens on fails to start with `address in use` and exit
/// status 1, instead of silently taking about half of the connections with its own configuration; the
/// workers of one fanout still share their addresses, and `--reuse-port` shares them on purpose.
@Suite struct OneInstancePerAddressTests {
    /// Which of the running server's addresses the second one asks for.
    enum Taken: String, CaseIterable, CustomTestStringConvertible {
        case main, admin, both
        var testDescription: String { rawValue }
    }

    /// A route that answers at once, and the worker that answered it (its `X-Request-Id` is
    /// `prefix-worker-counter`, the prefix random per worker).
    static let config = """
        workers 2
        admin_listen 127.0.0.1:0
        route GET /who {
            respond 200 `{}`
        }
        """

    @Test(arguments: Taken.allCases)
    func aSecondExecutableOnATakenAddressExitsOneNamingIt(_ taken: Taken) throws {
        let first = try TestServer(Self.config)
        let listen = taken == .admin ? try freeTCPPort() : first.port
        let admin = taken == .main ? try freeTCPPort() : first.adminPort
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-second-\(UUID().uuidString).conf")
        try "listen 127.0.0.1:\(listen)\nadmin_listen 127.0.0.1:\(admin)\nworkers 2\n".write(
            to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let second = try FanoutProcess(["serve", "-c", file.path])
        #expect(second.waitForExit(timeoutMs: 10_000) == 1, "\(second.stderr)")
        let stderr = second.stderr
        #expect(stderr.contains("fanout: listen 127.0.0.1:\(listen): address in use") == (taken != .admin), "\(stderr)")
        #expect(stderr.contains("admin_listen 127.0.0.1:\(admin): address in use") == (taken != .main), "\(stderr)")
        #expect(!stderr.contains("serving"), "\(stderr)")
        // The first one keeps every connection: 20 in a row, all answered by its own workers.
        let firstWorkers = try Set((0..<20).map { _ in try Self.answeringWorker(port: first.port) })
        #expect(firstWorkers.count == 2, "\(firstWorkers)")
        #expect(try httpGet(port: first.adminPort, path: "/healthz").status == 200)
    }

    @Test func theWorkersOfOneServerShareItsAddress() throws {
        let server = try TestServer(Self.config)
        // The kernel hashes each new connection to one worker's socket: 40 connections all landing on one of
        // two workers has a probability of 2^-39.
        let workers = try Set((0..<40).map { _ in try Self.answeringWorker(port: server.port) })
        #expect(workers.count == 2, "\(workers)")
    }

    @Test func reusePortJoinsTheRunningServerOnPurpose() throws {
        let first = try TestServer(Self.config)
        let config = try ConfigParser.parse(
            "listen 127.0.0.1:\(first.port)\nadmin_listen 127.0.0.1:\(first.adminPort)\nworkers 1\n"
                + "route GET /who {\n    respond 200 `{}`\n}\n",
            file: "second.conf", environment: [:])
        let second = FanoutServer(config: config, accessLog: nil, reusePort: true)
        try second.start()
        defer { second.shutdown(graceMs: 0) }
        #expect(second.ports == [first.port] && second.adminPort == first.adminPort)
        // Three workers (two in the first server, one in the second) now share the address.
        let workers = try Set((0..<60).map { _ in try Self.answeringWorker(port: first.port) })
        #expect(workers.count == 3, "\(workers)")

        // Without the opt-in, a third still fails, naming both addresses.
        let third = FanoutServer(config: config, accessLog: nil)
        #expect {
            try third.start()
        } throws: { error in
            let text = "\(error)"
            return text.contains("listen 127.0.0.1:\(first.port): address in use")
                && text.contains("admin_listen 127.0.0.1:\(first.adminPort): address in use")
        }
    }

    /// The answering worker's id (`prefix-index`) for one `GET /who` on a new connection.
    static func answeringWorker(port: UInt16) throws -> String {
        let response = try httpGet(port: port, path: "/who")
        let id = try #require(response.header("X-Request-Id"), "\(response.status)")
        return id.split(separator: "-").dropLast().joined(separator: "-")
    }
}
