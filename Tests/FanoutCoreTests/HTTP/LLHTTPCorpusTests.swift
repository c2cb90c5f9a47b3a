import Foundation
import Testing

@testable import FanoutCore

/// The 131 request cases extracted from llhttp's test suite (`Resources/llhttp-request-cases.json`).
///
/// Each case is parsed the way the server would: repeatedly, dropping consumed bytes, while the previous request
/// kept the connection alive (and did not ask to upgrade) and bytes remain.
/// - `accept`: at least one complete request and no error.
/// - `reject`: an error, or the input ends mid-message (a server would never answer it), or the input needed a
///   message after a request that ended the connection.
///
/// 113 cases hold exactly as llhttp states them. 18 carry an explicit fanout expectation, each with its reason
/// in `Self.fanoutExpectations`: 6 where llhttp's "accept" only means "no error before the input ran out" (the
/// head is accepted, the body never completes), 9 where fanout is deliberately stricter than llhttp, 1 refused
/// as llhttp does but with 501 instead of 400, and 2 where fanout deliberately accepts what llhttp (which knows a
/// fixed method list) refuses.
@Suite struct LLHTTPCorpusTests {
    struct CorpusCase: Sendable, CustomTestStringConvertible {
        var index: Int
        var file: String
        var title: String
        var request: [UInt8]
        var expect: String
        var testDescription: String { "#\(index) \(file): \(title) [\(expect)]" }
        var key: String { "\(file): \(title)" }
    }

    enum Expectation: Sendable, Equatable {
        /// At least one complete request, no error.
        case accept
        /// An error, an incomplete message, or bytes after a request that ended the connection.
        case reject
        /// This exact error.
        case rejectWith(HTTPParserError)
        /// No error, no complete request: the head is accepted and the parser waits for the rest of the body.
        case headAcceptedBodyIncomplete
    }

    /// Cases whose fanout expectation differs from llhttp's label, keyed by `file: title`, with why.
    static let fanoutExpectations: [String: (Expectation, reason: String)] = [
        // llhttp "accept" means "no error until the input ended"; these inputs end inside the body.
        "content-length.md: Spaces in `Content-Length` (surrounding)": (
            .headAcceptedBodyIncomplete, "Content-Length 42 (trimmed) and no body bytes follow"
        ),
        "content-length.md: Tabs in `Content-Length` (surrounding)": (
            .headAcceptedBodyIncomplete, "Content-Length 42 (trimmed) and no body bytes follow"
        ),
        "content-length.md: Content-Length reset when no body is received": (
            .headAcceptedBodyIncomplete,
            "llhttp runs this with skipBody (an on_headers_complete that returns 1, as for a HEAD response); a "
                + "request server always reads the body, so the next request's 43 bytes are body and 80 are missing"
        ),
        "transfer-encoding.md: Parsing and setting flag": (
            .headAcceptedBodyIncomplete, "chunked body announced, no chunk sent"
        ),
        "transfer-encoding.md: Chunk extensions": (
            .headAcceptedBodyIncomplete, "ends after the last-chunk line; the final CRLF (empty trailer) is missing"
        ),
        "transfer-encoding.md: Chunk extensions quoting": (
            .headAcceptedBodyIncomplete, "ends after the last-chunk line; the final CRLF (empty trailer) is missing"
        ),
        // fanout is stricter than llhttp by design.
        "method.md: M-SEARCH request": (
            .rejectWith(.invalidRequestTarget), "asterisk-form is only for OPTIONS (RFC 9112 §3.2.4); SSDP is not HTTP"
        ),
        "method.md: PRI request HTTP2": (
            .rejectWith(.invalidRequestTarget),
            "`PRI *` is the HTTP/2 preface; fanout speaks HTTP/1.x only and asterisk-form is only for OPTIONS"
        ),
        "method.md: SOURCE request with ICE": (
            .rejectWith(.invalidVersion), "only HTTP/d.d versions exist for fanout; ICE/1.0 is another protocol"
        ),
        "method.md: OPTIONS request with RTSP": (
            .rejectWith(.invalidVersion), "RTSP/1.0 is another protocol"
        ),
        "method.md: ANNOUNCE request with RTSP": (
            .rejectWith(.invalidVersion), "RTSP/1.0 is another protocol"
        ),
        "sample.md: No HTTP version": (
            .rejectWith(.invalidRequestLine), "an HTTP/0.9-style request line without version; RFC 9112 §3 requires it"
        ),
        "uri.md: Fragment in URI": (
            .rejectWith(.invalidRequestTarget),
            "a `#` in the request-target is refused (HAProxy default, hardening §4.3)"
        ),
        "transfer-encoding.md: POST with `chunked` as last transfer-encoding": (
            .rejectWith(.invalidRequestTarget),
            "the target has a `#hey` fragment; without it `deflate, chunked` is still refused with 501 "
                + "(fanout decodes no content codings; RFC 9112 §6.1), see the framing rejection table"
        ),
        "transfer-encoding.md: POST with `chunked` as last transfer-encoding (multiple headers)": (
            .rejectWith(.invalidRequestTarget),
            "the target has a `#hey` fragment; without it `deflate` + `chunked` fields are refused with 501"
        ),
        "transfer-encoding.md: Ignoring `pigeons`": (
            .rejectWith(.unsupportedTransferCoding),
            "llhttp expects 400; fanout answers 501 for an unknown coding (RFC 9112 §6.1 SHOULD 501) and closes"
        ),
        // llhttp refuses methods outside its fixed list; fanout accepts any token (routing answers 405/501).
        "invalid.md: HTTP protocol and ANNOUNCE method": (
            .accept, "ANNOUNCE is a token; which methods are served is routing's decision (405/501), not the parser's"
        ),
        "invalid.md: Invalid method": (
            .accept, "MKCOLA is a token; which methods are served is routing's decision (405/501), not the parser's"
        ),
    ]

