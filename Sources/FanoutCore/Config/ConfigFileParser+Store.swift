extension ConfigFileParser {
    static let storeDirectives = [
        "address", "connect_timeout", "command_timeout", "prefix", "password", "user", "db", "max_entry", "tls",
        "tls_ca", "tls_server_name", "tls_cert", "tls_key",
    ]

    /// store := 'store' '{' (address | connect_timeout | command_timeout | prefix | password | user | db
    ///          | max_entry | tls | tls_ca | tls_server_name | tls_cert | tls_key)* '}'
    mutating func parseStore(_ directive: ConfigToken) throws(ConfigError) {
        let context = "store"
        let brace = try self.cursor.openBlock(of: directive, context: context)
        var settings = StoreSettings(address: ListenAddress(host: "127.0.0.1", port: StoreSettings.defaultPort))
        var seen: [String: ConfigToken] = [:]
        while let sub = try self.cursor.nextInBlock(opened: brace, context: context) {
            guard Self.storeDirectives.contains(sub.text) else {
                throw self.cursor.unknownDirective(sub, context: context, known: Self.storeDirectives)
            }
            if let first = seen[sub.text] { throw self.cursor.duplicateError(sub, first: first, context: context) }
            seen[sub.text] = sub
            switch sub.text {
            case "address":
                let token = try self.cursor.requireArgument(
                    of: sub, expected: "an IP address and port like 127.0.0.1:6379")
                var text = token.text == "localhost" ? "127.0.0.1" : token.text
                if text.hasPrefix("localhost:") { text = "127.0.0.1" + text.dropFirst("localhost".count) }
                if ConfigValue.isIPv4(text) { text += ":\(StoreSettings.defaultPort)" }
                let address = try self.value(ConfigValue.listenAddress(text), at: token)
                guard address.host != "*", address.port != 0 else {
                    throw self.cursor.error(
                        "invalid store address '\(token.text)'; expected an IP address and port like 127.0.0.1:6379",
                        at: token)
                }
                settings.address = address
            case "connect_timeout":
                settings.connectTimeoutMs = try self.durationArgument(sub)
            case "command_timeout":
                settings.commandTimeoutMs = try self.durationArgument(sub)
            case "prefix":
                let token = try self.cursor.requireArgument(of: sub, expected: "a key prefix like fanout:")
                guard !token.text.contains("{"), !token.text.contains("}") else {
                    throw self.cursor.error(
                        "invalid store prefix '\(token.text)'; expected no '{' or '}' (fanout adds the hash tag)",
                        at: token)
                }
                settings.prefix = token.text
            case "password":
                settings.password = try self.cursor.requireArgument(
                    of: sub, expected: "a password, like ${REDIS_PASSWORD}"
                )
                .text
            case "user":
                settings.user = try self.cursor.requireArgument(of: sub, expected: "an ACL user name").text
            case "db":
                settings.database = try self.countArgument(sub, in: 0...1_000_000)
            case "max_entry":
                settings.maxEntryBytes = try self.sizeArgument(sub)
            case "tls":
                let token = try self.cursor.requireArgument(of: sub, expected: "'on' or 'off'")
                guard token.text == "on" || token.text == "off" else {
                    throw self.cursor.error("invalid store 'tls \(token.text)'; expected 'on' or 'off'", at: token)
                }
                settings.tls = token.text == "on"
            case "tls_ca":
                settings.tlsCA = try self.cursor.requireArgument(of: sub, expected: "a PEM CA bundle file").text
            case "tls_server_name":
                settings.tlsServerName = try self.cursor.requireArgument(
                    of: sub, expected: "the name in the store's certificate"
                )
                .text
            case "tls_cert":
                settings.tlsCertificate = try self.cursor.requireArgument(of: sub, expected: "a PEM certificate file")
                    .text
            case "tls_key":
                settings.tlsKey = try self.cursor.requireArgument(of: sub, expected: "a PEM key file").text
            default:
                preconditionFailure("unhandled store directive '\(sub.text)'")
            }
            try self.cursor.finishDirective(sub)
        }
        guard seen["address"] != nil else {
            throw self.cursor.error(
                "store block without 'address'; expected one like address 127.0.0.1:6379", at: directive)
        }
        if settings.user != nil && settings.password == nil {
            throw self.cursor.error(
                "store 'user' without 'password'; expected both for AUTH user password", at: directive)
        }
        let tlsDirectives = ["tls_ca", "tls_server_name", "tls_cert", "tls_key"].compactMap { seen[$0] }
        if !settings.tls, let first = tlsDirectives.min(by: { ($0.line, $0.column) < ($1.line, $1.column) }) {
            throw self.cursor.error("store '\(first.text)' without 'tls on'; expected 'tls on' with it", at: first)
        }
        if let cert = seen["tls_cert"], seen["tls_key"] == nil {
            throw self.cursor.error(
                "store 'tls_cert' without 'tls_key'; expected both for a client certificate", at: cert)
        }
        if let key = seen["tls_key"], seen["tls_cert"] == nil {
            throw self.cursor.error(
                "store 'tls_key' without 'tls_cert'; expected both for a client certificate", at: key)
        }
        self.config.store = settings
    }
}
