/// Percent-encoding helpers shared by route matching, request targets, query parsing and URL templates
/// (RFC 3986 §2.1–2.4). Everything works on UTF-8 bytes; nothing here allocates unless it returns an array.
enum PercentCoding {
    /// The value of one hexadecimal digit, or nil.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte &- UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte &- UInt8(ascii: "A") &+ 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte &- UInt8(ascii: "a") &+ 10
        default: return nil
        }
    }

    /// `A-Z a-z 0-9 - . _ ~` (RFC 3986 §2.3): the only bytes a rendered placeholder keeps as they are.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `! $ & ' ( ) * + , ; =` (RFC 3986 §2.2).
    static func isSubDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// `pchar` minus `%`: what a literal path segment may contain without escapes.
    static func isPathCharacter(_ byte: UInt8) -> Bool {
        isUnreserved(byte) || isSubDelimiter(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "@")
    }

    /// NUL, the other C0 controls and DEL.
    static func isControl(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }

    /// Decodes `%XX` escapes exactly once (and `+` as a space when `plusAsSpace`).
    /// - Returns: the decoded bytes, or nil when a `%` is not followed by two hexadecimal digits.
    static func decode<Bytes: Collection<UInt8>>(_ bytes: Bytes, plusAsSpace: Bool = false) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex, let h = hexValue(bytes[high]) else { return nil }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, let l = hexValue(bytes[low]) else { return nil }
                output.append(h << 4 | l)
                index = bytes.index(after: low)
            } else {
                output.append(plusAsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index = bytes.index(after: index)
            }
        }
        return output
    }

    /// True when every `%` in `bytes` starts a valid `%XX` escape.
    static func isWellFormed<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex, hexValue(bytes[high]) != nil else { return false }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, hexValue(bytes[low]) != nil else { return false }
                index = bytes.index(after: low)
            } else {
                index = bytes.index(after: index)
            }
        }
        return true
    }

    /// True when `bytes` is `.` or `..`, written raw or as `%2e`/`%2E` in any mix (RFC 3986 §6.2.2.2 makes
    /// them equivalent). Does not allocate.
    static func isDotSegment<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        var dots = 0
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: ".") {
                index = bytes.index(after: index)
            } else if bytes[index] == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex, bytes[high] == UInt8(ascii: "2") else { return false }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, bytes[low] == UInt8(ascii: "e") || bytes[low] == UInt8(ascii: "E") else {
                    return false
                }
                index = bytes.index(after: low)
            } else {
                return false
            }
            dots += 1
            if dots > 2 { return false }
        }
        return dots > 0
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Appends `bytes` with every byte outside unreserved written as `%XX` (uppercase hex). The result can
    /// never contain `/`, `?`, `#`, `%` (other than its own escapes), `&`, `=`, `+`, a space or a control byte.
    static func appendEncoded<Bytes: Sequence<UInt8>>(_ bytes: Bytes, to output: inout [UInt8]) {
        for byte in bytes {
            if isUnreserved(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    /// Decodes one captured value: percent-decoded once, valid UTF-8 (overlong forms and surrogates are
    /// invalid), no NUL/CTL/DEL.
    /// - Returns: the value, or a reason it was refused.
    static func decodeComponent<Bytes: Collection<UInt8>>(
        _ raw: Bytes,
        plusAsSpace: Bool = false
    ) -> Result<String, DecodingFailure> {
        guard let bytes = decode(raw, plusAsSpace: plusAsSpace) else { return .failure(.malformedEscape) }
        if bytes.contains(where: isControl) { return .failure(.controlCharacter) }
        guard let string = String(validating: bytes, as: UTF8.self) else { return .failure(.invalidUTF8) }
        return .success(string)
    }

    /// Why a captured value was refused.
    enum DecodingFailure: Error, Equatable {
        case malformedEscape
        case controlCharacter
        case invalidUTF8

        var message: String {
            switch self {
            case .malformedEscape: return "malformed percent-encoding (expected '%' followed by two hex digits)"
            case .controlCharacter: return "contains a control character (NUL, CR, LF, other C0 or DEL)"
            case .invalidUTF8: return "is not valid UTF-8"
            }
        }
    }
}
