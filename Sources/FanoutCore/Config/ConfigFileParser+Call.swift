/// A reference to check once the whole route is read, with the place to blame.
struct ReferenceSite {
    var reference: ValueReference
    var token: ConfigToken
    var scalarOffset: Int
}

/// Where a call's parts were written, for the route-level checks (unknown calls, cycles, `for_each`).
struct CallSite {
    var nameToken: ConfigToken
    var references: [ReferenceSite] = []
    var forEachToken: ConfigToken?
    var attachToken: ConfigToken?
    /// `key_by` and `attach` may come before `for_each` in the block; applied at its end.
    var collect: ForEachConfig.Collect = .array
    var attachment: ForEachConfig.Attachment = .none
    /// `stale_while_revalidate` and `stale_if_error` may come before `cache`; applied at the call's end.
    var staleWhileRevalidateMs = 0
    var staleIfErrorMs = 0
}

extension ConfigFileParser {
    static let callOptions = [
        "required", "optional", "timeout=", "header=", "cache=", "stale_while_revalidate=", "stale_if_error=",
        "hedge=", "retries=",
    ]

    /// call := 'call' NAME METHOD (UPSTREAM PATH-TEMPLATE | ABSOLUTE-URL-TEMPLATE) OPTION* ['{' call-directive* '}']
    mutating func parseCall(
        _ directive: ConfigToken,
        path: PathTemplate,
        context: String,
        existing: [CallConfig]
    ) throws(ConfigError) -> (CallConfig, UpstreamReference, CallSite) {
        let nameToken = try self.cursor.requireArgument(
            of: directive,
            expected: "a name, a method and a target, like 'call product GET partner /v1/products/{id}'"
        )
        let name = nameToken.text
        try self.validateCallName(nameToken, existing: existing, context: context)
        let methodToken = try self.cursor.requireArgument(
            of: directive,
            expected: "an HTTP method like GET after the call name '\(name)'"
        )
        guard ConfigValue.isToken(methodToken.text), methodToken.text != "*" else {
            throw self.cursor.error(
                "invalid method '\(methodToken.text)'; expected an HTTP method like GET",
                at: methodToken
            )
        }
        let (reference, target, sites) = try self.parseTarget(
            of: directive,
            path: path,
            user: "call '\(name)'",
            context: context,
            templateRequired: true
        )
        var call = CallConfig(
            name: name,
            method: methodToken.text.uppercased(),
            upstream: 0,
            target: target!,
            location: SourceLocation(file: self.cursor.file, line: directive.line, column: directive.column)
        )
        var site = CallSite(nameToken: nameToken, references: sites)
        var settings: [String: ConfigToken] = [:]
        try self.parseCallOptions(into: &call, site: &site, settings: &settings, path: path, context: context)
        if let brace = self.cursor.openOptionalBlock() {
            let blockContext = "call '\(name)'"
            var body = CallBody(call: call, site: site, settings: settings, path: path, context: context)
            while let sub = try self.cursor.nextInBlock(opened: brace, context: blockContext) {
                guard let directive = Self.callTable.directive(named: sub.text) else {
                    throw self.cursor.unknownDirective(sub, context: blockContext, known: Self.callTable.names)
                }
                try directive.parse(&self, sub, &body)
                try self.cursor.finishDirective(sub)
            }
            (call, site, settings) = (body.call, body.site, body.settings)
        }
        if call.forEach == nil, let token = settings["key_by"] ?? settings["attach"] {
            throw self.cursor.error("'\(token.text)' needs 'for_each' in call '\(name)'", at: token)
        }
        if case .object = site.collect, site.attachment != .none, let token = settings["key_by"] {
            throw self.cursor.error(
                "'key_by' has no effect with 'attach' in call '\(name)': attached answers go into their source "
                    + "elements; expected one of them",
                at: token)
        }
        if call.cache == nil, let token = settings["stale_while_revalidate"] ?? settings["stale_if_error"] {
            throw self.cursor.error(
                "'\(token.text)' needs 'cache' in call '\(name)'; expected cache=DURATION or cache=upstream too",
                at: token)
        }
        call.cache?.staleWhileRevalidateMs = site.staleWhileRevalidateMs
        call.cache?.staleIfErrorMs = site.staleIfErrorMs
        if let token = settings["cache"], !(call.method == "GET" || call.method == "HEAD") || call.body != nil {
            throw self.cursor.error(
                "'cache' needs a GET or HEAD call without a body in call '\(name)'; only those answers are cached",
                at: token)
        }
        if let token = settings["hedge"], call.hedgeDelayMs != 0, !AttemptPolicy.allowsHedging(method: call.method) {
            throw self.cursor.error(
                "'hedge' needs a GET, HEAD or OPTIONS call in call '\(name)'; only safe calls are sent twice at once",
                at: token)
        }
        if let token = settings["retries"], call.retries != 0, !AttemptPolicy.allowsRetries(method: call.method) {
            throw self.cursor.error(
                "'retries' needs an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE) in call '\(name)'; "
                    + "other calls are never sent twice",
                at: token)
        }
        call.forEach?.collect = site.collect
        call.forEach?.attachment = site.attachment
        return (call, reference, site)
    }

