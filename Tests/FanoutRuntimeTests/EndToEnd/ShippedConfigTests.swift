import FanoutCore
import FanoutTestSupport
import Foundation
import Testing

/// The repository's own proxy.conf and the `fanout` executable, as a user runs them.
@Suite struct ShippedConfigTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var shippedConfig: String {
        get throws { try String(contentsOf: repositoryRoot.appendingPathComponent("proxy.conf"), encoding: .utf8) }
    }

    @Test func demoCombinesTheStandInsInAboutTheSlowestDelay() throws {
        // The demo calls fanout's own listener, so the port must be known before the config is parsed.
        let port = try freeTCPPort()
        let adminPort = try freeTCPPort()
        let server = try TestServer(
            try Self.shippedConfig,
            environment: ["FANOUT_PORT": "\(port)", "FANOUT_HOST": "127.0.0.1", "FANOUT_ADMIN": "\(adminPort)"])
        #expect(server.port == port)
        #expect(server.adminPort == adminPort)
        let (response, elapsed) = try measureMs { try server.get("/demo") }
        #expect(response.status == 200)
        // Stand-ins answer after 150, 300 and 100 ms: the sum is 550, the slowest 300.
        #expect(elapsed >= 290 && elapsed < 500, "took \(elapsed) ms")
        let body = try jsonObject(response)
        #expect(Set(body.keys) == ["profile", "orders", "score"])
        #expect((body["profile"] as? [String: Any])?["name"] as? String == "Ada Lovelace")
        #expect(response.header("X-Fanout-Complete") == "true")

        let partial = try server.get("/demo/partial")
        #expect(partial.status == 200)
        #expect(partial.header("X-Fanout-Complete") == "false")
        #expect(try jsonObject(partial)["stock"] is NSNull)

        #expect(try server.get("/demo/products/42").status == 200)

        // The admin listener the shipped file turns on (a bare port: loopback) counts what was served.
        #expect(try httpGet(port: adminPort, path: "/readyz").status == 200)
        let metrics = try httpGet(port: adminPort, path: "/metrics").bodyText
        #expect(metrics.contains(#"fanout_requests_total{route="GET /demo",status="200"} 1"#), "\(metrics)")

        // The stats example: the product list, then one stock call per product merged into it.
        let (stats, statsElapsed) = try measureMs { try server.get("/demo/stats") }
        #expect(stats.status == 200, "\(stats.bodyText)")
        #expect(statsElapsed >= 190 && statsElapsed < 600, "took \(statsElapsed) ms")
        let statsBody = try jsonObject(stats)
        let items = try #require(statsBody["items"] as? [[String: Any]])
        #expect(items.map { $0["sku"] as? String } == ["FAN-1", "FAN-2", "FAN-3"])
        for item in items {
            #expect(item["available"] as? Int == 12 && item["warehouse"] as? String == "Basel")
            #expect(item["cost_price"] == nil && item["supplier_ref"] == nil && item["bin"] == nil)
        }
        let chain = try jsonObject(try server.get("/demo/chain"))
        #expect((chain["tier"] as? [String: Any])?["free_shipping"] as? Bool == true)
        #expect(try server.get("/healthz").bodyText.contains("ok"))
    }

    @Test func checkAcceptsTheShippedConfigAndRejectsABrokenOne() throws {
        let ok = try run(["check", Self.repositoryRoot.appendingPathComponent("proxy.conf").path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("ok"))
        #expect(ok.stderr.isEmpty, "the shipped file should check without warnings")

        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-broken-\(getpid()).conf")
        try "listen 127.0.0.1:8080\nroute GET /x {\n    cal a GET http://127.0.0.1:1/a\n}\n".write(
            to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        let bad = try run(["check", broken.path])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\(broken.path):3:5:"), "\(bad.stderr)")
        #expect(bad.stderr.contains("call"), "\(bad.stderr)")
    }

    @Test func graphPrintsARoutesCallGraphAsMermaidOrDOT() throws {
        let file = Self.repositoryRoot.appendingPathComponent("proxy.conf").path
        let mermaid = try run(["graph", file, "/demo/chain"])
        #expect(mermaid.status == 0, "\(mermaid.stderr)")
        #expect(mermaid.stdout.hasPrefix("flowchart LR\n    subgraph r0[\"GET /demo/chain\"]\n"))
        #expect(mermaid.stdout.contains(#"r0_c0 -->|"{profile.tier}"| r0_c1"#))
        #expect(!mermaid.stdout.contains("r1_"))

        // Every route, as DOT: one cluster per route (the file's last route is GET /healthz).
        let dot = try run(["graph", "--format=dot", file])
        #expect(dot.status == 0, "\(dot.stderr)")
        #expect(dot.stdout.hasPrefix("digraph fanout {\n"))
        #expect(dot.stdout.contains(#"label="GET /demo/stats";"#))
        #expect(dot.stdout.contains(#"label="GET /healthz";"#))
        #expect(dot.stdout.hasSuffix("}\n"))

        let unknown = try run(["graph", file, "/demo/chian"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no route '/demo/chian'; did you mean '/demo/chain'?"), "\(unknown.stderr)")
        #expect(try run(["graph", file, "--format", "svg"]).status == 2)
        #expect(try run(["graph"]).status == 2)
    }

    @Test func checkAndServeWarnAboutAVariableSetButEmpty() throws {
        let port = try freeTCPPort()
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("fanout-empty-\(UUID().uuidString).conf")
        let text = "listen 127.0.0.1:\(port)\nroute GET /key {\n    respond 200 \"key=${FANOUT_TEST_KEY}\"\n"
        try (text + "    content_type text/plain\n}\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let warning = "\(file.path):3:22: warning: environment variable 'FANOUT_TEST_KEY' is set but empty"

        let check = try FanoutProcess(["check", file.path], environment: ["FANOUT_TEST_KEY": ""])
        #expect(check.waitForExit() == 0, "\(check.stderr)")
        #expect(check.stderr.contains(warning), "\(check.stderr)")
        #expect(check.stdout.contains("ok"))

        let serve = try FanoutProcess(["serve", "-c", file.path], environment: ["FANOUT_TEST_KEY": ""])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/key"), "\(serve.stderr)")
        #expect(serve.stderr.contains(warning), "\(serve.stderr)")
        #expect(try httpGet(port: port, path: "/key").bodyText == "key=")
    }

    @Test func versionAndHelp() throws {
        let version = try run(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("fanout "))
        let help = try run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("fanout check FILE"))
        #expect(try run(["frobnicate"]).status == 2)
    }

    @Test func servesAndStopsCleanlyOnSIGTERM() throws {
        let port = try freeTCPPort()
        let (process, stdout, stderr) = try launch(
            ["serve", "-c", Self.repositoryRoot.appendingPathComponent("proxy.conf").path],
            environment: ["FANOUT_PORT": "\(port)", "FANOUT_HOST": "127.0.0.1", "FANOUT_ADMIN": "off"])
        defer { reap(process) }
        #expect(
            waitUntil(timeoutMs: 5_000) { (try? httpGet(port: port, path: "/healthz", timeoutMs: 200))?.status == 200 })
        let demo = try httpGet(port: port, path: "/demo")
        #expect(demo.status == 200)
        kill(process.processIdentifier, SIGTERM)
        #expect(waitUntil(timeoutMs: 5_000) { !process.isRunning })
        #expect(process.terminationStatus == 0)
        let log = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // One JSON access-log line per request: /healthz probes, /demo and its three stand-in calls.
        let lines = log.split(separator: "\n")
        #expect(lines.contains { $0.contains(#""path":"/demo""#) && $0.contains(#""calls":[{"name":"profile""#) })
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(errors.contains("SIGTERM"))
        #expect(errors.contains("stopped"))
    }

    /// Starts the `fanout` executable with `arguments`, extra environment, and both outputs captured.
    private func launch(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (
        Process, Pipe, Pipe
    ) {
        let process = Process()
        process.executableURL = try FanoutProcess.executable()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        return (process, stdout, stderr)
    }

    /// Kills `process` if it still runs, then waits for it. `waitUntilExit()` is also what frees a
    /// Foundation `Process`: it holds its run-loop source, which retains the process, and only
    /// `waitUntilExit()` drops it (swift-corelibs-foundation `Process.swift`), so a process that is only
    /// polled with `isRunning` leaks (LeakSanitizer reports the cycle). SIGKILL keeps the wait bounded.
    private func reap(_ process: Process) {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let (process, stdout, stderr) = try launch(arguments)
        process.waitUntilExit()
        return (
            process.terminationStatus,
            String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }
}
