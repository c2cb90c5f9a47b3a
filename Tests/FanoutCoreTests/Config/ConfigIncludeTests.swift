import Testing

@testable import FanoutCore

/// `include PATH|GLOB` over an in-memory file map: nesting, glob order, cycles, and errors located in the
/// included file.
@Suite struct ConfigIncludeTests {
    /// Files by path; a directory is every path prefix ending at a `/`.
    struct Files: ConfigIncludeReader {
        var files: [String: String]

        func read(_ path: String) throws(ConfigIncludeReadError) -> String {
            guard let text = self.files[path] else { throw .missing(lookedAt: "/cwd/\(path)") }
            return text
        }

        func entries(ofDirectory path: String) -> [String]? {
            let prefix = path.isEmpty ? "" : path.hasSuffix("/") ? path : path + "/"
            var names: Set<String> = []
            for file in self.files.keys where file.hasPrefix(prefix) {
                names.insert(String(file.dropFirst(prefix.count).prefix { $0 != "/" }))
            }
            return names.isEmpty ? nil : Array(names)
        }
    }

    static func parse(
        _ files: [String: String],
        main: String = "proxy.conf",
        environment: [String: String] = [:]
    ) throws(ConfigError) -> FanoutConfig {
        try ConfigParser.parse(files[main]!, file: main, environment: environment, includes: Files(files: files))
    }

    static func failure(_ files: [String: String], main: String = "proxy.conf") -> ConfigError? {
        do {
            _ = try Self.parse(files, main: main)
            return nil
        } catch {
            return error
        }
    }

    static func route(_ path: String, _ body: String) -> String {
        "route GET \(path) {\n    respond 200 `\(body)`\n}\n"
    }

    @Test func includedUpstreamsAndRoutesJoinTheMainFileInPlace() throws {
        let config = try Self.parse([
            "proxy.conf": "listen 127.0.0.1:8080\ninclude upstreams.conf\n" + Self.route("/main", "{}")
                + "include routes/users.conf\n",
            "upstreams.conf": "upstream users { url http://users:9001 }\n",
            "routes/users.conf": "route GET /users/{id} {\n    call user GET users /users/{id}\n}\n",
        ])
        #expect(config.routes.map(\.path.raw) == ["/main", "/users/{id}"])
        #expect(config.upstreams.map(\.name) == ["users"])
        #expect(config.routes[1].location == SourceLocation(file: "routes/users.conf", line: 1, column: 1))
    }

    @Test func relativePathsResolveAgainstTheIncludingFilesDirectoryAndNest() throws {
        let config = try Self.parse(
            [
                "/etc/fanout/proxy.conf": "include conf.d/all.conf\n",
                "/etc/fanout/conf.d/all.conf": "include ../shared/./a.conf\ninclude /abs/b.conf\n",
                "/etc/fanout/shared/a.conf": Self.route("/a", "{}"),
                "/abs/b.conf": Self.route("/b", "{}"),
            ],
            main: "/etc/fanout/proxy.conf"
        )
        #expect(config.routes.map(\.path.raw) == ["/a", "/b"])
        #expect(config.routes[0].location.file == "/etc/fanout/shared/a.conf")
    }

    @Test func globsExpandInSortedOrderAndSkipHiddenFiles() throws {
        let config = try Self.parse([
            "proxy.conf": "include conf.d/*.conf\n",
            "conf.d/20-b.conf": Self.route("/b", "{}"),
            "conf.d/10-a.conf": Self.route("/a", "{}"),
            "conf.d/3-c.conf": Self.route("/c", "{}"),
            "conf.d/B.conf": Self.route("/upper", "{}"),
            "conf.d/.hidden.conf": Self.route("/hidden", "{}"),
            "conf.d/notes.txt": "not a config",
        ])
        #expect(config.routes.map(\.path.raw) == ["/a", "/b", "/c", "/upper"])
    }

    @Test(arguments: [
        ("a?.conf", ["a1.conf", "a2.conf"]),
        ("a[2-9].conf", ["a2.conf"]),
        ("a[!2].conf", ["a1.conf"]),
        ("*/x.conf", ["d1/x.conf", "d2/x.conf"]),
    ])
    func globCharactersMatchLikeGlob3(pattern: String, expected: [String]) {
        let files = Files(files: [
            "a1.conf": "", "a2.conf": "", "b.conf": "", "d1/x.conf": "", "d2/x.conf": "", "d2/y.conf": "",
        ])
        #expect(ConfigIncludePath.expand(pattern, reader: files) == expected)
    }

    @Test func aGlobMatchingNothingIsFine() throws {
        let config = try Self.parse(["proxy.conf": "include conf.d/*.conf\ninclude none/*/x.conf\n"])
        #expect(config.routes.isEmpty)
    }

