import Testing

@testable import FanoutCore

@Suite struct PathTemplateTests {
    @Test func parsesLiteralsParametersAndCatchAll() throws {
        let template = try PathTemplate(parsing: "/products/{id}/reviews/{rest...}")
        #expect(template.segments == [.literal("products"), .parameter("id"), .literal("reviews"), .catchAll("rest")])
        #expect(template.parameterNames == ["id", "rest"])
        #expect(template.raw == "/products/{id}/reviews/{rest...}")
    }

    @Test func rootAndTrailingSlash() throws {
        #expect(try PathTemplate(parsing: "/").segments == [.literal("")])
        #expect(try PathTemplate(parsing: "/a/").segments == [.literal("a"), .literal("")])
    }

    @Test func allowsSubDelimitersColonAndAt() throws {
        #expect(try PathTemplate(parsing: "/a:b@c!$&'()*+,;=-._~").segments.count == 1)
    }

    @Test(arguments: [
        ("products", 0, "must start with '/'"),
        ("/a/{rest...}/b", 3, "must be the last segment"),
        ("/a/x{id}", 4, "whole segment"),
        ("/a/{id}x", 3, "unterminated parameter"),
        ("/a/{id", 3, "unterminated parameter"),
        ("/a/id}", 5, "whole segment"),
        ("/a/{1d}", 4, "invalid parameter name"),
        ("/a/{}", 4, "invalid parameter name"),
        ("/a/{...}", 4, "invalid parameter name"),
        ("/{id}/{id}", 6, "duplicate parameter name 'id'"),
        ("/a//b", 3, "empty path segment"),
        ("/a/../b", 3, "'.' and '..'"),
        ("/a/%41", 3, "invalid character"),
        ("/a b", 2, "invalid character"),
        ("/caf\u{E9}", 4, "invalid character"),
        ("/a?x", 2, "invalid character"),
        ("/a#x", 2, "invalid character"),
    ])
    func rejectsInvalidTemplates(raw: String, offset: Int, message: String) {
        do {
            _ = try PathTemplate(parsing: raw)
            Issue.record("expected an error for \(raw)")
        } catch {
            #expect(error.offset == offset, "\(raw): \(error)")
            #expect(error.message.contains(message), "\(raw): \(error)")
        }
    }
}
