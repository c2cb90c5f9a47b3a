import FanoutCore
import Testing

@Suite struct RESPTests {
    private func parseAll(_ text: String, splitEvery size: Int) throws -> [RESPValue] {
        var parser = RESPParser()
        var values: [RESPValue] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            parser.append(bytes[index..<min(index + size, bytes.count)])
            index += size
            while let value = try parser.next() { values.append(value) }
        }
        return values
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        #expect(
            String(decoding: RESPEncoder.encode(["GET", "fanout:k"]), as: UTF8.self)
                == "*2\r\n$3\r\nGET\r\n$8\r\nfanout:k\r\n")
        #expect(
            String(decoding: RESPEncoder.encode(["SET", "é", ""]), as: UTF8.self)
                == "*3\r\n$3\r\nSET\r\n$2\r\né\r\n$0\r\n\r\n")
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func parsesEveryTypeWhateverTheSplit(size: Int) throws {
        let wire =
            "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhe\r\nl\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
            + "*3\r\n$7\r\nmessage\r\n*2\r\n:1\r\n+x\r\n$1\r\nz\r\n"
        let values = try parseAll(wire, splitEvery: size)
        #expect(
            values == [
                .simpleString("OK"), .error("ERR wrong"), .integer(42), .integer(-7),
                .bulkString(Array("he\r\nl".utf8)), .bulkString([]), .null, .null, .array([]),
                .array([
                    .bulkString(Array("message".utf8)), .array([.integer(1), .simpleString("x")]), .bulkString([122]),
                ]),
            ])
    }

    @Test func waitsForTheRestOfAPartialValue() throws {
        var parser = RESPParser()
        parser.append(Array("*2\r\n$3\r\nfo".utf8))
        #expect(try parser.next() == nil)
        parser.append(Array("o\r\n".utf8))
        #expect(try parser.next() == nil)
        parser.append(Array(":1\r\n+PONG\r".utf8))
        #expect(try parser.next() == .array([.bulkString(Array("foo".utf8)), .integer(1)]))
        #expect(try parser.next() == nil)
        parser.append([10])
        #expect(try parser.next() == .simpleString("PONG"))
        #expect(parser.bufferedBytes == 0)
    }

    @Test func refusesWhatIsNotRESP() {
        var parser = RESPParser(maxLength: 10)
        parser.append(Array("HTTP/1.1 200\r\n".utf8))
        #expect(throws: RESPParseError.unknownType(UInt8(ascii: "H"))) { try parser.next() }
        var length = RESPParser(maxLength: 10)
        length.append(Array("$11\r\n".utf8))
        #expect(throws: RESPParseError.tooLarge(11)) { try length.next() }
        var number = RESPParser()
        number.append(Array(":4x\r\n".utf8))
        #expect(throws: RESPParseError.invalidNumber) { try number.next() }
        var terminator = RESPParser()
        terminator.append(Array("$2\r\nabcd".utf8))
        #expect(throws: RESPParseError.missingTerminator) { try terminator.next() }
    }

    @Test func backoffDoublesUpToHalfASecond() {
        var backoff = StoreBackoff()
        #expect((0..<6).map { _ in backoff.failed() } == [50, 100, 200, 400, 500, 500])
        backoff.connected()
        #expect(backoff.failed() == 50)
    }

    @Test func healthReportsEachStateChangeOnce() {
        var health = StoreHealth()
        #expect(health.failed(reason: "refused", now: 0) == .unavailable(reason: "refused"))
        #expect(health.failed(reason: "refused", now: 1) == nil)
        #expect(health.ready(now: 2) == .connected)
        #expect(health.ready(now: 3) == nil)
        #expect(health.failed(reason: "closed", now: 1_000_000_000) == .unavailable(reason: "closed"))
        #expect(health.failed(reason: "refused", now: 1_100_000_000) == nil)
        #expect(health.ready(now: 1_250_000_000) == .reconnected(afterMs: 250))
        #expect(health.isAvailable)
    }
}
