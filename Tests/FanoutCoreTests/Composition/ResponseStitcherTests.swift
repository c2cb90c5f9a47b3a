import Foundation
import Testing

@testable import FanoutCore

@Suite struct ResponseStitcherTests {
    // MARK: - Fixtures

    private static func answered(
        _ name: String,
        _ body: String,
        status: Int = 200,
        contentType: String? = "application/json",
        required: Bool = true,
        elapsedMs: Double = 10
    ) -> CallOutcome {
        CallOutcome(
            name: name,
            required: required,
            result: .answered(UpstreamAnswer(status: status, contentType: contentType, body: body.bytes)),
            elapsedMs: elapsedMs
        )
    }

    private static func failed(
        _ name: String,
        _ failure: CallFailure,
        required: Bool = true,
        elapsedMs: Double = 10
    ) -> CallOutcome {
        CallOutcome(name: name, required: required, result: .failed(failure), elapsedMs: elapsedMs)
    }

    /// Stitches, then checks the body with both validators before handing it back as text.
    private func stitch(_ outcomes: [CallOutcome], maxDepth: Int = 512) throws -> (StitchedResponse, String) {
        let response = ResponseStitcher.stitch(outcomes, maxDepth: maxDepth)
        _ = try JSONOracle.object(response.body)
        return (response, String(decoding: response.body, as: UTF8.self))
    }

    // MARK: - All calls succeed

