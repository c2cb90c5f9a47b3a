import Testing

@testable import FanoutCore

/// Resumability: however the bytes are split across calls, the results equal a one-shot parse, and no call
/// leaves accepted bytes to be scanned again.
@Suite struct HTTPRequestParserSplitTests {
    struct Input: Sendable, CustomTestStringConvertible {
        var label: String
        var bytes: [UInt8]
        var requestCount: Int
        var testDescription: String { label }
    }

    static let inputs: [Input] = [
        Input(
            label: "simple GET",
            bytes: [UInt8](request: "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\n\r\n"),
            requestCount: 1
        ),
        Input(
            label: "POST with Content-Length",
            bytes: [UInt8](
                request: "\r\nPOST /p HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 11\r\n\r\nhello world"
            ),
            requestCount: 1
        ),
        Input(
            label: "chunked with extension and trailer",
            bytes: [UInt8](
                request: "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
                    + "5;ext=\"q\\\"v\";x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer-A: 1\r\nB:  two \r\n\r\n"
            ),
            requestCount: 1
        ),
        Input(
            label: "pipelined pair",
            bytes: [UInt8](
                request: "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                    + "GET /2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
            ),
            requestCount: 2
        ),
        Input(
            label: "invalid chunk after valid start",
            bytes: [UInt8](request: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX"),
            requestCount: 0
        ),
    ]

    @Test(arguments: inputs)
    func splittingAtEveryOffsetMatchesOneShotParse(_ input: Input) {
        let oneShot = ParserDriver.run(input.bytes)
        #expect(oneShot.requests.count == input.requestCount)
        #expect(oneShot.leftover == (input.requestCount == 0 ? input.bytes.count : 0))
        #expect(!oneShot.pausedBeforeEnd)
        for k in 0...input.bytes.count {
            let split = ParserDriver.run(input.bytes, arrivals: [k])
            #expect(split == oneShot, "split at \(k)")
        }
    }

    @Test(arguments: inputs)
    func feedingOneByteAtATimeMatchesOneShotParse(_ input: Input) {
        let oneShot = ParserDriver.run(input.bytes)
        let byteAtATime = ParserDriver.run(input.bytes, arrivals: Array(0..<input.bytes.count))
        #expect(byteAtATime == oneShot)
    }

    @Test func oneShotResultsAreTheExpectedOnes() {
        let chunked = ParserDriver.run(Self.inputs[2].bytes)
        #expect(chunked.requests.first?.body == Array("hello world".utf8))
        #expect(chunked.requests.first?.head.expectsContinue == true)
        #expect(chunked.requests.first?.head.headers.count == 3)
        let pair = ParserDriver.run(Self.inputs[3].bytes)
        #expect(pair.consumed == [51, 47])
        #expect(pair.requests.map(\.head.target) == ["/1", "/2"])
        #expect(pair.requests.map(\.head.keepAlive) == [true, false])
        let post = ParserDriver.run(Self.inputs[1].bytes)
        #expect(post.requests.first?.head.keepAlive == true)
        #expect(post.consumed == [Self.inputs[1].bytes.count])
        #expect(ParserDriver.run(Self.inputs[4].bytes).error == .invalidChunk)
    }

    /// A large request delivered one byte at a time: every call accepts all new bytes (the driver checks the
    /// parser's scan offset equals the buffer's end after each `.needMoreData`), so total work is O(n).
    @Test func largeRequestFedByteByByteNeverRescans() {
        let fields = (0..<90).map { "X-Field-\($0): " + String(repeating: "v", count: 300) + "\r\n" }.joined()
        let chunks = (0..<64).map { _ in "400\r\n" + String(repeating: "d", count: 1024) + "\r\n" }.joined()
        let text =
            "POST /" + String(repeating: "p", count: 8000) + " HTTP/1.1\r\nHost: h\r\n" + fields
            + "Transfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n"
        let bytes = [UInt8](request: text)
        let run = ParserDriver.run(bytes, arrivals: Array(0..<bytes.count))
        #expect(run.error == nil)
        #expect(!run.pausedBeforeEnd)
        #expect(run.requests.first?.body.count == 64 * 1024)
        #expect(run.requests.first?.head.headers.count == 92)
        #expect(run.consumed == [bytes.count])
    }

    /// Property: for mutated inputs (valid or not), any split gives the same requests, error and leftover as a
    /// one-shot parse. Deterministic (SplitMix64 with a fixed seed) so failures reproduce.
    @Test func randomSplitsOfMutatedInputsMatchOneShotParse() {
        var random = SplitMix64(seed: 0x5EED_F00D)
        let seeds = Self.inputs.map(\.bytes) + LLHTTPCorpusTests.cases.map(\.request)
        let alphabet = [UInt8]("\r\n :;,\"\\\t0aZ-/#=".utf8) + [0x00, 0x7F, 0xFF]
        for iteration in 0..<3000 {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + random.next() % 3) where !bytes.isEmpty {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                }
            }
            let oneShot = ParserDriver.run(bytes)
            var cuts = (0..<(1 + random.next() % 4)).map { _ in Int(random.next() % UInt64(bytes.count + 1)) }
            cuts.sort()
            let split = ParserDriver.run(bytes, arrivals: cuts)
            #expect(split == oneShot, "iteration \(iteration), cuts \(cuts), input \(bytes)")
            #expect(!oneShot.pausedBeforeEnd && !split.pausedBeforeEnd)
        }
    }
}

/// A small deterministic generator (SplitMix64) for reproducible property tests.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
