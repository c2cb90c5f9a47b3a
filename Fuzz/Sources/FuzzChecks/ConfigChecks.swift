import FanoutCore

/// Values for `${VAR}` in fuzzed files: a port, a host, a secret, and a value holding template syntax and
/// longer than its `${…}`, so substituted text reaches the template parser and error columns.
let configEnvironment: [String: String] = [
    "FANOUT_HOST": "127.0.0.1",
    "FANOUT_PORT": "8080",
    "KEY": "not-a-secret",
    "PATH": "/v1/users/{id}/orders?q={query.q}",
    "LONG": String(repeating: "long-value-", count: 8),
]

/// Whether `location` points into `text`: the fuzz file name, a line that exists, a column within that line
/// or just after its last character (an error at the end of a line or of the file).
func isValidLocation(_ location: SourceLocation, in text: String, file: String) -> Bool {
    guard location.file == file, location.line >= 1, location.column >= 1 else { return false }
    let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    guard location.line <= lines.count else { return false }
    return location.column <= lines[location.line - 1].count + 1
}

/// `FuzzConfig`: the input as a `proxy.conf` (decoded like `fanout check` reads a file).
///
/// Properties: parsing ends (libFuzzer's `-timeout` catches a hang) with a configuration or a `ConfigError`
/// whose location exists in the text; an accepted configuration builds the runtime's route table and parser
/// limits and routes a few requests without crashing.
public func config(_ input: UnsafeBufferPointer<UInt8>) {
    let source = text(input)
    let file = "fuzz.conf"
    let config: FanoutConfig
    do {
        config = try ConfigParser.parse(source, file: file, environment: configEnvironment)
    } catch {
        require(
            isValidLocation(error.location, in: source, file: file),
            "error location \(error.location) is outside the text (\(error.message))\ninput: \(show(input))")
        require(!error.message.isEmpty, "empty error message at \(error.location)")
        return
    }
    // What the server derives from an accepted configuration at start-up.
    let routes = RouteTable(config.routes)
    _ = HTTPParserLimits(config.limits)
    for (method, path) in [("GET", "/"), ("GET", "/demo/products/42"), ("POST", "/a/b/c"), ("DELETE", "/%2e%2e/x")] {
        _ = routes.match(method: method, path: path[...])
    }
}