    @Test func embedsEveryBodyVerbatimInOutcomeOrder() throws {
        let (response, body) = try self.stitch([
            Self.answered("user", #"{"id":1,"big":12345678901234567890,"f":0.1,"e":1E+2}"#),
            Self.answered("orders", #"[1, 2.50, -0, "\u00e9"]"#),
            Self.answered("flag", "true"),
        ])
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(
            body
                == #"{"user":{"id":1,"big":12345678901234567890,"f":0.1,"e":1E+2},"orders":[1, 2.50, -0, "\u00e9"]"#
                + #","flag":true}"#
        )
    }

    @Test func trimsWhitespaceAroundEmbeddedJSON() throws {
        let (_, body) = try self.stitch([Self.answered("a", " \r\n\t{ \"k\" : [ ] }\n\n")])
        #expect(body == #"{"a":{ "k" : [ ] }}"#)
    }

    @Test func writesEmptyBodyAsNull() throws {
        let (response, body) = try self.stitch([
            Self.answered("deleted", "", status: 204, contentType: nil),
            Self.answered("empty", "", status: 200),
        ])
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(body == #"{"deleted":null,"empty":null}"#)
    }

    @Test func writesEmptyObjectForNoCalls() throws {
        let (response, body) = try self.stitch([])
        #expect((response.status, body, response.complete, response.serverTiming) == (200, "{}", true, ""))
    }

    // MARK: - Content type decides how the body is embedded

    static let contentTypes: [(contentType: String?, body: String, member: String)] = [
        ("application/json", #"{"a":1}"#, #"{"a":1}"#),
        ("application/json; charset=utf-8", "[1]", "[1]"),
        ("Application/JSON", "2", "2"),
        // Sixteen bytes as `application/json` is: other spellings go past its exact comparison.
        ("application/jsoN", "4", "4"),
        ("application/jsom", "[1]", #""[1]""#),
        ("  application/json ;charset=UTF-8", "null", "null"),
        ("application/problem+json", #"{"type":"x"}"#, #"{"type":"x"}"#),
        ("application/vnd.api+JSON; ext=1", #"{"data":[]}"#, #"{"data":[]}"#),
        ("text/plain; charset=utf-8", #"{"a":1}"#, #""{\"a\":1}""#),
        ("application/jsonp", "[1]", #""[1]""#),
        ("application/xml", "<a/>", #""<a/>""#),
        (nil, #"{"a":1}"#, #"{"a":1}"#),
        (nil, "  [true] ", "[true]"),
        (nil, "hello\nworld", #""hello\nworld""#),
        (nil, "{broken", #""{broken""#),
        ("", "3.5", "3.5"),
        (" ; charset=utf-8", "nope", #""nope""#),
    ]

    @Test(arguments: ["text/html", "TEXT/HTML; charset=utf-8", "application/xhtml+xml"])
    func failsCallWhenA2xxAnswerIsAnHTMLPage(_ contentType: String) throws {
        let (response, body) = try self.stitch([
            Self.answered(
                "product", "<html><h1>Down for maintenance</h1></html>", contentType: contentType, required: false,
                elapsedMs: 2)
        ])
        #expect(response.status == 200)
        #expect(body.contains(#""product":null"#))
        #expect(body.contains(#""kind":"html_page""#))
    }

    @Test(arguments: Self.contentTypes)
    func embedsBodyAccordingToContentType(_ example: (contentType: String?, body: String, member: String)) throws {
        let (response, body) = try self.stitch([Self.answered("x", example.body, contentType: example.contentType)])
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(body == "{\"x\":\(example.member)}")
    }

    @Test func replacesIllFormedUTF8InTextBodies() throws {
        let outcome = CallOutcome(
            name: "page",
            required: true,
            result: .answered(UpstreamAnswer(status: 200, contentType: "text/plain", body: [0x61, 0xFF, 0x62])),
            elapsedMs: 1
        )
        let (response, _) = try self.stitch([outcome])
        #expect(try JSONOracle.object(response.body)["page"] as? String == "a\u{FFFD}b")
    }

    @Test(arguments: [#"{"a":"#, "{'a':1}", "01", "[1,]", "NaN", "   ", "\"\\ud800\""])
    func failsCallWhenDeclaredJSONIsInvalid(_ invalidBody: String) throws {
        let (response, body) = try self.stitch([Self.answered("product", invalidBody, elapsedMs: 3.2)])
        #expect(response.status == 502)
        #expect(!response.complete)
        #expect(
            body
                == #"{"error":"upstream_failed","message":"required call(s) failed: product""#
                + #","errors":[{"call":"product","kind":"invalid_body""#
                + #","message":"upstream declared JSON but sent an invalid JSON body","elapsed_ms":3.2}]}"#
        )
    }

    @Test func keepsTheStitchedBodyWithinTheDepthLimit() throws {
        let nested = { (depth: Int) in String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        // The wrapping object is level 1, so an upstream body may be 511 deep by default.
        let (ok, _) = try self.stitch([Self.answered("a", nested(511))])
        #expect(ok.status == 200)
        let (tooDeep, _) = try self.stitch([Self.answered("a", nested(512), required: false)])
        #expect(try JSONOracle.object(tooDeep.body)["a"] is NSNull)
        let errors = try #require(try JSONOracle.object(tooDeep.body)["_errors"] as? [[String: Any]])
        #expect(errors[0]["kind"] as? String == "invalid_body")
        // A custom limit moves both bounds.
        let (custom, _) = try self.stitch([Self.answered("a", "[1]")], maxDepth: 2)
        #expect(custom.status == 200)
        #expect(ResponseStitcher.stitch([Self.answered("a", "[[1]]")], maxDepth: 2).status == 502)
        let wide = ResponseStitcher.stitch([Self.answered("a", nested(599))], maxDepth: 600)
        #expect(wide.status == 200)
        #expect(JSONValidator.isValid(wide.body, maxDepth: 600))
        #expect(!JSONValidator.isValid(wide.body, maxDepth: 599))
        // Without a Content-Type, too deep means "not JSON": the body becomes a string.
        let (untyped, _) = try self.stitch([Self.answered("a", "[[1]]", contentType: nil)], maxDepth: 2)
        #expect(try JSONOracle.object(untyped.body)["a"] as? String == "[[1]]")
    }

    // MARK: - Optional failures

    @Test func writesNullAndErrorsForFailedOptionalCalls() throws {
        let (response, body) = try self.stitch([
            Self.answered("product", #"{"id":1}"#, elapsedMs: 12.34),
            Self.failed("reviews", .timeout, required: false, elapsedMs: 400.2),
        ])
        #expect(response.status == 200)
        #expect(!response.complete)
        #expect(
            body
                == #"{"product":{"id":1},"reviews":null,"_errors":[{"call":"reviews","kind":"timeout""#
                + #","message":"upstream did not answer in time","elapsed_ms":400.2}]}"#
        )
        #expect(response.serverTiming == #"product;dur=12.3, reviews;dur=400.2;desc="timeout""#)
    }

    @Test func reportsNon2xxOptionalCallWithItsStatus() throws {
        let (response, _) = try self.stitch([
            Self.answered("product", "{}"),
            Self.answered("reviews", #"{"error":"busy"}"#, status: 503, required: false, elapsedMs: 5),
            Self.answered("moved", "", status: 301, contentType: "text/html", required: false, elapsedMs: 1),
        ])
        #expect(response.status == 200)
        #expect(!response.complete)
        let object = try JSONOracle.object(response.body)
        #expect(object["reviews"] is NSNull)
        #expect(object["moved"] is NSNull)
        let errors = try #require(object["_errors"] as? [[String: Any]])
        #expect(errors.count == 2)
        #expect(errors[0]["call"] as? String == "reviews")
        #expect(errors[0]["kind"] as? String == "status")
        #expect(errors[0]["status"] as? Int == 503)
        #expect(errors[0]["message"] as? String == "upstream answered with status 503")
        #expect(errors[0]["elapsed_ms"] as? Double == 5)
        #expect(errors[1]["status"] as? Int == 301)
        #expect(Array(object.keys).sorted() == ["_errors", "moved", "product", "reviews"])
        #expect(response.body.suffix(2) == Array("]}".utf8))  // `_errors` is the last member
    }

    @Test func leavesErrorsOutWhenEverythingSucceeded() throws {
        let (_, body) = try self.stitch([Self.answered("a", "1", required: false)])
        #expect(!body.contains("_errors"))
    }

    // MARK: - Required failures

    @Test func listsEveryFailedCallWhenARequiredCallFails() throws {
        let (response, body) = try self.stitch([
            Self.failed("product", .refused, elapsedMs: 0.8),
            Self.answered("price", "9.99"),
            Self.failed("reviews", .timeout, required: false, elapsedMs: 400),
        ])
        #expect(response.status == 502)
        #expect(!response.complete)
        #expect(
            body
                == #"{"error":"upstream_failed","message":"required call(s) failed: product""#
                + #","errors":[{"call":"product","kind":"refused","message":"connection refused""#
                + #","elapsed_ms":0.8},{"call":"reviews","kind":"timeout""#
                + #","message":"upstream did not answer in time","elapsed_ms":400.0}]}"#
        )
        #expect(
            response.serverTiming
                == #"product;dur=0.8;desc="refused", price;dur=10.0, reviews;dur=400.0;desc="timeout""#
        )
    }

    @Test func namesEveryFailedRequiredCallInTheMessage() throws {
        let (response, _) = try self.stitch([
            Self.answered("user", "", status: 404),
            Self.failed("cart", .connection("Recv failure: Connection reset by peer")),
            Self.failed("ads", .tooLarge, required: false),
        ])
        let object = try JSONOracle.object(response.body)
        #expect(object["error"] as? String == "upstream_failed")
        #expect(object["message"] as? String == "required call(s) failed: user, cart")
        let errors = try #require(object["errors"] as? [[String: Any]])
        #expect(errors.map { $0["call"] as? String } == ["user", "cart", "ads"])
        #expect(errors.map { $0["kind"] as? String } == ["status", "connection", "too_large"])
        #expect(errors[0]["status"] as? Int == 404)
        #expect(errors[1]["status"] == nil)
        #expect(errors[1]["message"] as? String == "Recv failure: Connection reset by peer")
        #expect(object["user"] == nil)
    }

    static let gatewayStatuses: [(required: [CallFailure], optional: [CallFailure], status: Int)] = [
        ([.timeout], [], 504),
        ([.timeout, .timeout], [], 504),
        ([.timeout], [.refused], 504),  // only required failures decide
        ([.timeout], [.status(500)], 504),
        ([.refused], [], 502),
        ([.timeout, .refused], [], 502),
        ([.status(504)], [], 502),
        ([.unreachable("could not resolve host users")], [.timeout], 502),
        ([.invalidBody], [], 502),
        ([.tooLarge], [], 502),
        ([.circuitOpen], [], 503),  // held back by fanout: the partner was not asked
        ([.overloaded(queueLimit: 4)], [.timeout], 503),
        ([.circuitOpen, .skipped("input call 'a' failed")], [], 503),
        ([.circuitOpen, .timeout], [], 502),
        ([.overloaded(queueLimit: 0), .refused], [], 502),
        ([.skipped("input call 'a' failed")], [], 502),
    ]

    @Test(arguments: Self.gatewayStatuses)
    func chooses504ForTimeouts503ForHeldBackCallsElse502(
        _ example: (required: [CallFailure], optional: [CallFailure], status: Int)
    ) throws {
        var outcomes = [Self.answered("ok", "{}")]
        outcomes += example.required.enumerated().map { Self.failed("r\($0.offset)", $0.element) }
        outcomes += example.optional.enumerated().map { Self.failed("o\($0.offset)", $0.element, required: false) }
        let (response, _) = try self.stitch(outcomes)
        #expect(response.status == example.status)
        #expect(!response.complete)
        let errors = try #require(try JSONOracle.object(response.body)["errors"] as? [[String: Any]])
        #expect(errors.count == example.required.count + example.optional.count)
    }

    @Test func treatsNon2xxRequiredAnswerAsStatusFailure() throws {
        let (response, _) = try self.stitch([Self.answered("a", "{}", status: 500)])
        #expect(response.status == 502)
        let errors = try #require(try JSONOracle.object(response.body)["errors"] as? [[String: Any]])
        #expect(errors[0]["status"] as? Int == 500)
    }

    // MARK: - Server-Timing and names

    @Test func formatsServerTimingPerCall() {
        let response = ResponseStitcher.stitch([
            Self.answered("user", "{}", elapsedMs: 12.34),
            Self.failed("ads", .invalidBody, required: false, elapsedMs: 3),
            Self.answered("big-data_2", "[]", elapsedMs: 1234.56),
        ])
        #expect(response.serverTiming == #"user;dur=12.3, ads;dur=3.0;desc="invalid_body", big-data_2;dur=1234.6"#)
    }

    @Test func keepsBodyAndHeaderWellFormedForNonTokenNames() throws {
        let (response, _) = try self.stitch([Self.answered("we\"ird\r\nname", "1")])
        #expect(try JSONOracle.object(response.body)["we\"ird\r\nname"] as? Int == 1)
        #expect(response.serverTiming == "we_ird__name;dur=10.0")
    }

    /// Token names go in whole, others byte by byte: each byte of a multi-byte character becomes one `_`,
    /// whichever of the two comes first in the header.
    @Test func writesTokenNamesWholeAndReplacesEveryOtherByte() {
        let response = ResponseStitcher.stitch([
            Self.answered("café", "1", elapsedMs: 1), Self.answered("plain", "2", elapsedMs: 2),
            Self.answered("a b", "3", elapsedMs: 3),
        ])
        #expect(response.serverTiming == "caf__;dur=1.0, plain;dur=2.0, a_b;dur=3.0")
    }
}
