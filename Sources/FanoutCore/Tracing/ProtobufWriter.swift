/// The protobuf wire format, as much as OTLP needs (https://protobuf.dev/programming-guides/encoding/):
/// varints, 64-bit fixed and double fields, and length-delimited fields (strings, bytes, nested messages).
///
/// Fields are appended in the order they are written; a field whose value is the proto3 default is still
/// written when asked for (callers leave defaults out themselves). A nested message is written into a writer
/// of its own and appended with its length, which keeps the code simple at the cost of one copy per level.
public struct ProtobufWriter: Sendable {
    /// The wire types this writer produces.
    enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
    }

    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// A base-128 varint: seven bits per byte, least significant group first, high bit set on all but the last.
    public mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func appendTag(_ field: Int, _ wireType: WireType) {
        appendVarint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// A `uint32`, `uint64`, `bool` or enum field.
    public mutating func varintField(_ field: Int, _ value: UInt64) {
        appendTag(field, .varint)
        appendVarint(value)
    }

    /// An `int64` field: negative values take ten bytes (two's complement, not zigzag).
    public mutating func int64Field(_ field: Int, _ value: Int64) {
        varintField(field, UInt64(bitPattern: value))
    }

    public mutating func boolField(_ field: Int, _ value: Bool) {
        varintField(field, value ? 1 : 0)
    }

    /// A `fixed64` field: eight bytes, little-endian.
    public mutating func fixed64Field(_ field: Int, _ value: UInt64) {
        appendTag(field, .fixed64)
        var value = value
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: value))
            value >>= 8
        }
    }

    /// A `double` field: the IEEE 754 bits as a fixed64.
    public mutating func doubleField(_ field: Int, _ value: Double) {
        fixed64Field(field, value.bitPattern)
    }

    public mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func stringField(_ field: Int, _ value: String) {
        appendTag(field, .lengthDelimited)
        appendVarint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A nested message, written by `body` into a writer of its own.
    public mutating func messageField(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        body(&nested)
        bytesField(field, nested.bytes)
    }
}