    private func validateCallName(_ token: ConfigToken, existing: [CallConfig], context: String) throws(ConfigError) {
        let name = token.text
        guard CallName.isValid(name) else {
            throw self.cursor.error(
                "invalid call name '\(name)'; expected a letter followed by letters, digits, '_' or '-'",
                at: token
            )
        }
        if Self.reservedCallNames.contains(name) {
            throw self.cursor.error(
                "call name '\(name)' is reserved; expected a name other than "
                    + Self.reservedCallNames.sorted().joined(separator: ", "),
                at: token
            )
        }
        if let previous = existing.first(where: { $0.name == name }) {
            throw self.cursor.error(
                "duplicate call name '\(name)' in \(context); it is already used at line \(previous.location.line), "
                    + "expected a unique name",
                at: token
            )
        }
    }

    /// `required` | `optional` | `timeout=DUR` | `header=Name:value` | `cache=DUR|upstream` |
    /// `stale_while_revalidate=DUR` | `stale_if_error=DUR` | `hedge=DUR|off` | `retries=N`, in any order, on the
    /// call line.
    private mutating func parseCallOptions(
        into call: inout CallConfig,
        site: inout CallSite,
        settings: inout [String: ConfigToken],
        path: PathTemplate,
        context: String
    ) throws(ConfigError) {
        for option in self.cursor.remainingArguments() {
            let text = option.text
            if text == "required" || text == "optional" {
                try self.setRequirement(option, into: &call, settings: &settings)
            } else if text.hasPrefix("timeout=") {
                try self.noteSetting(option, key: "timeout", settings: &settings)
                call.timeoutMs = try self.value(ConfigValue.duration(String(text.dropFirst(8))), at: option, offset: 8)
            } else if text.hasPrefix("hedge=") {
                try self.noteSetting(option, key: "hedge", settings: &settings)
                call.hedgeDelayMs = try self.value(
                    ConfigValue.hedgeDelay(String(text.dropFirst(6))), at: option, offset: 6)
            } else if text.hasPrefix("retries=") {
                try self.noteSetting(option, key: "retries", settings: &settings)
                let digits = String(text.dropFirst(8))
                call.retries = try self.value(
                    ConfigValue.count(digits, in: 0...AttemptPolicy.maxRetries), at: option, offset: 8)
            } else if let equals = text.firstIndex(of: "="),
                ["cache", "stale_while_revalidate", "stale_if_error"].contains(text[..<equals])
            {
                try self.cacheSetting(
                    option, String(text[text.index(after: equals)...]), valueToken: option,
                    offset: text[...equals].unicodeScalars.count, into: &call, site: &site, settings: &settings)
            } else if text.hasPrefix("header=") {
                let field = text.dropFirst(7)
                guard let colon = field.firstIndex(of: ":") else {
                    throw self.cursor.error(
                        "invalid header option '\(option.text)'; expected header=Name:value",
                        at: option,
                        scalarOffset: 7
                    )
                }
                let name = String(field[..<colon])
                call.headers.append(
                    try self.headerTemplate(
                        name: name, nameOffset: 7, value: String(field[field.index(after: colon)...]),
                        valueOffset: 8 + name.unicodeScalars.count, token: option, valueToken: option, site: &site,
                        path: path, context: context))
            } else {
                let key = text.firstIndex(of: "=").map { String(text[...$0]) } ?? text
                let hint =
                    Suggestion.closest(to: key, among: Self.callOptions).map { "did you mean '\($0)'?" }
                    ?? "expected required, optional, timeout=DURATION, header=Name:value, cache=DURATION, "
                    + "hedge=DURATION, retries=N or a '{' block"
                throw self.cursor.error("unknown call option '\(text)'; \(hint)", at: option)
            }
        }
    }

