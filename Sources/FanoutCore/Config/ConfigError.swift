/// A configuration file that cannot be used, with the position of the offending token.
///
/// `description` reads `proxy.conf:12:5: unknown directive 'cal' in route GET /x; did you mean 'call'?`.
/// Every message says what was expected.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// File, 1-based line and 1-based column (in Unicode scalars) of the offending token, or of the
    /// reference inside a template.
    public var location: SourceLocation
    /// What is wrong and what was expected.
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(self.location): \(self.message)" }
}
