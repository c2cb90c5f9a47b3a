import Testing

@testable import FanoutCore

/// Builds `respond` routes from `("GET,POST", "/path")` pairs.
func makeRoutes(_ specs: [(String, String)]) throws -> [RouteConfig] {
    try specs.map { methods, path in
        RouteConfig(
            methods: methods == "*" ? .any : .only(methods.split(separator: ",").map(String.init)),
            path: try PathTemplate(parsing: path),
            action: .respond(StaticResponse(status: 200, body: [])),
            location: SourceLocation(file: "test", line: 1, column: 1)
        )
    }
}

@Suite struct RouteTableTests {
    @Test func literalBeatsParameterRegardlessOfFileOrder() throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}"), ("GET", "/users/me")]))
        #expect(table.match(method: "GET", path: "/users/me") == .matched(routeIndex: 1, parameters: [:]))
        #expect(table.match(method: "GET", path: "/users/42") == .matched(routeIndex: 0, parameters: ["id": ["42"]]))
    }

    @Test func parameterBeatsCatchAll() throws {
        let table = RouteTable(try makeRoutes([("GET", "/files/{rest...}"), ("GET", "/files/{name}")]))
        #expect(table.match(method: "GET", path: "/files/a") == .matched(routeIndex: 1, parameters: ["name": ["a"]]))
        #expect(
            table.match(method: "GET", path: "/files/a/b") == .matched(routeIndex: 0, parameters: ["rest": ["a", "b"]])
        )
    }

    @Test func backtracksFromDeadEndLiteralBranch() throws {
        let table = RouteTable(try makeRoutes([("GET", "/a/b/c"), ("GET", "/a/{x}/d"), ("GET", "/{rest...}")]))
        #expect(table.match(method: "GET", path: "/a/b/d") == .matched(routeIndex: 1, parameters: ["x": ["b"]]))
        #expect(table.match(method: "GET", path: "/a/b/c") == .matched(routeIndex: 0, parameters: [:]))
        #expect(
            table.match(method: "GET", path: "/a/b/e")
                == .matched(routeIndex: 2, parameters: ["rest": ["a", "b", "e"]])
        )
    }

    @Test func backtracksToLowerPrecedenceRouteForTheMethod() throws {
        let table = RouteTable(try makeRoutes([("GET", "/a/b"), ("POST", "/a/{x}")]))
        #expect(table.match(method: "POST", path: "/a/b") == .matched(routeIndex: 1, parameters: ["x": ["b"]]))
    }

    @Test func fileOrderBreaksTiesOnTheSameNode() throws {
        let table = RouteTable(try makeRoutes([("GET,POST", "/t/{a}"), ("*", "/t/{b}")]))
        #expect(table.match(method: "POST", path: "/t/1") == .matched(routeIndex: 0, parameters: ["a": ["1"]]))
        #expect(table.match(method: "PUT", path: "/t/1") == .matched(routeIndex: 1, parameters: ["b": ["1"]]))
    }

    @Test func methodNotAllowedListsEveryMethodForThePath() throws {
        let table = RouteTable(
            try makeRoutes([("GET", "/x"), ("POST,PUT", "/x"), ("DELETE", "/x/{id}"), ("PATCH", "/{rest...}")])
        )
        #expect(
            table.match(method: "OPTIONS", path: "/x")
                == .methodNotAllowed(allowed: ["GET", "HEAD", "POST", "PUT", "PATCH"])
        )
        #expect(table.match(method: "GET", path: "/x/1") == .methodNotAllowed(allowed: ["DELETE", "PATCH"]))
    }

    @Test func headMatchesGetRoute() throws {
        let table = RouteTable(try makeRoutes([("POST", "/x"), ("GET", "/x"), ("HEAD", "/y")]))
        #expect(table.match(method: "HEAD", path: "/x") == .matched(routeIndex: 1, parameters: [:]))
        #expect(table.match(method: "HEAD", path: "/y") == .matched(routeIndex: 2, parameters: [:]))
        #expect(table.match(method: "GET", path: "/y") == .methodNotAllowed(allowed: ["HEAD"]))
    }

    @Test func methodsAreCaseSensitive() throws {
        let table = RouteTable(try makeRoutes([("GET", "/x")]))
        #expect(table.match(method: "get", path: "/x") == .methodNotAllowed(allowed: ["GET", "HEAD"]))
    }

    @Test func anyMethodRouteMatchesEveryMethod() throws {
        let table = RouteTable(try makeRoutes([("*", "/x")]))
        for method in ["GET", "HEAD", "POST", "DELETE", "BREW"] {
            #expect(table.match(method: method, path: "/x") == .matched(routeIndex: 0, parameters: [:]))
        }
    }

    @Test func unknownPathIsNotFound() throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}"), ("GET", "/api/{rest...}")]))
        #expect(table.match(method: "GET", path: "/nope") == .notFound)
        #expect(table.match(method: "GET", path: "/users") == .notFound)
        #expect(table.match(method: "GET", path: "/users/1/x") == .notFound)
        #expect(table.match(method: "GET", path: "/apix") == .notFound)
        #expect(RouteTable([]).match(method: "GET", path: "/") == .notFound)
    }

    @Test func emptySegmentNeverMatchesAParameter() throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}"), ("GET", "/users/{id}/orders")]))
        #expect(table.match(method: "GET", path: "/users/") == .notFound)
        #expect(table.match(method: "GET", path: "/users//orders") == .notFound)
    }

    @Test func rootAndTrailingSlashAreDistinct() throws {
        let table = RouteTable(try makeRoutes([("GET", "/"), ("GET", "/a"), ("GET", "/a/")]))
        #expect(table.match(method: "GET", path: "/") == .matched(routeIndex: 0, parameters: [:]))
        #expect(table.match(method: "GET", path: "/a") == .matched(routeIndex: 1, parameters: [:]))
        #expect(table.match(method: "GET", path: "/a/") == .matched(routeIndex: 2, parameters: [:]))
        #expect(table.match(method: "GET", path: "//") == .notFound)
    }

    @Test func literalsCompareRawBytes() throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/me")]))
        #expect(table.match(method: "GET", path: "/%75sers/me") == .notFound)
        #expect(table.match(method: "GET", path: "/Users/me") == .notFound)
    }

    @Test(arguments: [
        ("/api", [String]()),
        ("/api/", []),
        ("/api/a", ["a"]),
        ("/api/a/b/c", ["a", "b", "c"]),
        ("/api/a/b%2Fc", ["a", "b/c"]),
        ("/api/a/", ["a", ""]),
        ("/api/caf%C3%A9/%20", ["café", " "]),
    ])
    func catchAllCapturesDecodedSegments(path: String, expected: [String]) throws {
        let table = RouteTable(try makeRoutes([("GET", "/api/{rest...}")]))
        #expect(table.match(method: "GET", path: path[...]) == .matched(routeIndex: 0, parameters: ["rest": expected]))
    }

    @Test func rootCatchAllMatchesEverything() throws {
        let table = RouteTable(try makeRoutes([("*", "/{all...}")]))
        #expect(table.match(method: "GET", path: "/") == .matched(routeIndex: 0, parameters: ["all": []]))
        #expect(table.match(method: "GET", path: "/x/y") == .matched(routeIndex: 0, parameters: ["all": ["x", "y"]]))
    }

    @Test(arguments: ["/api/a//b", "/api//", "/api/a/..", "/api/%2e/b", "/api/a%00", "/api/%zz", "/api/%C0%AE"])
    func catchAllRejectsInvalidSegments(path: String) throws {
        let table = RouteTable(try makeRoutes([("GET", "/api/{rest...}")]))
        guard case .badRequest(let message) = table.match(method: "GET", path: path[...]) else {
            Issue.record("expected badRequest for \(path)")
            return
        }
        #expect(message.contains("'rest'"))
    }

    @Test(arguments: [
        ("..", "'.' and '..'"), (".", "'.' and '..'"), ("%2e%2E", "'.' and '..'"), ("%2E.", "'.' and '..'"),
        ("%", "malformed"), ("%4", "malformed"), ("%zz", "malformed"), ("a%4g", "malformed"),
        ("a%00b", "control"), ("a%0d%0aX:1", "control"), ("%7F", "control"), ("%09", "control"),
        ("%C0%AE%C0%AE", "UTF-8"), ("%FF", "UTF-8"), ("%ED%A0%80", "UTF-8"), ("%E2%82", "UTF-8"),
    ])
    func parameterRejectsInvalidValues(segment: String, reason: String) throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}")]))
        guard case .badRequest(let message) = table.match(method: "GET", path: "/users/\(segment)"[...]) else {
            Issue.record("expected badRequest for \(segment)")
            return
        }
        #expect(message.contains("'id'"))
        #expect(message.contains(reason), "\(message)")
    }

    @Test func pathWithoutLeadingSlashIsBadRequest() throws {
        let table = RouteTable(try makeRoutes([("GET", "/x")]))
        #expect(table.match(method: "GET", path: "x") == .badRequest("the path must start with '/'"))
    }

    @Test func worksOnSubstringsOfALargerTarget() throws {
        let table = RouteTable(try makeRoutes([("GET", "/users/{id}")]))
        let target = try RequestTarget(parsing: "/users/a%20b?x=1")
        #expect(table.match(method: "GET", path: target.path) == .matched(routeIndex: 0, parameters: ["id": ["a b"]]))
    }
}
