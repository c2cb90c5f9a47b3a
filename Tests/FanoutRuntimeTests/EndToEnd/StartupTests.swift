import FanoutTestSupport
import Foundation
import Testing

/// What the `fanout` executable says and does at start: where it looked for a missing configuration,
/// `--version` with the libcurl it runs with, and `FANOUT_ADMIN` turning the admin listener on for any file.
@Suite struct StartupTests {
    /// A file with one route and no `admin_listen`, as a user's own configuration may be.
    static func userConfig(port: UInt16, extra: String = "") throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-user-\(UUID().uuidString).conf")
        try "listen 127.0.0.1:\(port)\nworkers 1\n\(extra)route GET /hello {\n    respond 200 `{}`\n}\n".write(
            to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func withoutProxyConfItSaysWhereItLookedAndSuggestsDashC() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fanout = try FanoutProcess([], workingDirectory: directory)
        #expect(fanout.waitForExit(timeoutMs: 10_000) == 1)
        let absolute = directory.resolvingSymlinksInPath().appendingPathComponent("proxy.conf").path
        #expect(fanout.stderr.contains("no configuration file at \(absolute)"), "\(fanout.stderr)")
        #expect(fanout.stderr.contains("fanout serve -c FILE"), "\(fanout.stderr)")

        // A file named with -c: where it was looked for, without the hint about the default.
        let named = try FanoutProcess(["serve", "-c", "nowhere.conf"], workingDirectory: directory)
        #expect(named.waitForExit(timeoutMs: 10_000) == 1)
        #expect(
            named.stderr.contains("no configuration file at \(directory.resolvingSymlinksInPath().path)/nowhere.conf"))
        #expect(!named.stderr.contains("-c FILE"), "\(named.stderr)")
    }

    @Test func versionNamesLibcurlItsLibrariesAndFeatures() throws {
        let fanout = try FanoutProcess(["--version"])
        #expect(fanout.waitForExit() == 0)
        let lines = fanout.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("fanout ") == true, "\(lines)")
        // libcurl 7.88.1 (OpenSSL/3.0.17, zlib/1.2.13, brotli/1.0.9, zstd/1.5.4, nghttp2/1.52.0) on Debian bookworm.
        let library = try #require(lines.first { $0.hasPrefix("libcurl ") && !$0.hasPrefix("libcurl features") })
        #expect(
            library.range(
                of: #"^libcurl \d+\.\d+\.\d+ \(.*(OpenSSL|GnuTLS|wolfSSL|mbedTLS|rustls)"#, options: .regularExpression)
                != nil, "\(library)")
        #expect(library.contains("nghttp2/"), "\(library)")
        // Each library named once: 8.14.1's brotli and zstd strings carry their name already (7.88.1's do not).
        for name in ["zlib", "brotli", "zstd", "nghttp2"] {
            #expect(!library.contains("\(name)/\(name)/"), "\(library)")
        }
        let features = try #require(lines.first { $0.hasPrefix("libcurl features: ") })
        let names = Set(features.dropFirst("libcurl features: ".count).split(separator: " ").map(String.init))
        // What the tests of this repository need from libcurl: TLS, HTTP/2 and gzip.
        #expect(names.isSuperset(of: ["ssl", "http2", "libz"]), "\(features)")
    }

    @Test func fanoutAdminServesHealthOnTheAdminPortOfAFileWithoutAdminListen() throws {
        let port = try freeTCPPort()
        let adminPort = try freeTCPPort()
        let file = try Self.userConfig(port: port)
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(
            ["serve", "-c", file.path], environment: ["FANOUT_ADMIN": "127.0.0.1:\(adminPort)"])
        #expect(FanoutProcess.waitUntilServing(port: adminPort, path: "/healthz"), "\(fanout.stderr)")
        #expect(try httpGet(port: adminPort, path: "/readyz").status == 200)
        #expect(try httpGet(port: adminPort, path: "/metrics").bodyText.contains("fanout_"))
        // The user's own routes stay on the main listener, which has no /healthz of its own.
        #expect(try httpGet(port: port, path: "/hello").status == 200)
        #expect(try httpGet(port: port, path: "/healthz").status == 404)
        #expect(
            fanout.stderr.contains("admin (status page /, /metrics, /healthz, /readyz) on 127.0.0.1:\(adminPort)"),
            "\(fanout.stderr)")
        #expect(!fanout.stderr.contains("overrides"), "\(fanout.stderr)")
    }

    @Test func fanoutAdminReplacesTheFilesAdminListenAndSaysSo() throws {
        let port = try freeTCPPort()
        let fileAdmin = try freeTCPPort()
        let adminPort = try freeTCPPort()
        let file = try Self.userConfig(port: port, extra: "admin_listen 127.0.0.1:\(fileAdmin)\n")
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(["serve", "-c", file.path], environment: ["FANOUT_ADMIN": "\(adminPort)"])
        #expect(FanoutProcess.waitUntilServing(port: adminPort, path: "/healthz"), "\(fanout.stderr)")
        #expect(
            fanout.stderr.contains(
                "FANOUT_ADMIN overrides \(file.path): admin_listen 127.0.0.1:\(adminPort), not 127.0.0.1:\(fileAdmin)"),
            "\(fanout.stderr)")
        #expect((try? httpGet(port: fileAdmin, path: "/healthz", timeoutMs: 500)) == nil)

        // SIGHUP re-reads the file: the override still applies, so nothing "needs a restart".
        fanout.send(SIGHUP)
        #expect(fanout.waitForStderr(containing: "reloaded"), "\(fanout.stderr)")
        #expect(!fanout.stderr.contains("needs a restart"), "\(fanout.stderr)")
    }

    @Test func anInvalidFanoutAdminStopsTheStartNamingTheVariable() throws {
        let file = try Self.userConfig(port: try freeTCPPort())
        defer { try? FileManager.default.removeItem(at: file) }
        let fanout = try FanoutProcess(["serve", "-c", file.path], environment: ["FANOUT_ADMIN": "localhost:9901"])
        #expect(fanout.waitForExit(timeoutMs: 10_000) == 1)
        #expect(fanout.stderr.contains("FANOUT_ADMIN='localhost:9901': invalid listen address"), "\(fanout.stderr)")
    }
}
