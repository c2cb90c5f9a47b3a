import Testing

@testable import FanoutCore

@Suite struct ResponseBodyFramerTests {
    /// Appends each part through `framer`, then finishes it.
    private static func write(_ parts: [String], with framer: inout ResponseBodyFramer) -> (
        String, ResponseBodyFramer.Ending
    ) {
        var out: [UInt8] = []
        for part in parts {
            Array(part.utf8).withUnsafeBytes { framer.append($0, to: &out) }
        }
        let ending = framer.finish(into: &out)
        return (String(decoding: out, as: UTF8.self), ending)
    }

    @Test func aDeclaredLengthFramesExactlyThatManyBytes() {
        var framer = ResponseBodyFramer(status: 200, declaredLength: 5, http10: false, headOnly: false, keepAlive: true)
        #expect(framer.framing == .contentLength(5))
        #expect(framer.keepAlive)
        let (out, ending) = Self.write(["he", "llo"], with: &framer)
        #expect(out == "hello")
        #expect(ending == .complete)
    }

    @Test func bytesPastTheDeclaredLengthAreDroppedAndEndTheConnection() {
        var framer = ResponseBodyFramer(status: 200, declaredLength: 0, http10: false, headOnly: false, keepAlive: true)
        let smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        let (out, ending) = Self.write(["", smuggled], with: &framer)
        #expect(out == "")
        #expect(ending == .overran(dropped: smuggled.utf8.count))

        var partly = ResponseBodyFramer(status: 200, declaredLength: 3, http10: false, headOnly: false, keepAlive: true)
        let (cut, partlyEnding) = Self.write(["ab", "cdef"], with: &partly)
        #expect(cut == "ab")  // the held-back last byte never goes out: the client sees a short body
        #expect(partlyEnding == .overran(dropped: 3))
        #expect(partly.written == 3)
        #expect(partly.dropped == 3)
    }

    @Test func theLastDeclaredByteWaitsForTheEnd() {
        var framer = ResponseBodyFramer(status: 200, declaredLength: 4, http10: false, headOnly: false, keepAlive: true)
        var out: [UInt8] = []
        Array("abcd".utf8).withUnsafeBytes { framer.append($0, to: &out) }
        #expect(out == Array("abc".utf8))
        #expect(framer.finish(into: &out) == .complete)
        #expect(out == Array("abcd".utf8))

        var one = ResponseBodyFramer(status: 200, declaredLength: 1, http10: false, headOnly: false, keepAlive: true)
        var single: [UInt8] = []
        Array("x".utf8).withUnsafeBytes { one.append($0, to: &single) }
        #expect(single.isEmpty)
        #expect(one.finish(into: &single) == .complete)
        #expect(single == [UInt8(ascii: "x")])
    }

    @Test func aShortBodyIsReported() {
        var framer = ResponseBodyFramer(
            status: 200, declaredLength: 10, http10: false, headOnly: false, keepAlive: true)
        let (out, ending) = Self.write(["abc"], with: &framer)
        #expect(out == "abc")
        #expect(ending == .short(missing: 7))
    }

    /// The answer may be finished when libcurl reports it whole, and again by the transfer's completion: the
    /// second time appends nothing (no second last byte, no second last chunk) and answers the same.
    @Test(arguments: [5, nil] as [Int?])
    func aBodyEndsOnce(_ declaredLength: Int?) {
        var framer = ResponseBodyFramer(
            status: 200, declaredLength: declaredLength, http10: false, headOnly: false, keepAlive: true)
        #expect(framer.ending == nil)
        let (out, ending) = Self.write(["he", "llo"], with: &framer)
        #expect(out == (declaredLength == nil ? "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n" : "hello"))
        #expect(ending == .complete)
        var more: [UInt8] = []
        let again = framer.finish(into: &more)
        #expect(again == .complete)
        #expect(more.isEmpty)
        #expect(framer.ending == .complete)
    }

    @Test func aShortBodyStaysShortWhenEndedAgain() {
        var framer = ResponseBodyFramer(status: 200, declaredLength: 4, http10: false, headOnly: false, keepAlive: true)
        let (out, ending) = Self.write(["ab"], with: &framer)
        #expect(out == "ab")
        #expect(ending == .short(missing: 2))
        var more: [UInt8] = []
        let again = framer.finish(into: &more)
        #expect(again == .short(missing: 2))
        #expect(more.isEmpty)
    }

    @Test func withoutALengthAnHTTP11ClientGetsChunks() {
        var framer = ResponseBodyFramer(
            status: 200, declaredLength: nil, http10: false, headOnly: false, keepAlive: true)
        #expect(framer.framing == .chunked)
        #expect(framer.keepAlive)
        let (out, ending) = Self.write(["abc", "", String(repeating: "x", count: 26)], with: &framer)
        #expect(out == "3\r\nabc\r\n1a\r\n\(String(repeating: "x", count: 26))\r\n0\r\n\r\n")
        #expect(ending == .complete)
    }