    private func setRequirement(
        _ token: ConfigToken, into call: inout CallConfig, settings: inout [String: ConfigToken]
    ) throws(ConfigError) {
        if let earlier = settings["required"] {
            throw self.cursor.error(
                "'\(token.text)' conflicts with '\(earlier.text)' given earlier; expected one of required or optional",
                at: token
            )
        }
        settings["required"] = token
        call.required = token.text == "required"
    }

    private func noteSetting(_ token: ConfigToken, key: String, settings: inout [String: ConfigToken])
        throws(ConfigError)
    {
        if let first = settings[key] {
            throw self.cursor.error(
                "duplicate '\(key)' for this call; it is already set at line \(first.line), expected it once",
                at: token)
        }
        settings[key] = token
    }

    /// `cache` (`DUR` or `upstream`), `stale_while_revalidate` or `stale_if_error` (`DUR`), as an option or
    /// in the block: `setting` names it, `value` is read from `valueToken` at `offset`.
    private func cacheSetting(
        _ setting: ConfigToken, _ value: String, valueToken: ConfigToken, offset: Int, into call: inout CallConfig,
        site: inout CallSite, settings: inout [String: ConfigToken]
    ) throws(ConfigError) {
        let key = String(setting.text.prefix { $0 != "=" })
        try self.noteSetting(setting, key: key, settings: &settings)
        if key == "cache" && value == "upstream" {
            call.cache = CachePolicy(lifetime: .upstream)
            return
        }
        let milliseconds = try self.value(ConfigValue.duration(value), at: valueToken, offset: offset)
        switch key {
        case "cache": call.cache = CachePolicy(lifetime: .upTo(milliseconds: milliseconds))
        case "stale_while_revalidate": site.staleWhileRevalidateMs = milliseconds
        default: site.staleIfErrorMs = milliseconds
        }
    }

    // MARK: - The call block

    /// A call's block while it is read: the call, where its parts were written, and its settings so far
    /// (shared with the options of its line, for duplicate and conflict errors).
    struct CallBody {
        var call: CallConfig
        var site: CallSite
        var settings: [String: ConfigToken]
        let path: PathTemplate
        let context: String
    }

