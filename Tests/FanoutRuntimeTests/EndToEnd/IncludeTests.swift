import FanoutRuntime
import FanoutTestSupport
import Foundation
import Testing

/// `include conf.d/*.conf` with real files: `fanout check` follows it, and a served route that lives in an
/// included file changes with that file on SIGHUP.
@Suite struct IncludeTests {
    /// A fresh directory under the temporary directory, removed by the caller.
    private static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fanout-include-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("conf.d"),
            withIntermediateDirectories: true
        )
        return directory
    }

    private static func write(_ text: String, to file: String, in directory: URL) throws {
        try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }

    @Test func checkFollowsIncludesAndLocatesErrorsInTheIncludedFile() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let main = directory.appendingPathComponent("proxy.conf").path
        try Self.write("listen 127.0.0.1:8080\ninclude conf.d/*.conf\n", to: "proxy.conf", in: directory)
        try Self.write("upstream users {\n    url ${USERS_URL}\n}\n", to: "conf.d/10-upstreams.conf", in: directory)
        try Self.write(
            "route GET /users/{id} {\n    call user GET users /users/{id}\n}\n"
                + "route GET /healthz {\n    respond 200\n}\n",
            to: "conf.d/20-routes.conf",
            in: directory
        )
        try Self.write("route GET /ignored {\n", to: "conf.d/.hidden.conf", in: directory)

        let environment = ["USERS_URL": "http://127.0.0.1:9001"]
        let ok = try FanoutProcess(["check", main], environment: environment)
        #expect(ok.waitForExit() == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("\(main): ok (2 routes, 1 upstreams)"), "\(ok.stdout)")

        try Self.write(
            "route GET /users/{id} {\n\n    cal user GET users /users/{id}\n}\n", to: "conf.d/20-routes.conf",
            in: directory)
        let bad = try FanoutProcess(["check", main], environment: environment)
        #expect(bad.waitForExit() == 1)
        let location = "\(directory.path)/conf.d/20-routes.conf:3:5: unknown directive 'cal'"
        #expect(bad.stderr.contains(location), "\(bad.stderr)")
        #expect(bad.stderr.contains("(in a file included at \(main):2:9)"), "\(bad.stderr)")

        try Self.write("include ../proxy.conf\n", to: "conf.d/20-routes.conf", in: directory)
        let cycle = try FanoutProcess(["check", main], environment: environment)
        #expect(cycle.waitForExit() == 1)
        let chain = "include cycle: \(main) includes \(directory.path)/conf.d/20-routes.conf includes \(main)"
        #expect(cycle.stderr.contains(chain), "\(cycle.stderr)")
    }

    @Test func servesARouteFromAnIncludedFileAndReloadsItOnSIGHUP() throws {
        let users = try UpstreamStub(routes: [
            "/users/7": .json(#"{"name":"Ada"}"#), "/v2/users/7": .json(#"{"name":"Grace"}"#),
        ])
        let port = try freeTCPPort()
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let main = directory.appendingPathComponent("proxy.conf").path
        try Self.write(
            "listen 127.0.0.1:\(port)\nworkers 1\naccess_log off\nupstream users {\n    url \(users.baseURL)\n}\n"
                + "include conf.d/*.conf\n",
            to: "proxy.conf",
            in: directory
        )
        try Self.write(
            "route GET /users/{id} {\n    call user GET users /users/{id}\n}\n",
            to: "conf.d/users.conf",
            in: directory
        )
        let fanout = try FanoutProcess(["serve", "-c", main])
        #expect(FanoutProcess.waitUntilServing(port: port, path: "/users/7"), "\(fanout.stderr)")
        #expect(try httpGet(port: port, path: "/users/7").bodyText == #"{"user":{"name":"Ada"}}"#)

        try Self.write(
            "route GET /users/{id} {\n    call user GET users /v2/users/{id}\n}\n"
                + "route GET /extra {\n    respond 200 `{\"extra\":true}`\n}\n",
            to: "conf.d/users.conf",
            in: directory
        )
        fanout.send(SIGHUP)
        #expect(fanout.waitForStderr(containing: "fanout: reloaded \(main) (2 routes)"), "\(fanout.stderr)")
        #expect(try httpGet(port: port, path: "/users/7").bodyText == #"{"user":{"name":"Grace"}}"#)
        #expect(try httpGet(port: port, path: "/extra").bodyText == #"{"extra":true}"#)

        fanout.send(SIGTERM)
        #expect(fanout.waitForExit() == 0, "\(fanout.stderr)")
    }
}
