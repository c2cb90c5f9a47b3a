import Testing

@testable import FanoutCore

/// Head-first mode, as the server drives it: a request with a body is handed out as `.head`, then its body is
/// either collected (`.complete`) or streamed (`.bodyPart`s and `.bodyEnd`) under a per-request limit.
@Suite struct HTTPRequestParserHeadFirstTests {
    /// What a head-first run saw.
    struct Run: Equatable {
        var heads: [String] = []
        var bodies: [[UInt8]] = []
        var completed: [String] = []
        var error: HTTPParserError?
        /// Largest single `.bodyPart`: streaming never needs the whole body at once.
        var largestPart = 0
    }

    /// Feeds `bytes` in pieces of `step` bytes (the server's reads), dropping consumed bytes as the server does.
    static func run(_ bytes: [UInt8], step: Int, limit: Int = 1 << 20, streamed: Bool) -> Run {
        var parser = HTTPRequestParser(limits: HTTPParserLimits())
        parser.headFirst = true
        var run = Run()
        var buffer: [UInt8] = []
        var sent = 0
        var streamingBody: [UInt8]?
        while true {
            let result = buffer.withUnsafeBytes { raw in
                Result { () throws(HTTPParserError) -> HTTPParseResult in try parser.parse(raw) }
            }
            switch result {
            case .failure(let error):
                run.error = error
                return run
            case .success(.needMoreData):
                guard sent < bytes.count else { return run }
                let next = min(bytes.count, sent + step)
                buffer.append(contentsOf: bytes[sent..<next])
                sent = next
            case .success(.head(let head, let consumed)):
                buffer.removeFirst(consumed)
                run.heads.append("\(head.method) \(head.target)")
                do throws(HTTPParserError) {
                    try parser.beginBody(limit: limit, streamed: streamed)
                } catch {
                    run.error = error
                    return run
                }
                if streamed { streamingBody = [] }
            case .success(.bodyPart(let range, let consumed)):
                streamingBody?.append(contentsOf: buffer[range])
                run.largestPart = max(run.largestPart, range.count)
                buffer.removeFirst(consumed)
            case .success(.bodyEnd(let consumed)):
                buffer.removeFirst(consumed)
                run.bodies.append(streamingBody ?? [])
                streamingBody = nil
            case .success(.complete(let request, let consumed)):
                buffer.removeFirst(consumed)
                run.completed.append("\(request.head.method) \(request.head.target)")
                run.bodies.append(request.body)
            }
        }
    }

    static let chunked = [UInt8](
        request: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer-A: 1\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    static let fixed = [UInt8](
        request: "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
            + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")

    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func streamedBodiesEqualBufferedOnes(step: Int) {
        for bytes in [Self.chunked, Self.fixed] {
            let streamed = Self.run(bytes, step: step, streamed: true)
            let buffered = Self.run(bytes, step: step, streamed: false)
            #expect(streamed.error == nil)
            #expect(streamed.bodies.first == Array("hello world".utf8))
            #expect(streamed.bodies == buffered.bodies)
            // The pipelined GET after the body is parsed as its own request in both modes.
            #expect(streamed.completed.last == "GET /next")
            #expect(buffered.completed.last == "GET /next")
            #expect(streamed.largestPart <= max(step, 1))
        }
    }

    @Test func requestsWithoutBodyStillCompleteDirectly() {
        let run = Self.run(
            [UInt8](request: "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), step: 100, streamed: true)
        #expect(run.heads.isEmpty)
        #expect(run.completed == ["GET /a"])
    }

    @Test func contentLengthOverTheRequestsLimitIsRefusedBeforeAnyBodyByte() {
        let run = Self.run(
            [UInt8](request: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"), step: 1000, limit: 99,
            streamed: true)
        #expect(run.heads == ["POST /p"])
        #expect(run.error == .bodyTooLarge)
    }

    @Test func headFirstDefersTheGlobalLimitToBeginBody() {
        // 2 MiB declared: over the default 1 MiB limit, but this request's limit is larger.
        let head = [UInt8](request: "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 2097152\r\n\r\n")
        let body = [UInt8](repeating: 0x61, count: 2_097_152)
        let run = Self.run(head + body, step: 65536, limit: 4 << 20, streamed: true)
        #expect(run.error == nil)
        #expect(run.bodies.first?.count == 2_097_152)
        #expect(run.largestPart <= 65536)
    }

    @Test func chunkedTotalOverTheRequestsLimitIsRefused() {
        let bytes = [UInt8](
            request:
                "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
        )
        let run = Self.run(bytes, step: 5, limit: 12, streamed: true)
        #expect(run.error == .bodyTooLarge)
    }

    @Test func badChunkFramingInAStreamedBodyFails() {
        let bytes = [UInt8](request: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX")
        let run = Self.run(bytes, step: 3, streamed: true)
        #expect(run.error == .invalidChunk)
    }
}
