import Testing

@testable import FanoutCore

/// The one writer of measured text (a response head, a `Server-Timing` value): each kind of piece lands where
/// it is measured to, and `count`/`isFull` say how much of the room was written.
@Suite struct MeasuredWriterTests {
    /// Writes with `body` into room of `size` bytes; the text written and whether the room was filled.
    private static func written(size: Int, _ body: (inout MeasuredWriter) -> Void) -> (text: String, full: Bool) {
        var bytes = [UInt8](repeating: UInt8(ascii: "#"), count: size)
        var full = false
        var count = 0
        bytes.withUnsafeMutableBytes { room in
            var writer = MeasuredWriter(room)
            body(&writer)
            full = writer.isFull
            count = writer.count
        }
        return (String(decoding: bytes[..<count], as: UTF8.self), full)
    }

    @Test func piecesOfEveryKindFollowEachOther() {
        let name = "profile"
        let nonASCII = "é→x"
        let result = Self.written(size: 32) { out in
            out.write("HTTP/1.1 ")
            out.writeDecimal(200)
            out.write(UInt8(ascii: " "))
            out.write(name)
            out.write(nonASCII)
            Array("ok".utf8).withUnsafeBufferPointer { out.write($0) }
            out.write(UnsafeBufferPointer<UInt8>(start: nil, count: 0))  // nothing
        }
        #expect(result.text == "HTTP/1.1 200 profileé→xok")
        #expect(!result.full)
    }

    @Test(arguments: [
        (0, "0"), (7, "7"), (10, "10"), (-5, "-5"), (1_234_567_890_123, "1234567890123"),
        (Int.max, "9223372036854775807"), (Int.min, "-9223372036854775808"),
    ])
    func decimalsTakeExactlyTheirMeasuredLength(value: Int, text: String) {
        let result = Self.written(size: decimalLength(value)) { $0.writeDecimal(value) }
        #expect(result.text == text)
        #expect(result.full)
    }

    @Test(arguments: [
        (0, "0.0"), (5, "0.5"), (123, "12.3"), (-15, "-1.5"), (-3, "-0.3"), (Int.min, "-922337203685477580.8"),
    ])
    func tenthsHaveOneDecimal(tenths: Int, text: String) {
        let result = Self.written(size: 21) { $0.writeTenths(tenths) }
        #expect(result.text == text)
        #expect(result.full == (text.utf8.count == 21))
    }
}
