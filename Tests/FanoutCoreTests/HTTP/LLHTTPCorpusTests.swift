import FanoutTestSupport
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
///
/// **Host.** 87 cases are HTTP/1.1 without a Host field; 53 of them fanout would otherwise accept (or wait on for
/// their body). RFC 9112 §3.2 says a server MUST answer such a request with 400, so fanout refuses them
/// (`.missingHost`); for the cases as given this one rule is the only deviation beyond the 18 above. Each of the
/// 87 also runs as a variant with `Host: llhttp.test` after every HTTP/1.1 request line
/// (`LLHTTPCorpus.Case.addingHost()`), which must meet the case's label or fanout expectation, so what the case
/// was written to test is still tested.
@Suite struct LLHTTPCorpusTests {
    struct CorpusCase: Sendable, CustomTestStringConvertible {
        var corpusCase: LLHTTPCorpus.Case
        var request: [UInt8] { corpusCase.request }
        var expect: String { corpusCase.expect }
        var key: String { corpusCase.key }
        var testDescription: String {
            "#\(corpusCase.index) \(key) [\(expect)]\(corpusCase.hostAdded ? " +Host" : "")"
        }
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
                + "request server always reads the body, so the next request's 43 bytes (62 with Host added) are "
                + "body and the rest is missing"
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

    /// The corpus as given (empty if the file cannot be read; `corpusHas131Cases…` then fails).
    static let cases: [CorpusCase] = ((try? LLHTTPCorpus.load(from: resource)) ?? []).map(CorpusCase.init)

    /// The HTTP/1.1 cases without Host, with `Host: llhttp.test` added.
    static let hostVariants: [CorpusCase] = cases.compactMap { testCase in
        guard testCase.corpusCase.lacksHostOnHTTP11 else { return nil }
        return testCase.corpusCase.addingHost().map(CorpusCase.init)
    }

    static let casesAndHostVariants = cases + hostVariants

    /// What the parser must do with `testCase`: the label, or the fanout expectation; and for an HTTP/1.1 case
    /// without Host that would otherwise be accepted, `.missingHost` (RFC 9112 §3.2).
    static func expectation(for testCase: CorpusCase) -> Expectation {
        let base: Expectation
        if let (fanout, _) = fanoutExpectations[testCase.key] {
            base = fanout
        } else {
            base = testCase.expect == "accept" ? .accept : .reject
        }
        guard testCase.corpusCase.lacksHostOnHTTP11 else { return base }
        switch base {
        case .accept, .headAcceptedBodyIncomplete: return .rejectWith(.missingHost)
        case .reject, .rejectWith: return base
        }
    }

    /// Every corpus request, cut into two deliveries at every byte offset, parses exactly as in one piece:
    /// same requests, same consumed counts, same error.
    @Test(arguments: casesAndHostVariants)
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

    @Test func eightySevenCasesLackHostAndFiftyThreeOfThemAreRefusedForIt() {
        #expect(Self.hostVariants.count == 87)
        #expect(Self.cases.filter(\.corpusCase.lacksHostOnHTTP11).count == 87)
        let refusedForHost = Self.cases.filter { Self.expectation(for: $0) == .rejectWith(.missingHost) }
        #expect(refusedForHost.count == 53)
        for variant in Self.hostVariants {
            #expect(!variant.corpusCase.lacksHostOnHTTP11, "\(variant.testDescription)")
        }
    }

    @Test(arguments: casesAndHostVariants)
    func llhttpCaseHolds(_ testCase: CorpusCase) {
        let run = ParserDriver.run(testCase.request, followConnection: true)
        #expect(!run.pausedBeforeEnd)
        #expect(testCase.expect == "accept" || testCase.corpusCase.rejectStatus != nil)
        let endedMidMessage = run.error == nil && run.leftover > 0 && !run.stoppedAtConnectionEnd
        switch Self.expectation(for: testCase) {
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
