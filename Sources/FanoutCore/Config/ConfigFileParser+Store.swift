extension ConfigFileParser {
    static let storeDirectives = [
        "address", "connect_timeout", "command_timeout", "prefix", "password", "user", "db", "max_entry", "tls",
    ]

    /// store := 'store' '{' (address | connect_timeout | command_timeout | prefix | password | user | db
    ///          | max_entry | tls)* '}'
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
                let token = try self.cursor.requireArgument(of: sub, expected: "'off'")
                guard token.text == "off" else {
                    throw self.cursor.error(
                        "store 'tls \(token.text)' is not supported yet; expected 'tls off' "
                            + "(reach a TLS-only store through a local TLS tunnel such as stunnel)",
                        at: token)
                }
                settings.tls = false
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
        self.config.store = settings
    }
}