    /// The directives of a call's block. The non-repeatable ones check their duplicates themselves
    /// (`noteSetting`, `setRequirement`): a block directive may also repeat an option of the call's line.
    static let callTable = DirectiveTable<CallBody>(
        block: "call NAME METHOD TARGET", referencePage: "docs/reference/call.md",
        directives: [
            Directive("for_each") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "for_each", settings: &body.settings)
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "a list: query.NAME, or CALL.FIELD naming an array in another call's answer")
                body.call.forEach = ForEachConfig(source: try parser.forEachSource(token))
                body.site.forEachToken = token
            },
            Directive("key_by") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "key_by", settings: &body.settings)
                let token = try parser.cursor.requireArgument(of: sub, expected: "item or item.FIELD")
                let keyPath: JSONPath?
                if token.text == "item" {
                    keyPath = nil
                } else if token.text.hasPrefix("item.") {
                    keyPath = try parser.jsonPath(String(token.text.dropFirst(5)), token: token, offset: 5)
                } else {
                    throw parser.cursor.error(
                        "invalid key '\(token.text)'; expected item or item.FIELD (a value of each element)", at: token)
                }
                body.site.collect = .object(keyPath: keyPath)
            },
            Directive("attach") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "attach", settings: &body.settings)
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "merge, or a member name for each item's answer in its source element")
                body.site.attachment = token.text == "merge" ? .merge : .member(try parser.memberName(token))
                body.site.attachToken = token
            },
            Directive("extract") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "extract", settings: &body.settings)
                let token = try parser.cursor.requireArgument(of: sub, expected: "a field path like data.items")
                body.call.shape.extract = try parser.jsonPath(token.text, token: token, offset: 0)
            },
            Directive("wrap") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "wrap", settings: &body.settings)
                body.call.shape.wrap = try parser.memberName(
                    try parser.cursor.requireArgument(of: sub, expected: "a member name"))
            },
            Directive("pick", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                body.call.shape.pick += try parser.pathList(sub)
            },
            Directive("drop", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                body.call.shape.drop += try parser.pathList(sub)
            },
            Directive("rename", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                let from = try parser.cursor.requireArgument(of: sub, expected: "a field path and a new name")
                let to = try parser.cursor.requireArgument(of: sub, expected: "a new name after '\(from.text)'")
                let path = try parser.jsonPath(from.text, token: from, offset: 0)
                guard case .key = path.steps.last else {
                    throw parser.cursor.error("'rename' needs a path ending in a field name, like a.b", at: from)
                }
                body.call.shape.renames.append((path, try parser.memberName(to)))
            },
            Directive("nest") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "nest", settings: &body.settings)
                body.call.shape.nest = try parser.memberName(
                    try parser.cursor.requireArgument(of: sub, expected: "a member name"))
            },
            Directive("body") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "body", settings: &body.settings)
                let token = try parser.cursor.requireArgument(
                    of: sub, expected: "'forward' or a JSON template like `{\"sku\": {product.sku}}`")
                if token.text == "forward" && token.kind == .word {
                    body.call.body = .forward
                } else {
                    let template = try parser.valueTemplate(token.text, kind: .json, token: token)
                    try parser.collect(
                        template, token: token, baseOffset: 0, site: &body.site, path: body.path, context: body.context)
                    body.call.body = .template(template)
                }
            },
            Directive("header", repeatable: true) { (parser, sub, body) throws(ConfigError) in
                let name = try parser.cursor.requireArgument(of: sub, expected: "a header name and a value")
                let value = try parser.cursor.requireArgument(of: sub, expected: "a value after the header name")
                body.call.headers.append(
                    try parser.headerTemplate(
                        name: name.text, nameOffset: 0, value: value.text, valueOffset: 0, token: name,
                        valueToken: value,
                        site: &body.site, path: body.path, context: body.context))
            },
            Directive("timeout") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "timeout", settings: &body.settings)
                body.call.timeoutMs = try parser.durationArgument(sub)
            },
            Directive("optional") { (parser, sub, body) throws(ConfigError) in
                try parser.setRequirement(sub, into: &body.call, settings: &body.settings)
            },
            Directive("required") { (parser, sub, body) throws(ConfigError) in
                try parser.setRequirement(sub, into: &body.call, settings: &body.settings)
            },
            Directive("hidden") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "hidden", settings: &body.settings)
                body.call.hidden = true
            },
            Directive("cache") { (parser, sub, body) throws(ConfigError) in
                let value = try parser.cursor.requireArgument(
                    of: sub, expected: "a duration like 30s, or upstream")
                try parser.cacheSetting(
                    sub, value.text, valueToken: value, offset: 0, into: &body.call, site: &body.site,
                    settings: &body.settings)
            },
            Directive("stale_while_revalidate") { (parser, sub, body) throws(ConfigError) in
                let value = try parser.cursor.requireArgument(
                    of: sub, expected: "a duration like 30s")
                try parser.cacheSetting(
                    sub, value.text, valueToken: value, offset: 0, into: &body.call, site: &body.site,
                    settings: &body.settings)
            },
            Directive("stale_if_error") { (parser, sub, body) throws(ConfigError) in
                let value = try parser.cursor.requireArgument(
                    of: sub, expected: "a duration like 30s")
                try parser.cacheSetting(
                    sub, value.text, valueToken: value, offset: 0, into: &body.call, site: &body.site,
                    settings: &body.settings)
            },
            Directive("hedge") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "hedge", settings: &body.settings)
                let token = try parser.cursor.requireArgument(of: sub, expected: "a delay like 50ms, or off")
                body.call.hedgeDelayMs = try parser.value(ConfigValue.hedgeDelay(token.text), at: token)
            },
            Directive("retries") { (parser, sub, body) throws(ConfigError) in
                try parser.noteSetting(sub, key: "retries", settings: &body.settings)
                body.call.retries = try parser.countArgument(sub, in: 0...AttemptPolicy.maxRetries)
            },
        ])

    /// `query.NAME`, `CALL` or `CALL.PATH`.
    private func forEachSource(_ token: ConfigToken) throws(ConfigError) -> ForEachConfig.Source {
        let text = token.text
        let dot = text.firstIndex(of: ".")
        let head = dot.map { String(text[..<$0]) } ?? text
        let rest = dot.map { String(text[text.index(after: $0)...]) }
        if head == "query" {
            guard let rest, TemplateName.isValidQueryName(rest.utf8) else {
                throw self.cursor.error("expected query.NAME with a query parameter name", at: token)
            }
            return .query(rest)
        }
        guard CallName.isValid(head), !ValueReference.namespaces.contains(head) else {
            throw self.cursor.error(
                "invalid list '\(text)'; expected query.NAME, or CALL.FIELD naming an array in another call's answer",
                at: token)
        }
        let path = try rest.map { (rest) throws(ConfigError) in
            try self.jsonPath(rest, token: token, offset: head.unicodeScalars.count + 1)
        }
        return .call(head, path)
    }

    /// Paths separated by spaces and/or commas: `pick id, name price.amount`.
    private mutating func pathList(_ directive: ConfigToken) throws(ConfigError) -> [JSONPath] {
        var paths: [JSONPath] = []
        for token in self.cursor.remainingArguments() {
            var offset = 0
            for part in token.text.split(separator: ",", omittingEmptySubsequences: false) {
                if !part.isEmpty { paths.append(try self.jsonPath(String(part), token: token, offset: offset)) }
                offset += part.unicodeScalars.count + 1
            }
        }
        if paths.isEmpty {
            throw self.cursor.argumentError(directive, expected: "one or more field paths like id, price.amount")
        }
        return paths
    }

    func jsonPath(_ text: String, token: ConfigToken, offset: Int) throws(ConfigError) -> JSONPath {
        do throws(JSONPathError) {
            return try JSONPath(parsing: text)
        } catch {
            throw self.cursor.error(
                "invalid field path '\(text)': \(error.message)", at: token,
                scalarOffset: offset + Self.scalarCount(text, utf8Prefix: error.offset))
        }
    }

    /// A JSON member name set by configuration: 1–128 printable characters, no quote or backslash.
    func memberName(_ token: ConfigToken) throws(ConfigError) -> String {
        let text = token.text
        guard !text.isEmpty, text.utf8.count <= 128,
            text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0 != "\"" && $0 != "\\" && $0.value != 0x7F })
        else {
            throw self.cursor.error(
                "invalid member name '\(text)'; expected 1 to 128 printable characters without quotes or backslashes",
                at: token)
        }
        return text
    }

    // MARK: - Templates in headers and bodies

    private func valueTemplate(_ text: String, kind: ValueTemplate.Kind, token: ConfigToken, offset: Int = 0)
        throws(ConfigError) -> ValueTemplate
    {
        do throws(TemplateSyntaxError) {
            return try ValueTemplate(parsing: text, kind: kind)
        } catch {
            throw self.cursor.error(
                error.message, at: token, scalarOffset: offset + Self.scalarCount(text, utf8Prefix: error.offset))
        }
    }

    /// Checks route parameters now and keeps the other references for the route-level checks.
    private func collect(
        _ template: ValueTemplate,
        token: ConfigToken,
        baseOffset: Int,
        site: inout CallSite,
        path: PathTemplate,
        context: String
    ) throws(ConfigError) {
        var parameters: [(name: String, offset: Int)] = []
        for placeholder in template.placeholders {
            if let reference = placeholder.reference {
                site.references.append(
                    ReferenceSite(
                        reference: reference, token: token,
                        scalarOffset: baseOffset + Self.scalarCount(template.raw, utf8Prefix: placeholder.offset)))
            } else {
                parameters.append((placeholder.name, placeholder.offset))
            }
        }
        try self.validateRouteParameters(
            parameters, in: template.raw, token: token, baseOffset: baseOffset, path: path,
            user: "call '\(site.nameToken.text)'", context: context)
    }

    private func headerTemplate(
        name: String,
        nameOffset: Int,
        value: String,
        valueOffset: Int,
        token: ConfigToken,
        valueToken: ConfigToken,
        site: inout CallSite,
        path: PathTemplate,
        context: String
    ) throws(ConfigError) -> HeaderTemplate {
        if let failure = ConfigValue.headerNameFailure(name, offset: nameOffset) {
            throw self.cursor.error(failure.message, at: token, scalarOffset: failure.offset)
        }
        if let failure = ConfigValue.headerValueFailure(value, offset: valueOffset) {
            throw self.cursor.error(failure.message, at: valueToken, scalarOffset: failure.offset)
        }
        let template = try self.valueTemplate(value, kind: .text, token: valueToken, offset: valueOffset)
        try self.collect(
            template, token: valueToken, baseOffset: valueOffset, site: &site, path: path, context: context)
        return HeaderTemplate(name: name, value: template)
    }
}
