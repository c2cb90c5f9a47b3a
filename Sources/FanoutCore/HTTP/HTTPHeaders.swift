/// Header fields in arrival order. Names are kept as sent; lookups compare names case-insensitively (ASCII only,
/// as field names are tokens).
public struct HTTPHeaders: Sendable, Sequence {
    public typealias Element = (name: String, value: String)

    private var fields: [Element]

    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// Number of fields, repeated names counted each time.
    public var count: Int { fields.count }

    /// The value of the first field named `name` (case-insensitive), or nil.
    public subscript(first name: String) -> String? {
        for field in fields where Self.namesEqual(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every field named `name` (case-insensitive), in arrival order.
    public func values(named name: String) -> [String] {
        var result: [String] = []
        for field in fields where Self.namesEqual(field.name, name) {
            result.append(field.value)
        }
        return result
    }

    /// Adds a field after the existing ones.
    public mutating func append(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    /// Pre-sizes storage; used by the parser, which knows the field count before building the fields.
    mutating func reserveCapacity(_ capacity: Int) {
        fields.reserveCapacity(capacity)
    }

    /// ASCII case-insensitive comparison of two field names.
    public static func namesEqual(_ lhs: String, _ rhs: String) -> Bool {
        // Lengths first, then the bytes in place: two UTF-8 view iterators cost about 80 instructions per
        // byte (1,100 per `Content-Length` an answer carries, callgrind).
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { l in
            right.withUTF8 { r in
                for index in 0..<l.count where ASCIICase.lowercased(l[index]) != ASCIICase.lowercased(r[index]) {
                    return false
                }
                return true
            }
        }
    }
}

extension HTTPHeaders: Equatable {
    /// Same fields in the same order, names compared exactly (as sent).
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension HTTPHeaders: ExpressibleByDictionaryLiteral {
    /// `["Host": "a", "Accept": "*/*"]`, in literal order.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { (name: $0.0, value: $0.1) })
    }
}
