/// The `query NAME VALUE` parameters of one upstream: added to the query of every call to it (composite calls,
/// `for_each` items and proxy routes), after the call's own parameters.
///
/// The encoded suffix (`api_key=a%2Bb&v=2`) is built once, when the configuration is parsed; each call only
/// splices it in. Names and values are encoded like every other templated value (``PercentCoding``: every byte
/// outside `A-Z a-z 0-9 - . _ ~` becomes `%XX`), so a key holding `+ & = % #`, spaces or non-ASCII arrives
/// intact.
///
/// A parameter of the same name already in the call's query (written in the call, or the client's own on a
/// pass-through `proxy` route) is removed: the upstream's value replaces it, as an upstream `header` replaces
/// the client's header of the same name. Sending both would leave the choice to the partner (some frameworks
/// read the first value, others the last), and would let a client override the configured key.
///
/// Values are secrets (API keys): ``description`` never shows them.
public struct UpstreamQuery: Sendable, Equatable, CustomStringConvertible {
    /// One `query NAME VALUE` line; `value` has `${ENV}` already interpolated.
    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The parameters, in file order.
    public private(set) var parameters: [Parameter] = []
    /// `name=value` pairs joined by `&`, every name and value percent-encoded; empty when there are none.
    public private(set) var encoded: String = ""
    /// The names as UTF-8 bytes, to find same-named parameters in a call's query after decoding them.
    private var names: Set<[UInt8]> = []

    public init(_ parameters: [Parameter] = []) {
        for parameter in parameters { self.append(parameter) }
    }

    /// Adds one parameter and extends the encoded suffix.
    public mutating func append(_ parameter: Parameter) {
        var bytes: [UInt8] = []
        if !self.encoded.isEmpty { bytes.append(UInt8(ascii: "&")) }
        PercentCoding.appendEncoded(parameter.name.utf8, to: &bytes)
        bytes.append(UInt8(ascii: "="))
        PercentCoding.appendEncoded(parameter.value.utf8, to: &bytes)
        self.encoded += String(decoding: bytes, as: UTF8.self)
        self.parameters.append(parameter)
        self.names.insert(Array(parameter.name.utf8))
    }

    /// True when there is no parameter.
    public var isEmpty: Bool { self.parameters.isEmpty }

    /// Names only, values redacted: `query(api_key=<redacted>)`.
    public var description: String {
        "query(" + self.parameters.map { "\($0.name)=<redacted>" }.joined(separator: "&") + ")"
    }

    /// A valid parameter name: letters, digits, `-`, `.`, `_`, `~`, `[` and `]` (`filter[key]`), at least one.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy {
                PercentCoding.isUnreserved($0) || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
            }
    }

    /// The rendered path-and-query of a call with the parameters added after its own query, same-named ones
    /// in it removed: `/a?x=1` → `/a?x=1&api_key=…`, `/a` → `/a?api_key=…`.
    public func applied(to pathAndQuery: String) -> String {
        guard !self.encoded.isEmpty else { return pathAndQuery }
        let utf8 = pathAndQuery.utf8
        guard let mark = utf8.firstIndex(of: UInt8(ascii: "?")) else { return pathAndQuery + "?" + self.encoded }
        let query = utf8[utf8.index(after: mark)...]
        let pairs = query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false)
        let kept = pairs.filter { !$0.isEmpty && !self.isReplaced($0) }
        // Nothing removed and no empty pair (`/a?`, `/a?x=1&`): the query stays exactly as it was.
        if kept.count == pairs.count { return pathAndQuery + "&" + self.encoded }
        var output = Array(utf8[...mark])
        for pair in kept {
            output.append(contentsOf: pair)
            output.append(UInt8(ascii: "&"))
        }
        return String(decoding: output, as: UTF8.self) + self.encoded
    }

    /// Whether `pair` (`name`, `name=value`) names one of the parameters once decoded (`+` as a space).
    private func isReplaced(_ pair: Substring.UTF8View.SubSequence) -> Bool {
        let name = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard let decoded = PercentCoding.decode(name, plusAsSpace: true) else { return false }
        return self.names.contains(decoded)
    }
}
