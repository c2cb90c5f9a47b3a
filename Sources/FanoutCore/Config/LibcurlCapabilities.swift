/// What the libcurl fanout runs with can do, as far as the configuration cares: the runtime reads the loaded
/// library's version (`LibcurlVersion.current()`) and hands it to ``ConfigParser/parse(_:file:environment:includes:libcurl:)``,
/// so `fanout check`, start-up and a reload refuse a directive the library cannot carry out, naming the version.
///
/// Decided by version number alone: the features checked here are in every build of those versions (they need
/// no optional dependency beyond nghttp2, which the `http2` feature bit already says).
public struct LibcurlCapabilities: Sendable, Equatable, CustomStringConvertible {
    /// Major, minor and patch, like `(7, 88, 1)`.
    public var major: Int
    public var minor: Int
    public var patch: Int

    /// Debian bookworm's libcurl, what CI and the Debian package build against; what the core assumes when
    /// nobody says otherwise (the conservative choice: it refuses what 7.88.1 would break).
    public static let bookworm = LibcurlCapabilities(major: 7, minor: 88, patch: 1)

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// From a version string like `8.14.1` or `8.15.0-DEV`; nil when it does not start with two numbers.
    public init?(version: String) {
        let numbers = version.split(separator: ".", maxSplits: 2).map { part in
            Int(part.prefix { $0.isASCII && $0.isNumber })
        }
        guard numbers.count >= 2, let major = numbers[0], let minor = numbers[1] else { return nil }
        self.init(major: major, minor: minor, patch: numbers.count > 2 ? numbers[2] ?? 0 : 0)
    }

    /// At least `major.minor.patch`.
    public func isAtLeast(_ major: Int, _ minor: Int, _ patch: Int = 0) -> Bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }

    /// HTTP/2 over cleartext with prior knowledge (h2c, `CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE`) that survives
    /// connection reuse: 7.88.1 answers the second request on a reused h2c connection with "Error in the HTTP2
    /// framing layer" (curl issue #10634, fixed in 8.0.0).
    public var cleartextHTTP2: Bool { self.isAtLeast(8, 0, 0) }

    /// Like `7.88.1`.
    public var description: String { "\(self.major).\(self.minor).\(self.patch)" }
}
