/// Splits an absolute `http(s)://` URL from the configuration into the parts the proxy trusts (scheme,
/// host, port — never templated, hardening rule 4.3/1) and the rest.
struct UpstreamURL {
    var scheme: String
    /// Lowercased; IPv6 literals keep their brackets.
    var host: String
    var port: UInt16
    var hasExplicitPort: Bool
    /// Everything after the authority (path, query, fragment), as written.
    var rest: Substring
    /// Unicode-scalar offset of `rest` in the URL text.
    var restOffset: Int

    /// True when `text` starts with `http://` or `https://` (any case).
    static func isAbsolute(_ text: String) -> Bool {
        let lower = text.prefix(8).lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// Parses scheme and authority.
    static func parse(_ text: String) -> Result<UpstreamURL, ConfigValue.Failure> {
        let lower = text.lowercased()
        let scheme: String
        if lower.hasPrefix("http://") {
            scheme = "http"
        } else if lower.hasPrefix("https://") {
            scheme = "https"
        } else {
            return .failure(.init(message: "invalid URL '\(text)'; expected an http:// or https:// URL"))
        }
        let scalars = Array(text.unicodeScalars)
        let authorityStart = scheme.count + 3
        var authorityEnd = authorityStart
        while authorityEnd < scalars.count, !"/?#".unicodeScalars.contains(scalars[authorityEnd]) {
            authorityEnd += 1
        }
        let authority = scalars[authorityStart..<authorityEnd]
        if let at = authority.firstIndex(of: "@") {
            return .failure(.init(message: "userinfo ('user@') is not allowed in an upstream URL", offset: at))
        }
        if let brace = authority.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            return .failure(
                .init(
                    message:
                        "placeholders are not allowed in the scheme, host or port; "
                        + "only the path and query are templated",
                    offset: brace
                )
            )
        }
        var hostEnd = authorityEnd
        var host: String
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(.init(message: "unterminated IPv6 literal; expected ']'", offset: authorityStart))
            }
            let literal = String(String.UnicodeScalarView(scalars[(authorityStart + 1)..<close]))
            guard ConfigValue.isIPv6(literal) else {
                return .failure(.init(message: "invalid IPv6 address '\(literal)'", offset: authorityStart + 1))
            }
            host = "[" + literal.lowercased() + "]"
            hostEnd = close + 1
            if hostEnd < authorityEnd && scalars[hostEnd] != ":" {
                return .failure(.init(message: "expected ':' or '/' after ']'", offset: hostEnd))
            }
        } else {
            hostEnd = authority.firstIndex(of: ":") ?? authorityEnd
            host = String(String.UnicodeScalarView(scalars[authorityStart..<hostEnd])).lowercased()
            let isHostCharacter: (Unicode.Scalar) -> Bool = {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." || $0 == "_"
            }
            guard !host.isEmpty else {
                return .failure(
                    .init(
                        message: "missing host in URL '\(text)'; expected http(s)://host[:port]",
                        offset: authorityStart
                    )
                )
            }
            if let bad = host.unicodeScalars.firstIndex(where: { !isHostCharacter($0) }) {
                let offset =
                    authorityStart + host.unicodeScalars.distance(from: host.unicodeScalars.startIndex, to: bad)
                return .failure(
                    .init(
                        message: "invalid character in host; expected letters, digits, '-', '.' or '_'",
                        offset: offset
                    )
                )
            }
        }
        var port: UInt16 = scheme == "https" ? 443 : 80
        var hasExplicitPort = false
        if hostEnd < authorityEnd {
            let digits = String(String.UnicodeScalarView(scalars[(hostEnd + 1)..<authorityEnd]))
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(digits), (1...65_535).contains(value)
            else {
                return .failure(.init(message: "invalid port '\(digits)'; expected 1...65535", offset: hostEnd + 1))
            }
            port = UInt16(value)
            hasExplicitPort = true
        }
        let restIndex = text.unicodeScalars.index(text.unicodeScalars.startIndex, offsetBy: authorityEnd)
        return .success(
            UpstreamURL(
                scheme: scheme,
                host: host,
                port: port,
                hasExplicitPort: hasExplicitPort,
                rest: text[restIndex...],
                restOffset: authorityEnd
            )
        )
    }

    /// A base URL (`url` in an upstream, or `proxy URL`): the rest must be a plain path prefix, without
    /// query, fragment, placeholders or dot segments. A trailing `/` is dropped.
    static func base(_ text: String) -> Result<UpstreamOrigin, ConfigValue.Failure> {
        let url: UpstreamURL
        switch parse(text) {
        case .failure(let failure): return .failure(failure)
        case .success(let parsed): url = parsed
        }
        let path = url.rest
        for (index, scalar) in path.unicodeScalars.enumerated() {
            let offset = url.restOffset + index
            switch scalar {
            case "?": return .failure(.init(message: "a query is not allowed in an upstream base URL", offset: offset))
            case "#": return .failure(.init(message: "a fragment is not allowed in an upstream URL", offset: offset))
            case "{", "}":
                return .failure(
                    .init(
                        message:
                            "placeholders are not allowed in a base URL; "
                            + "write 'proxy NAME /path/{param}' with a named upstream",
                        offset: offset
                    )
                )
            case "/", "%":
                continue
            default:
                guard scalar.isASCII, PercentCoding.isPathCharacter(UInt8(scalar.value)) else {
                    return .failure(
                        .init(
                            message:
                                "invalid character in URL path; "
                                + "expected letters, digits, '-._~', sub-delimiters, ':', '@' or %XX",
                            offset: offset
                        )
                    )
                }
            }
        }
        guard PercentCoding.isWellFormed(path.utf8) else {
            return .failure(
                .init(message: "malformed percent-encoding in URL path; expected %XX", offset: url.restOffset)
            )
        }
        var basePath = String(path)
        while basePath.hasSuffix("/") { basePath.removeLast() }
        let segments = basePath.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        if segments.contains(where: { $0.isEmpty || PercentCoding.isDotSegment($0) }) {
            return .failure(
                .init(
                    message: "empty, '.' or '..' segments are not allowed in an upstream path",
                    offset: url.restOffset
                )
            )
        }
        return .success(UpstreamOrigin(scheme: url.scheme, host: url.host, port: url.port, basePath: basePath))
    }

    /// The name of an implicit upstream: the URL's origin (default port omitted) plus its base path.
    static func implicitName(of origin: UpstreamOrigin) -> String {
        let defaultPort: UInt16 = origin.scheme == "https" ? 443 : 80
        let port = origin.port == defaultPort ? "" : ":\(origin.port)"
        return "\(origin.scheme)://\(origin.host)\(port)\(origin.basePath)"
    }
}
