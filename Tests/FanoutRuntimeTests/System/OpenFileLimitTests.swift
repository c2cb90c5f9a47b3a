import FanoutTestSupport
import Foundation
import Glibc
import Testing

@testable import FanoutRuntime

@Suite struct OpenFileLimitTests {
    @Test func theExecutableRaisesItsSoftLimitToTheHardOne() throws {
        var own = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &own) == 0)
        let hard = own.rlim_max == rlim_t.max ? "unlimited" : String(own.rlim_max)
        let port = try freeTCPPort()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-nofile-\(UUID().uuidString).conf")
        try """
        listen 127.0.0.1:\(port)
        workers 1
        access_log off
        route GET /ready {
            respond 200 `{"ready":true}`
        }
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        // Started with a soft limit of 256 (prlimit execs fanout in its own process).
        let fanout = try FanoutProcess(
            ["serve", "-c", file.path], wrapper: ["/usr/bin/prlimit", "--nofile=256:\(hard)"])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/ready"), "\(fanout.stderr)")
        let limits = try String(contentsOfFile: "/proc/\(fanout.pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // "Max open files  SOFT  HARD  files"
        #expect(fields[3] == fields[4], "\(line)")
        #expect(String(fields[4]) == hard)
        fanout.send(SIGTERM)
        #expect(fanout.waitForExit() == 0)
    }

    @Test func warnsOnlyWhenTheLimitCannotHoldTheConnectionCap() {
        let low = OpenFileLimit.warning(limit: 1024, clientConnections: 16_384, upstreamConnections: 128)
        #expect(low?.contains("max_client_connections 16384") == true)
        #expect(OpenFileLimit.warning(limit: 20_000, clientConnections: 16_384, upstreamConnections: 128) == nil)
        #expect(OpenFileLimit.warning(limit: 1024, clientConnections: 500, upstreamConnections: 1000) != nil)
        #expect(OpenFileLimit.warning(limit: 1024, clientConnections: 500, upstreamConnections: 128) == nil)
    }
}
