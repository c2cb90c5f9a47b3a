/// What a client's `Accept-Encoding` says about gzip (RFC 9110 §12.5.3), for the answers fanout builds itself.
///
/// - Coding names are case-insensitive; `x-gzip` is `gzip` (RFC 9110 §18.6). A weight (`;q=`) is 0 to 1
///   with at most three decimals; a member with an invalid weight is ignored. Other parameters are ignored.
/// - gzip's weight is its own member's, else `*`'s, else 0 (not acceptable). The first member naming a
///   coding counts.
/// - identity's weight is its own member's, else `*`'s; unnamed, identity is acceptable but ranked below
///   every coding the client named.
/// - gzip is chosen when its weight is above 0 and not below identity's: `gzip;q=0` and
///   `gzip;q=0.5, identity` mean identity, `gzip, identity;q=0` and `*` mean gzip.
/// - No `Accept-Encoding` field at all means identity. RFC 9110 would allow any coding then, but clients that
///   send none (curl without `--compressed`, scripts, health checks) mostly cannot decode one; nginx and Caddy
///   do not compress for them either. An empty field means identity (RFC 9110).
/// - When identity is refused (`identity;q=0`) and gzip is not acceptable either, the answer still goes out
///   unencoded: RFC 9110 lets the server choose, and an answer is more useful than a 406.
public enum AcceptEncoding {
    /// Whether a request with these `Accept-Encoding` field values (one per field line, in order) prefers a
    /// gzip answer to an unencoded one.
    public static func prefersGzip(_ fieldValues: [String]) -> Bool {
        var gzip: Int?
        var identity: Int?
        var star: Int?
        for value in fieldValues {
            for member in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                guard let (coding, weight) = parse(member) else { continue }
                switch coding {
                case .gzip: gzip = gzip ?? weight
                case .identity: identity = identity ?? weight
                case .star: star = star ?? weight
                case .other: continue
                }
            }
        }
        let gzipWeight = gzip ?? star ?? 0
        return gzipWeight > 0 && gzipWeight >= (identity ?? star ?? 0)
    }

    private enum Coding {
        case gzip, identity, star, other
    }

    /// One list member: its coding and weight in thousandths, nil for an empty member or an invalid weight.
    private static func parse(_ member: Substring.UTF8View.SubSequence) -> (Coding, Int)? {
        let parts = member.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        let name = trimmed(parts[0])
        guard !name.isEmpty else { return nil }
        var weight = 1000
        for parameter in parts.dropFirst() {
            let pair = trimmed(parameter)
            guard pair.count >= 2, pair[pair.startIndex] | 0x20 == UInt8(ascii: "q") else { continue }
            let afterName = trimmed(pair.dropFirst())
            guard afterName.first == UInt8(ascii: "=") else { continue }
            guard let parsed = qvalue(trimmed(afterName.dropFirst())) else { return nil }
            weight = parsed
        }
        return (coding(name), weight)
    }

    private static func coding(_ name: Substring.UTF8View.SubSequence) -> Coding {
        if ASCIICase.equals(name, "gzip") || ASCIICase.equals(name, "x-gzip") { return .gzip }
        if ASCIICase.equals(name, "identity") { return .identity }
        if name.count == 1, name.first == UInt8(ascii: "*") { return .star }
        return .other
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` in thousandths (RFC 9110 §12.4.2).
    private static func qvalue(_ text: Substring.UTF8View.SubSequence) -> Int? {
        guard let first = text.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var rest = text.dropFirst()
        var value = first == UInt8(ascii: "1") ? 1000 : 0
        guard !rest.isEmpty else { return value }
        guard rest.first == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        rest = rest.dropFirst()
        var scale = 100
        for digit in rest {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            if first == UInt8(ascii: "1"), digit != UInt8(ascii: "0") { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value
    }

    private static func trimmed(_ text: Substring.UTF8View.SubSequence) -> Substring.UTF8View.SubSequence {
        var text = text
        while let first = text.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            text = text.dropFirst()
        }
        while let last = text.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { text = text.dropLast() }
        return text
    }
}