    static let resource = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Resources/llhttp-request-cases.json")

    static func loadCases() -> [CorpusCase] {
        guard let data = try? Data(contentsOf: resource),
            let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { return [] }
        return list.enumerated().compactMap { index, entry in
            guard let file = entry["file"] as? String, let title = entry["title"] as? String,
                let request = entry["request"] as? String, let expect = entry["expect"] as? String
            else { return nil }
            return CorpusCase(index: index, file: file, title: title, request: Array(request.utf8), expect: expect)
        }
    }

    static let cases = loadCases()

    /// Every corpus request, cut into two deliveries at every byte offset, parses exactly as in one piece:
    /// same requests, same consumed counts, same error.
    @Test(arguments: cases)
    func splitAtEveryByteOffsetParsesLikeOneShot(_ testCase: CorpusCase) {
        let whole = ParserDriver.run(testCase.request, followConnection: true)
        for cut in 1..<max(1, testCase.request.count) {
            let split = ParserDriver.run(testCase.request, arrivals: [cut], followConnection: true)
            #expect(split.requests == whole.requests, "cut at \(cut)")
            #expect(split.consumed == whole.consumed, "cut at \(cut)")
            #expect(split.error == whole.error, "cut at \(cut)")
        }
    }

    @Test func corpusHas131CasesAnd18FanoutExpectations() {
        #expect(Self.cases.count == 131)
        let keys = Set(Self.cases.map(\.key))
        for key in Self.fanoutExpectations.keys {
            #expect(keys.contains(key), "expectation for a case that is not in the corpus: \(key)")
        }
        let overridden = Self.cases.filter { Self.fanoutExpectations[$0.key] != nil }
        #expect(overridden.count == 18)
        #expect(Self.cases.count - overridden.count == 113)
    }

    @Test(arguments: cases)
    func llhttpCaseHolds(_ testCase: CorpusCase) {
        let run = ParserDriver.run(testCase.request, followConnection: true)
        #expect(!run.pausedBeforeEnd)
        let expectation: Expectation
        if let (fanout, _) = Self.fanoutExpectations[testCase.key] {
            expectation = fanout
        } else {
            expectation = testCase.expect == "accept" ? .accept : .reject
            #expect(testCase.expect == "accept" || testCase.expect.hasPrefix("reject"))
        }
        let endedMidMessage = run.error == nil && run.leftover > 0 && !run.stoppedAtConnectionEnd
        switch expectation {
        case .accept:
            #expect(run.error == nil, "\(run)")
            #expect(!run.requests.isEmpty, "\(run)")
        case .reject:
            #expect(run.error != nil || endedMidMessage || run.stoppedAtConnectionEnd, "\(run)")
        case .rejectWith(let error):
            #expect(run.error == error, "\(run)")
        case .headAcceptedBodyIncomplete:
            #expect(run.error == nil, "\(run)")
            #expect(run.requests.isEmpty, "\(run)")
            #expect(run.hadPendingHead, "\(run)")
        }
    }
}
