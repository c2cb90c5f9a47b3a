/// Comparisons of bytes with a lowercase ASCII literal, ignoring ASCII case: header names, tokens, media types
/// and content codings. The one copy of that loop: the request parser, the partner's header lines
/// (`CurlTransfer`), the stitcher's media types and the `Accept-Encoding` codings all call it.
///
/// Contiguous bytes get an indexed loop, always inlined: the generic one over a `Collection` (an iterator, not
/// inlined) cost a plain proxy answer about 400 instructions more in its header lines (callgrind).
public enum ASCIICase {
    /// Whether `bytes` are exactly `lowercase` (given in lowercase ASCII), ignoring ASCII case.
    @inlinable @inline(__always)
    public static func equals(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        bytes.count == lowercase.utf8CodeUnitCount && hasPrefix(bytes, lowercase)
    }

    /// Whether `bytes` start with `lowercase` (given in lowercase ASCII), ignoring ASCII case.
    @inlinable @inline(__always)
    public static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        let length = lowercase.utf8CodeUnitCount
        guard bytes.count >= length else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<length where lowercased(bytes[index]) != expected[index] {
            return false
        }
        return true
    }

    /// Whether typed `bytes` are exactly `lowercase` (given in lowercase ASCII), ignoring ASCII case.
    @inlinable @inline(__always)
    public static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        equals(UnsafeRawBufferPointer(bytes), lowercase)
    }

    /// Whether `bytes` are exactly `lowercase`, for bytes that may not be contiguous (a `Substring`'s UTF-8).
    @inlinable
    public static func equals<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        var offset = 0
        for byte in bytes {
            guard lowercased(byte) == expected[offset] else { return false }
            offset += 1
        }
        return true
    }

    /// `byte` with an ASCII capital letter made lowercase; every other byte as it is.
    @inlinable @inline(__always)
    public static func lowercased(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }
}