    @Test func aMissingPlainPathIsAnErrorAtItsArgument() {
        let error = Self.failure(["proxy.conf": "listen :80\ninclude   conf.d/missing.conf\n"])
        #expect(error?.location == SourceLocation(file: "proxy.conf", line: 2, column: 11))
        #expect(
            error?.message
                == "included file 'conf.d/missing.conf' does not exist (looked for /cwd/conf.d/missing.conf); "
                + "expected an existing file, or a glob (which may match nothing)")
    }

    @Test func errorsInAnIncludedFileNameItsLineAndColumnAndTheInclude() {
        let error = Self.failure([
            "proxy.conf": "listen :80\n\ninclude conf.d/*.conf\n",
            "conf.d/a.conf": "\nroute GET /a {\n    cal x GET http://h:1/\n}\n",
        ])
        #expect(error?.location == SourceLocation(file: "conf.d/a.conf", line: 3, column: 5))
        #expect(
            error?.description
                == "conf.d/a.conf:3:5: unknown directive 'cal' in route GET /a; did you mean 'call'? "
                + "(in a file included at proxy.conf:3:9)")
    }

    @Test func aBlockLeftOpenInAnIncludedFileEndsAtThatFilesEnd() {
        let error = Self.failure([
            "proxy.conf": "include a.conf\n" + Self.route("/b", "{}"),
            "a.conf": "route GET /a {\n    respond 200\n",
        ])
        #expect(error?.location == SourceLocation(file: "a.conf", line: 3, column: 1))
        #expect(error?.message.hasPrefix("unexpected end of file: the block of route GET /a") == true)
    }

    @Test func anUnknownUpstreamInAnIncludedRouteIsLocatedThere() {
        let error = Self.failure([
            "proxy.conf": "upstream users { url http://u:1 }\ninclude r.conf\n",
            "r.conf": "route GET /x {\n    call a GET user /x\n}\n",
        ])
        #expect(error?.location == SourceLocation(file: "r.conf", line: 2, column: 16))
        #expect(error?.message.hasPrefix("unknown upstream 'user'; did you mean 'users'?") == true)
    }

    @Test func duplicatesAcrossFilesNameTheOtherFile() {
        let error = Self.failure([
            "proxy.conf": "workers 2\ninclude a.conf\n",
            "a.conf": "\nworkers 4\n",
        ])
        #expect(error?.location == SourceLocation(file: "a.conf", line: 2, column: 1))
        #expect(
            error?.message
                == "duplicate 'workers'; it is already set at proxy.conf:1, expected it once "
                + "(in a file included at proxy.conf:2:9)")
        let route = Self.failure([
            "proxy.conf": Self.route("/a", "{}") + "include a.conf\n", "a.conf": Self.route("/a", "{}"),
        ])
        #expect(route?.message.contains("already routed at proxy.conf:1;") == true)
    }

    @Test func aFileIncludingItselfIsACycle() {
        let error = Self.failure(["proxy.conf": "include ./proxy.conf\n"])
        #expect(error?.location == SourceLocation(file: "proxy.conf", line: 1, column: 9))
        #expect(
            error?.message
                == "include cycle: proxy.conf includes proxy.conf; expected each file included once per chain")
    }

    @Test func aCycleThroughOtherFilesNamesTheChain() {
        let error = Self.failure([
            "proxy.conf": "include a.conf\n",
            "a.conf": "\ninclude sub/b.conf\n",
            "sub/b.conf": "include ../a.conf\n",
        ])
        #expect(error?.location == SourceLocation(file: "sub/b.conf", line: 1, column: 9))
        #expect(error?.message.hasPrefix("include cycle: a.conf includes sub/b.conf includes a.conf;") == true)
    }

    @Test func theSameFileTwiceOutsideACycleIsNotACycle() throws {
        let config = try Self.parse([
            "proxy.conf": "include a.conf\ninclude b.conf\n",
            "a.conf": "include common.conf\n", "b.conf": Self.route("/b", "{}"),
            "common.conf": "",
        ])
        #expect(config.routes.count == 1)
    }

    @Test(arguments: [
        "route GET /x {\n    include r.conf\n    respond 200\n}\n",
        "upstream u {\n    url http://u:1\n    include r.conf\n}\n",
    ])
    func includeInsideABlockIsAnError(text: String) {
        let error = Self.failure(["proxy.conf": text, "r.conf": ""])
        #expect(error?.location.line == 2 || error?.location.line == 3)
        #expect(error?.location.column == 5)
        #expect(error?.message.hasPrefix("'include' cannot stand inside the block of") == true)
        #expect(error?.message.hasSuffix("expected it at top level, outside every block") == true)
    }

    @Test func includeNeedsAnArgument() {
        let error = Self.failure(["proxy.conf": "include\n"])
        #expect(error?.location == SourceLocation(file: "proxy.conf", line: 1, column: 1))
        #expect(error?.message == "missing argument for 'include'; expected a file path or a glob like conf.d/*.conf")
    }

    @Test func variablesWorkInIncludedFilesAndInTheIncludePath() throws {
        let config = try Self.parse(
            [
                "proxy.conf": "include ${DIR}/*.conf\n",
                "site/a.conf": "upstream u { url ${U} }\nroute GET /a {\n    proxy u\n}\n",
            ],
            environment: ["DIR": "site", "U": "http://users:9001", "EMPTY": ""]
        )
        #expect(config.upstreams[0].origin.host == "users")
        let error = Self.failure(["proxy.conf": "include a.conf\n", "a.conf": "upstream u { url ${NOPE} }\n"])
        #expect(error?.location.file == "a.conf")
        #expect(error?.message.contains("NOPE") == true)
    }

    @Test func withoutAReaderAGlobMatchesNothingAndAPathIsMissing() throws {
        let config = try ConfigParser.parse("include conf.d/*.conf\n", file: "p.conf", environment: [:])
        #expect(config.routes.isEmpty)
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse("include a.conf\n", file: "p.conf", environment: [:])
        }
    }
}
