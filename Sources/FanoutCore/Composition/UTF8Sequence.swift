/// Classifies one UTF-8 sequence in raw bytes, per RFC 3629 / Unicode Table 3-7 (well-formed UTF-8 byte
/// sequences): no overlong forms, no surrogates (U+D800–U+DFFF), nothing above U+10FFFF.
///
/// Shared by ``JSONValidator`` (which rejects ill-formed bytes) and ``JSONWriter`` (which replaces them).
enum UTF8Sequence {
    /// Measures the sequence that starts at `offset`, whose first byte must be ≥ 0x80.
    ///
    /// - Parameters:
    ///   - base: start of the buffer.
    ///   - offset: index of the lead byte.
    ///   - end: number of readable bytes from `base`.
    /// - Returns: the sequence length (2…4) when it is well formed; otherwise the negated length of its
    ///   *maximal subpart* (1…3), i.e. how many bytes one U+FFFD replaces under the Unicode
    ///   "substitution of maximal subparts" practice.
    @inline(__always)
    static func length(_ base: UnsafeRawPointer, at offset: Int, end: Int) -> Int {
        let lead = base.load(fromByteOffset: offset, as: UInt8.self)
        // The second byte has a narrower range after some lead bytes; later ones are always 0x80...0xBF.
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        let continuations: Int
        switch lead {
        case 0xC2...0xDF:
            continuations = 1
        case 0xE0:
            continuations = 2
            low = 0xA0  // overlong below U+0800
        case 0xE1...0xEC, 0xEE...0xEF:
            continuations = 2
        case 0xED:
            continuations = 2
            high = 0x9F  // U+D800...U+DFFF are surrogates
        case 0xF0:
            continuations = 3
            low = 0x90  // overlong below U+10000
        case 0xF1...0xF3:
            continuations = 3
        case 0xF4:
            continuations = 3
            high = 0x8F  // above U+10FFFF
        default:
            return -1  // 0x80...0xC1 (continuation or overlong lead) and 0xF5...0xFF
        }
        var k = 1
        while k <= continuations {
            guard offset + k < end else { return -k }
            let byte = base.load(fromByteOffset: offset + k, as: UInt8.self)
            if k == 1 {
                guard byte >= low && byte <= high else { return -k }
            } else {
                guard byte & 0xC0 == 0x80 else { return -k }
            }
            k += 1
        }
        return continuations + 1
    }
}