    @Test func withoutALengthAnHTTP10ClientGetsTheBodyUntilTheConnectionCloses() {
        var framer = ResponseBodyFramer(
            status: 200, declaredLength: nil, http10: true, headOnly: false, keepAlive: true)
        #expect(framer.framing == .untilClose)
        #expect(!framer.keepAlive)
        let (out, ending) = Self.write(["abc", "def"], with: &framer)
        #expect(out == "abcdef")
        #expect(ending == .complete)
    }

    @Test func aHeadAnswerKeepsItsLengthButFramesNoByte() {
        var framer = ResponseBodyFramer(
            status: 200, declaredLength: 1234, http10: false, headOnly: true, keepAlive: true)
        #expect(framer.framing == .contentLength(1234))
        #expect(framer.keepAlive)
        #expect(Self.write([], with: &framer) == ("", .complete))

        var stray = ResponseBodyFramer(
            status: 200, declaredLength: 1234, http10: false, headOnly: true, keepAlive: true)
        #expect(Self.write(["body"], with: &stray) == ("", .overran(dropped: 4)))

        var unknown = ResponseBodyFramer(
            status: 200, declaredLength: nil, http10: true, headOnly: true, keepAlive: true)
        #expect(unknown.framing == .untilClose)
        #expect(unknown.keepAlive)
        #expect(Self.write([], with: &unknown) == ("", .complete))
    }

    @Test(arguments: [101, 204, 304])
    func bodylessStatusesFrameNoByte(_ status: Int) {
        var framer = ResponseBodyFramer(
            status: status, declaredLength: nil, http10: false, headOnly: false, keepAlive: true)
        #expect(framer.keepAlive)
        #expect(Self.write(["x"], with: &framer) == ("", .overran(dropped: 1)))
        var empty = ResponseBodyFramer(
            status: status, declaredLength: nil, http10: false, headOnly: false, keepAlive: true)
        #expect(Self.write([], with: &empty) == ("", .complete))
    }

    @Test func aConnectionThatClosesAnywayStaysClosing() {
        let framer = ResponseBodyFramer(
            status: 200, declaredLength: 3, http10: false, headOnly: false, keepAlive: false)
        #expect(!framer.keepAlive)
    }

    @Test(arguments: [1, 9, 10, 15, 16, 255, 256, 4095, 65_536, 1_000_000])
    func chunkSizesAreLowercaseHex(_ size: Int) {
        var out: [UInt8] = []
        [UInt8](repeating: 0x61, count: size).withUnsafeBytes { HTTPResponse.appendChunk($0, to: &out) }
        let line = String(decoding: out.prefix(while: { $0 != 13 }), as: UTF8.self)
        #expect(line == String(size, radix: 16))
        #expect(out.count == line.utf8.count + 2 + size + 2)
    }

    // MARK: - The serializer never copies framing fields

    @Test func theHeadSerializerLeavesOutEveryFramingFieldItWasGiven() {
        let response = HTTPResponse(
            status: 200,
            headers: [
                ("Content-Length", "0"), ("transfer-encoding", "chunked"), ("Connection", "keep-alive, X-Hop"),
                ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "close"), ("Trailer", "X-Sum"), ("UPGRADE", "h2c"),
                ("X-Kept", "1"), ("Content-Type", "application/json"),
            ])
        var out: [UInt8] = []
        response.serializeHead(into: &out, date: "D", keepAlive: true, http10: false, framing: .contentLength(7))
        #expect(
            String(decoding: out, as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nDate: D\r\nX-Kept: 1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
        )
    }

    /// A proxied answer's partner lines go out as they came, after Date and before fanout's own fields; the
    /// framing fields among them were left out when they arrived, and the serializer writes its own.
    @Test func passedPartnerLinesGoBetweenDateAndFanoutsFields() {
        var lines = ProxiedHeaderLines()
        for (name, value) in [
            ("Server", "s"), ("Content-Length", "99"), ("Content-Type", "text/plain"), ("X-Empty", ""),
        ] {
            Array(name.utf8).withUnsafeBytes { name in
                Array(value.utf8).withUnsafeBytes { value in lines.append(name: name, value: value) }
            }
        }
        let response = HTTPResponse(status: 404, headers: [("X-Request-Id", "r1")])
        var out: [UInt8] = []
        response.serializeHead(
            into: &out, date: "D", keepAlive: false, http10: false, framing: .chunked, passing: lines)
        #expect(
            String(decoding: out, as: UTF8.self)
                == "HTTP/1.1 404 Not Found\r\nDate: D\r\nServer: s\r\nContent-Type: text/plain\r\nX-Empty: \r\n"
                + "X-Request-Id: r1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        var none: [UInt8] = []
        response.serializeHead(
            into: &none, date: "D", keepAlive: true, http10: false, framing: .contentLength(0),
            passing: ProxiedHeaderLines())
        #expect(
            String(decoding: none, as: UTF8.self)
                == "HTTP/1.1 404 Not Found\r\nDate: D\r\nX-Request-Id: r1\r\nContent-Length: 0\r\n\r\n")
    }
}
