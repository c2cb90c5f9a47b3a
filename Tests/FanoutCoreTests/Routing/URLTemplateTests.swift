import Testing

@testable import FanoutCore

@Suite struct URLTemplateTests {
    private func render(
        _ template: String,
        _ parameters: [String: [String]] = [:],
        query: Substring? = nil
    ) throws -> String {
        try URLTemplate(parsing: template).render(
            TemplateValues(routeParameters: parameters, query: try QueryParameters(parsing: query))
        )
    }

    @Test func rendersRouteAndQueryPlaceholders() throws {
        #expect(
            try render("/v1/users/{id}/orders?lang={query.lang}&x=1", ["id": ["42"]], query: "lang=en")
                == "/v1/users/42/orders?lang=en&x=1"
        )
        #expect(try render("/static/path") == "/static/path")
        #expect(try render("/") == "/")
        #expect(try render("/a/") == "/a/")
        #expect(try render("/a?") == "/a?")
        #expect(try render("/x/{id}.json", ["id": ["7"]]) == "/x/7.json")
        #expect(try render("/{a}-{b}", ["a": ["1"], "b": ["2"]]) == "/1-2")
    }

    @Test func reportsParameterReferencesWithOffsets() throws {
        let template = try URLTemplate(parsing: "/v1/{id}/x/{rest...}?q={query.q}&n={name}")
        #expect(template.routeParameterReferences.map(\.name) == ["id", "rest", "name"])
        #expect(template.routeParameterReferences.map(\.offset) == [4, 11, 35])
        #expect(template.queryParameterReferences == ["q"])
    }

    @Test func encodesQueryPlaceholdersStrictly() throws {
        let rendered = try render("/s?q={query.q}&{query.k}=v", query: "q=a%26b%3Dc%2Bd+e%23f%25g%3Fh&k=x%3Dy")
        #expect(rendered == "/s?q=a%26b%3Dc%2Bd%20e%23f%25g%3Fh&x%3Dy=v")
    }

    @Test func usesFirstOfRepeatedQueryValues() throws {
        #expect(try render("/s?a={query.a}", query: "a=1&a=2") == "/s?a=1")
    }

    @Test func encodesUTF8AsUppercaseHex() throws {
        #expect(try render("/u/{id}", ["id": ["café ☕"]]) == "/u/caf%C3%A9%20%E2%98%95")
    }

    @Test func rendersCatchAllSegmentsJoinedBySlash() throws {
        #expect(try render("/v2/{rest...}", ["rest": ["a", "b c", "d/e"]]) == "/v2/a/b%20c/d%2Fe")
        #expect(try render("/v2/{rest...}", ["rest": []]) == "/v2/")
        #expect(try render("/v2/{rest...}", ["rest": ["a", ""]]) == "/v2/a/")
        #expect(try render("/v2/{rest...}/meta?x=1", ["rest": ["a"]]) == "/v2/a/meta?x=1")
    }

    @Test func missingValuesAreReported() throws {
        #expect(throws: TemplateRenderError.missingQueryParameter("lang")) {
            try render("/a?l={query.lang}", query: "x=1")
        }
        #expect(throws: TemplateRenderError.missingRouteParameter("id")) { try render("/a/{id}") }
        #expect(TemplateRenderError.missingQueryParameter("lang").message == "missing query parameter 'lang'")
    }

    @Test(arguments: [".", "..", ""])
    func refusesValuesThatWouldMakeDotOrEmptySegments(value: String) throws {
        #expect(throws: TemplateRenderError.invalidPathSegment("d")) {
            try render("/files/{query.d}/x", query: "d=\(value)"[...])
        }
        #expect(throws: TemplateRenderError.invalidPathSegment("id")) { try render("/files/{id}", ["id": [value]]) }
    }

    @Test func refusesDotSegmentsAssembledFromLiteralAndValue() throws {
        #expect(throws: TemplateRenderError.invalidPathSegment("x")) { try render("/a/.{x}", ["x": ["."]]) }
        #expect(throws: TemplateRenderError.invalidPathSegment("x")) { try render("/a/%2e{x}", ["x": ["."]]) }
        #expect(try render("/a/.{x}", ["x": [".."]]) == "/a/...")
    }

    @Test func refusesDotOrInnerEmptyCatchAllElements() throws {
        #expect(throws: TemplateRenderError.invalidPathSegment("rest")) {
            try render("/v2/{rest...}", ["rest": ["a", ".."]])
        }
        #expect(throws: TemplateRenderError.invalidPathSegment("rest")) {
            try render("/v2/{rest...}", ["rest": ["", "a"]])
        }
    }

    @Test func aCatchAllBeforeMoreSegmentsMayNotLeaveAnEmptyOne() throws {
        // Found while fuzzing: `/v2/{rest...}/x` rendered `/v2//x` for an empty list and `/v2/a//x` for ["a", ""].
        #expect(throws: TemplateRenderError.invalidPathSegment("rest")) {
            try render("/v2/{rest...}/x", ["rest": []])
        }
        #expect(throws: TemplateRenderError.invalidPathSegment("rest")) {
            try render("/v2/{rest...}/x", ["rest": ["a", ""]])
        }
        #expect(try render("/v2/{rest...}/x", ["rest": ["a", "b"]]) == "/v2/a/b/x")
    }

    @Test func dotValuesAreFineInTheQuery() throws {
        #expect(try render("/a?p={query.p}", query: "p=..") == "/a?p=..")
    }

    @Test(arguments: [
        ("v1/x", 0, "must start with '/'"),
        ("/a/{id", 3, "unterminated placeholder"),
        ("/a/{id{x}}", 3, "unterminated placeholder"),
        ("/a/id}", 5, "unexpected '}'"),
        ("/a/{}", 4, "invalid placeholder"),
        ("/a/{1x}", 4, "invalid placeholder"),
        ("/a/{query.}", 10, "invalid query parameter name"),
        ("/a/{query.a b}", 10, "invalid query parameter name"),
        ("/a/x{rest...}", 4, "whole path segment"),
        ("/a/{rest...}x", 3, "whole path segment"),
        ("/a?r={rest...}", 5, "only be used in the path"),
        ("/a#frag", 2, "fragment"),
        ("/a?x=1#frag", 6, "fragment"),
        ("/a b", 2, "invalid character"),
        ("/a\u{1}", 2, "invalid character"),
        ("/a?x=\"", 5, "invalid character"),
        ("/caf\u{E9}", 4, "invalid character"),
        ("/a%2", 2, "malformed percent-encoding"),
        ("/a%zz", 2, "malformed percent-encoding"),
        ("/a/../b", 3, "'.' and '..'"),
        ("/a/%2E/b", 3, "'.' and '..'"),
    ])
    func rejectsInvalidTemplates(raw: String, offset: Int, message: String) {
        do {
            _ = try URLTemplate(parsing: raw)
            Issue.record("expected an error for \(raw)")
        } catch {
            #expect(error.offset == offset, "\(raw): \(error)")
            #expect(error.message.contains(message), "\(raw): \(error)")
        }
    }

    @Test func acceptsValidLiteralSyntax() throws {
        _ = try URLTemplate(parsing: "/a:b@c/!$&'()*+,;=/-._~/%2F?x=/?y&z=%20")
    }
}
