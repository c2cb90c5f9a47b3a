import FanoutTestSupport
import Foundation
import Testing

/// Debian's headless Chromium, run as a child process against a page; stdout and stderr go to files.
enum Chromium {
    /// The `chromium` executable, or nil when it is not installed (`apt-get install chromium`; `.ci/run`
    /// installs it where it is missing).
    static let path: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories + ["/usr/bin", "/usr/local/bin"] {
            let candidate = directory + "/chromium"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// What one run printed.
    struct Output {
        var stdout: String
        var stderr: String
    }

    /// Runs `chromium --headless … ARGUMENTS URL` with a profile of its own (parallel runs do not share one),
    /// killed after `timeoutMs`.
    static func run(_ arguments: [String], url: String, timeoutMs: Int = 30_000) throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(path))
        process.arguments =
            [
                "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--hide-scrollbars",
                "--user-data-dir=\(directory.appendingPathComponent("profile").path)",
            ] + arguments + [url]
        process.environment = ProcessInfo.processInfo.environment.merging(["HOME": directory.path]) { _, new in new }
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        if !waitUntil(timeoutMs: timeoutMs, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("chromium did not finish within \(timeoutMs) ms")
        }
        process.waitUntilExit()
        return Output(
            stdout: FileContents.bytes(atPath: stdoutURL.path).map { String(decoding: $0, as: UTF8.self) } ?? "",
            stderr: FileContents.bytes(atPath: stderrURL.path).map { String(decoding: $0, as: UTF8.self) } ?? "")
    }
}

/// The admin listener's status page in a real browser: Chromium loads `/`, the page's script polls
/// `/status.json`, and the DOM it builds shows the figures of the running fanout.
@Suite struct StatusPageTests {
    static let config = """
        workers 1
        admin_listen 127.0.0.1:0
        upstream accounts {
            url {{stub}}
            header Authorization "Bearer do-not-show"
        }
        upstream billing {
            url {{stub}}/v2
            breaker 2 60s
        }
        route GET /overview {
            deadline 2s
            call user GET accounts /user
            call invoices GET billing /invoices optional
        }
        route GET /billing {
            call invoices GET billing /invoices
        }
        """

    /// The `<tr …>…</tr>` whose opening tag is `opening`, in a DOM dump.
    static func row(_ dom: String, _ opening: String) -> String? {
        guard let start = dom.range(of: opening) else { return nil }
        guard let end = dom.range(of: "</tr>", range: start.upperBound..<dom.endIndex) else { return nil }
        return String(dom[start.lowerBound..<end.upperBound])
    }

    /// The text of the element with `data-figure="NAME"` in `html` (its first text run).
    static func figure(_ html: String?, _ name: String) -> String? {
        guard let html, let start = html.range(of: "data-figure=\"\(name)\">") else { return nil }
        let rest = html[start.upperBound...]
        return String(rest.prefix { $0 != "<" })
    }

    @Test(
        .enabled(
            if: Chromium.path != nil,
            "chromium is not installed (apt-get install chromium); .ci/run installs it, so CI runs this test"),
        .timeLimit(.minutes(1)))
    func showsTheRunningFiguresInAHeadlessBrowserWithoutScriptErrors() throws {
        let stub = try UpstreamStub(routes: [
            "/user": .json(#"{"id":7}"#),
            "/v2/invoices": .respond(status: 503, body: Array(#"{"error":"down"}"#.utf8)),
        ])
        defer { stub.stop() }
        let server = try TestServer(Self.config, substitutions: ["stub": stub.baseURL])
        let (_, elapsedMs) = try measureMs {
            // Traffic: 4 overviews (the optional billing call fails: 200 anyway), 3 billing requests, 1 unknown path.
            // The second failure in a row opens billing's breaker (one worker, one breaker): later calls fail fast
            // (circuit_open), and a route whose one call fails so answers 503.
            for _ in 0..<4 { #expect(try server.get("/overview").status == 200) }
            for _ in 0..<3 { #expect(try server.get("/billing").status == 503) }
            #expect(try server.get("/nowhere").status == 404)

            let url = "http://127.0.0.1:\(server.adminPort)/"
            // --virtual-time-budget lets the page's timers run (three or so polls) before the DOM is dumped.
            let output = try Chromium.run(
                ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom"], url: url)
            let dom = output.stdout

            #expect(dom.contains("<title>fanout status</title>"))
            #expect(dom.contains(#"<span id="page-error"></span>"#), "the page's script reported an error")
            // Console messages (errors, uncaught exceptions) are logged as `…:CONSOLE…`; the page logs none.
            let console = output.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
            #expect(console.isEmpty, "console output: \(console)")
            #expect(Self.figure(dom, "breaker").map { !$0.isEmpty } == true, "no figures in the DOM:\n\(dom)")
            // Live: the page polled status.json more than once.
            let polls = dom.firstRange(of: #/data-polls="(\d+)"/#).map { Int(dom[$0].dropFirst(12).dropLast())! }
            #expect((polls ?? 0) >= 2, "polls: \(String(describing: polls))")

            let overview = Self.row(dom, #"<tr data-route="GET /overview">"#)
            #expect(Self.figure(overview, "requests") == "4")
            #expect(Self.figure(overview, "statuses") == "200 4")
            #expect(Self.figure(overview, "recent") == "4")
            #expect(Self.figure(overview, "p50")?.hasSuffix(" ms") == true)
            let user = Self.row(dom, #"<tr class="call" data-route="GET /overview" data-call="user">"#)
            #expect(Self.figure(user, "requests") == "4")
            let billing = Self.row(dom, #"<tr data-route="GET /billing">"#)
            #expect(Self.figure(billing, "requests") == "3")
            #expect(Self.figure(billing, "statuses") == "503 3")
            let unmatched = Self.row(dom, #"<tr data-route="(no route)">"#)
            #expect(Self.figure(unmatched, "requests") == "1")

            let accounts = Self.row(dom, #"<tr data-upstream="accounts">"#)
            #expect(Self.figure(accounts, "breaker") == "off")
            #expect(Self.figure(accounts, "in-flight") == "0 / 1024")  // the default max_connections
            let billingUpstream = Self.row(dom, #"<tr data-upstream="billing">"#)
            #expect(Self.figure(billingUpstream, "breaker") == "open on 1 of 1")
            #expect(Self.figure(billingUpstream, "failures")?.contains("circuit_open") == true)
            // Secrets never reach the page: no header value, no upstream path.
            #expect(!dom.contains("do-not-show"))
            #expect(!dom.contains("/v2"))

            if let screenshot = ProcessInfo.processInfo.environment["FANOUT_STATUS_SCREENSHOT"] {
                _ = try Chromium.run(
                    ["--virtual-time-budget=2000", "--window-size=1200,900", "--screenshot=\(screenshot)"], url: url)
            }
        }
        print("status page test: traffic, chromium and assertions took \(Int(elapsedMs)) ms")
    }
}
