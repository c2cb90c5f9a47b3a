extension ConfigFileParser {
    static let storeTable = DirectiveTable<StoreSettings>(
        block: "store", referencePage: "docs/reference/store.md",
        directives: [
            Directive("address") { (parser, sub, settings) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "an IP address and port like 127.0.0.1:6379")
                var text = token.text == "localhost" ? "127.0.0.1" : token.text
                if text.hasPrefix("localhost:") { text = "127.0.0.1" + text.dropFirst("localhost".count) }
                if ConfigValue.isIPv4(text) { text += ":\(StoreSettings.defaultPort)" }
                let address = try parser.value(ConfigValue.listenAddress(text), at: token)
                guard address.host != "*", address.port != 0 else {
                    throw parser.cursor.error(
                        "invalid store address '\(token.text)'; expected an IP address and port like 127.0.0.1:6379",
                        at: token)
                }
                settings.address = address
            },
            Directive("connect_timeout") { (parser, sub, settings) throws(ConfigError) in
                settings.connectTimeoutMs = try parser.durationArgument(sub)
            },
            Directive("command_timeout") { (parser, sub, settings) throws(ConfigError) in
                settings.commandTimeoutMs = try parser.durationArgument(sub)
            },
            Directive("prefix") { (parser, sub, settings) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "a key prefix like fanout:")
                guard !token.text.contains("{"), !token.text.contains("}") else {
                    throw parser.cursor.error(
                        "invalid store prefix '\(token.text)'; expected no '{' or '}' (fanout adds the hash tag)",
                        at: token)
                }
                settings.prefix = token.text
            },
            Directive("password") { (parser, sub, settings) throws(ConfigError) in
                settings.password =
                    try parser.cursor.requireArgument(of: sub, expected: "a password, like ${REDIS_PASSWORD}").text
            },
            Directive("user") { (parser, sub, settings) throws(ConfigError) in
                settings.user = try parser.cursor.requireArgument(of: sub, expected: "an ACL user name").text
            },
            Directive("db") { (parser, sub, settings) throws(ConfigError) in
                settings.database = try parser.countArgument(sub, in: 0...1_000_000)
            },
            Directive("max_entry") { (parser, sub, settings) throws(ConfigError) in
                settings.maxEntryBytes = try parser.sizeArgument(sub)
            },
            Directive("tls") { (parser, sub, settings) throws(ConfigError) in
                let token = try parser.cursor.requireArgument(of: sub, expected: "'on' or 'off'")
                guard token.text == "on" || token.text == "off" else {
                    throw parser.cursor.error("invalid store 'tls \(token.text)'; expected 'on' or 'off'", at: token)
                }
                settings.tls = token.text == "on"
            },
            Directive("tls_ca") { (parser, sub, settings) throws(ConfigError) in
                settings.tlsCA = try parser.cursor.requireArgument(of: sub, expected: "a PEM CA bundle file").text
            },
            Directive("tls_server_name") { (parser, sub, settings) throws(ConfigError) in
                settings.tlsServerName =
                    try parser.cursor.requireArgument(of: sub, expected: "the name in the store's certificate").text
            },
            Directive("tls_cert") { (parser, sub, settings) throws(ConfigError) in
                settings.tlsCertificate =
                    try parser.cursor.requireArgument(of: sub, expected: "a PEM certificate file").text
            },
            Directive("tls_key") { (parser, sub, settings) throws(ConfigError) in
                settings.tlsKey = try parser.cursor.requireArgument(of: sub, expected: "a PEM key file").text
            },
        ])

    /// `store { … }` (``storeTable``).
    mutating func parseStore(_ directive: ConfigToken) throws(ConfigError) {
        let context = "store"
        let brace = try self.cursor.openBlock(of: directive, context: context)
        var settings = StoreSettings(address: ListenAddress(host: "127.0.0.1", port: StoreSettings.defaultPort))
        let seen = try self.parseBlock(Self.storeTable, opened: brace, context: context, into: &settings)
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
