import FanoutCore
import FanoutRuntime
import FanoutTestSupport
import Foundation
import Synchronization

/// Collects access-log lines in memory so tests can assert on them.
final class CollectingAccessLog: AccessLogSink, @unchecked Sendable {
    private let lines = Mutex<[String]>([])

    func write(_ line: [UInt8]) {
        let text = String(decoding: line, as: UTF8.self)
        lines.withLock { $0.append(text) }
    }

    var all: [String] { lines.withLock { $0 } }
}

/// A real fanout server on 127.0.0.1 with a kernel-chosen port, started from config text.
final class TestServer: @unchecked Sendable {
    let server: FanoutServer
    let accessLog = CollectingAccessLog()
    var port: UInt16 { server.ports[0] }
    /// The admin listener's port; the config must set `admin_listen`.
    var adminPort: UInt16 { server.adminPort ?? 0 }

    /// `config` may use `{{name}}` placeholders, replaced by `substitutions` (e.g. stub base URLs).
    init(_ config: String, substitutions: [String: String] = [:], environment: [String: String] = [:]) throws {
        let parsed = try Self.parse(config, substitutions: substitutions, environment: environment)
        server = FanoutServer(config: parsed, accessLog: accessLog)
        try server.start()
    }

    /// Installs `config` (same placeholders and defaults as `init`) while serving; returns once every worker has it.
    @discardableResult
    func reload(_ config: String, substitutions: [String: String] = [:], environment: [String: String] = [:]) throws
        -> ReloadSummary
    {
        server.reload(try Self.parse(config, substitutions: substitutions, environment: environment))
    }

    private static func parse(_ config: String, substitutions: [String: String], environment: [String: String]) throws
        -> FanoutConfig
    {
        var text = config
        for (key, value) in substitutions { text = text.replacingOccurrences(of: "{{\(key)}}", with: value) }
        let lines = text.split(separator: "\n").map { $0.drop(while: { $0 == " " }) }
        // `admin_listen` is not `listen`: only a line starting with the directive counts.
        if !lines.contains(where: { $0.hasPrefix("listen ") }) { text = "listen 127.0.0.1:0\n" + text }
        if !lines.contains(where: { $0.hasPrefix("workers ") }) { text = "workers 1\n" + text }
        // What `fanout serve` allows: the loaded libcurl's capabilities (7.88.1 or 8.x, scripts/test-libcurl8.sh).
        return try ConfigParser.parse(
            text, file: "test.conf", environment: environment, libcurl: LibcurlVersion.current().capabilities)
    }

    deinit {
        server.shutdown(graceMs: 1_000)
    }

    func get(_ path: String, headers: [(String, String)] = [], timeoutMs: Int = 5_000) throws -> RawHTTPResponse {
        try httpGet(port: port, path: path, headers: headers, timeoutMs: timeoutMs)
    }
}

/// Milliseconds taken by `body`.
func measureMs<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let value = try body()
    let elapsed = ContinuousClock.now - start
    return (value, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
}

/// Calls `send` every 50 ms, for up to 3 s, until it throws. A client that does not read learns only this way that
/// fanout closed its connection: a byte sent after the close draws a reset, and the send after that fails.
/// Returns whether the connection was closed, and after how many milliseconds.
func sendUntilClosed(_ send: () throws -> Void) -> (closed: Bool, elapsedMs: Double) {
    measureMs {
        for _ in 0..<60 {
            usleep(50_000)
            do {
                try send()
            } catch {
                return true
            }
        }
        return false
    }
}

/// Parses a JSON body into a dictionary (tests only; fanout itself never builds a tree).
func jsonObject(_ response: RawHTTPResponse) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
        throw TestSupportError(kind: .malformed, call: "jsonObject", detail: response.bodyText)
    }
    return object
}

/// Polls `condition` every 5 ms for up to `timeoutMs`.
func waitUntil(timeoutMs: Int = 2_000, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        usleep(5_000)
    }
    return true
}
