// MARK: - Upstream transport arguments (tls_verify, tls_ca, tls_cert, tls_key, connect_to, http2)

extension ConfigFileParser {
    /// `on` or `off`.
    mutating func onOffArgument(_ directive: ConfigToken) throws(ConfigError) -> Bool {
        let token = try self.cursor.requireArgument(of: directive, expected: "'on' or 'off'")
        switch token.text {
        case "on": return true
        case "off": return false
        default:
            throw self.cursor.error("invalid \(directive.text) '\(token.text)'; expected 'on' or 'off'", at: token)
        }
    }

    /// A file path. A relative path is taken relative to the directory of the configuration file (like
    /// nginx's paths are to its prefix), so a configuration and its certificates move together. Whether the
    /// file can be read is checked where the file is loaded (`ConfigFile.load`): the parser does no I/O.
    mutating func fileArgument(_ directive: ConfigToken, expected: String) throws(ConfigError) -> ConfigFileReference {
        let token = try self.cursor.requireArgument(of: directive, expected: expected)
        guard !token.text.isEmpty else {
            throw self.cursor.error("empty path for '\(directive.text)'; expected \(expected)", at: token)
        }
        var path = token.text
        if !path.hasPrefix("/"), let slash = self.cursor.file.lastIndex(of: "/") {
            path = self.cursor.file[...slash] + path
        }
        return ConfigFileReference(
            path: path, directive: directive.text,
            location: SourceLocation(file: self.cursor.file, line: token.line, column: token.column))
    }

    /// `connect_to HOST:PORT`: a host name, an IPv4 literal or a bracketed IPv6 literal, and a port.
    mutating func connectToArgument(_ directive: ConfigToken) throws(ConfigError) -> ConnectAddress {
        let expected = "expected HOST:PORT, like 10.0.0.7:8443, [::1]:8443 or backend.internal:443"
        let token = try self.cursor.requireArgument(of: directive, expected: "a HOST:PORT like 10.0.0.7:8443")
        let text = token.text
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else {
            throw self.cursor.error("invalid connect_to address '\(text)'; \(expected)", at: token)
        }
        let host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        let isName =
            !host.isEmpty && !host.hasPrefix("-")
            && host.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || $0 == "-" || $0 == "." || $0 == "_"
            }
        let isIPv6 = host.hasPrefix("[") && host.hasSuffix("]") && ConfigValue.isIPv6(host.dropFirst().dropLast())
        guard isName || isIPv6 else {
            throw self.cursor.error("invalid host '\(host)' in connect_to; \(expected)", at: token)
        }
        let portOffset = host.unicodeScalars.count + 1
        let port = try self.value(ConfigValue.count(portText, in: 1...65_535), at: token, offset: portOffset)
        return ConnectAddress(host: host.lowercased(), port: UInt16(port))
    }

    /// What the transport directives of one upstream block must agree on: a client certificate comes with its
    /// key, TLS settings need an https URL, and so does HTTP/2 unless libcurl is 8.0 or later (h2c).
    func checkTransport(
        _ transport: UpstreamTransport, seen: [String: ConfigToken], origin: UpstreamOrigin, context: String
    ) throws(ConfigError) {
        if let certificate = seen["tls_cert"], seen["tls_key"] == nil {
            throw self.cursor.error(
                "'tls_cert' without 'tls_key' in \(context); "
                    + "expected both a client certificate and its key, or neither",
                at: certificate)
        }
        if let key = seen["tls_key"], seen["tls_cert"] == nil {
            throw self.cursor.error(
                "'tls_key' without 'tls_cert' in \(context); "
                    + "expected both a client certificate and its key, or neither",
                at: key)
        }
        guard origin.scheme == "http" else { return }
        // libcurl 7.88.1 breaks a prior-knowledge (h2c) connection as soon as a second request reuses it
        // ("Error in the HTTP2 framing layer", curl issue #10634, fixed in 8.0.0; reproduced here with the curl
        // command): with it, cleartext HTTP/2 is refused rather than shipped broken. libcurl 8 carries it.
        if let http2 = seen["http2"], transport.http2, !self.libcurl.cleartextHTTP2 {
            throw self.cursor.error(
                "'http2 on' in \(context), whose url is http://; cleartext HTTP/2 (h2c) needs libcurl 8.0 or "
                    + "later and fanout runs with libcurl \(self.libcurl); expected an https:// url "
                    + "(HTTP/2 negotiated with TLS) or 'http2 off'",
                at: http2)
        }
        let tlsDirectives = ["tls_verify", "tls_ca", "tls_cert", "tls_key"].compactMap { seen[$0] }
        if let first = tlsDirectives.min(by: { ($0.line, $0.column) < ($1.line, $1.column) }) {
            throw self.cursor.error(
                "'\(first.text)' in \(context), whose url is http://; expected an https:// url for TLS settings",
                at: first)
        }
    }
}
