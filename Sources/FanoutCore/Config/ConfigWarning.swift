/// Something in a valid configuration file an operator should hear about, with where it is written.
///
/// `description` reads `proxy.conf:4:9: warning: environment variable 'PARTNER_TOKEN' is set but empty; …`.
/// `fanout check` prints it and still exits 0; `fanout serve` logs it at start and on reload.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// File, 1-based line and 1-based column (in Unicode scalars) of what the warning is about.
    public var location: SourceLocation
    /// What is suspicious and how to change it, or how to keep it and silence the warning.
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(self.location): warning: \(self.message)" }
}
