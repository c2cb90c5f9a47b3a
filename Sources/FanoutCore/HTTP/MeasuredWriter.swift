/// Writes the pieces of a text into room measured for them beforehand: the caller adds up the pieces' lengths,
/// makes the room once (in an `Array` or a `String`'s own storage), and copies each piece in.
///
/// Appended piece by piece instead, each `Array.append(contentsOf:)` of a few bytes took about 175 instructions
/// (a response head has about 20 pieces), and a `Server-Timing` value built in a `JSONWriter` and decoded into a
/// `String` about 2,400 for three calls (callgrind). A write past the room measured stops the process: the
/// measuring was wrong.
struct MeasuredWriter {
    private let start: UnsafeMutableRawPointer
    private let end: UnsafeMutableRawPointer
    private var next: UnsafeMutableRawPointer

    /// A writer into `room`, which must have a base address (room for at least one byte).
    init(_ room: UnsafeMutableRawBufferPointer) {
        start = room.baseAddress!
        end = start + room.count
        next = start
    }

    /// The bytes written so far.
    var count: Int { next - start }

    /// Whether the room measured is exactly filled.
    var isFull: Bool { next == end }

    @inline(__always)
    private mutating func advance(by length: Int) -> UnsafeMutableRawPointer {
        precondition(end - next >= length, "a text was measured shorter than it is written")
        defer { next += length }
        return next
    }

    @inline(__always)
    mutating func write(_ byte: UInt8) {
        advance(by: 1).storeBytes(of: byte, as: UInt8.self)
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        advance(by: bytes.count).copyMemory(from: source, byteCount: bytes.count)
    }

    @inline(__always)
    mutating func write(_ literal: StaticString) {
        write(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func write(_ text: String) {
        // A native string's bytes are read in place; `withUTF8` needs a `var` copy of the string.
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { write($0) }
        if done == nil {
            var text = text
            text.withUTF8 { write($0) }
        }
    }

    /// `value` in decimal: ``decimalLength(_:)`` bytes.
    @inline(__always)
    mutating func writeDecimal(_ value: Int) {
        let count = decimalLength(value)
        let base = advance(by: count)
        if value < 0 { base.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self) }
        var rest = value.magnitude
        var position = count - 1
        repeat {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: position, as: UInt8.self)
            rest /= 10
            position -= 1
        } while rest > 0
    }

    /// `tenths` as `12.3` (``JSONWriter/appendDouble(milliseconds:)``'s form): at most 21 bytes.
    mutating func writeTenths(_ tenths: Int) {
        if tenths < 0 { write(UInt8(ascii: "-")) }
        let magnitude = tenths.magnitude
        writeDecimal(Int(magnitude / 10))
        write(UInt8(ascii: "."))
        write(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10))
    }
}
