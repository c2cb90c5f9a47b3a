extension ConfigFileParser {
    /// How deep `include`s may nest: far more than a layout needs, and a stop for a cycle that symbolic
    /// links hide from the path comparison.
    static let maxIncludeDepth = 16

    /// include := 'include' PATH-OR-GLOB
    ///
    /// Parses each file the argument names, in sorted order, as if its text stood here at top level. A
    /// relative path is resolved against the including file's directory; a glob matching nothing is fine, a
    /// plain path that does not exist is an error. Errors inside an included file are located in it, and say
    /// which `include` brought it in.
    mutating func parseInclude(_ directive: ConfigToken) throws(ConfigError) {
        let token = try self.cursor.requireArgument(of: directive, expected: "a file path or a glob like conf.d/*.conf")
        try self.cursor.finishDirective(directive)
        let resolved = ConfigIncludePath.resolve(token.text, from: self.cursor.file)
        let paths =
            ConfigIncludePath.isGlob(resolved)
            ? ConfigIncludePath.expand(resolved, reader: self.includes) : [resolved]
        for path in paths {
            try self.include(path, at: token)
        }
    }

    private mutating func include(_ path: String, at token: ConfigToken) throws(ConfigError) {
        let site = self.cursor.location(of: token)
        if let start = self.includeChain.firstIndex(of: path) {
            let chain = self.includeChain[start...] + [path]
            throw self.cursor.error(
                "include cycle: \(chain.joined(separator: " includes ")); expected each file included once per chain",
                at: token
            )
        }
        guard self.includeChain.count <= Self.maxIncludeDepth else {
            throw self.cursor.error(
                "includes nest deeper than \(Self.maxIncludeDepth) files; expected a shallower layout",
                at: token
            )
        }
        let text: String
        do {
            text = try self.includes.read(path)
        } catch {
            switch error {
            case .missing(let lookedAt):
                let absolute = lookedAt == path ? "" : " (looked for \(lookedAt))"
                throw self.cursor.error(
                    "included file '\(path)' does not exist\(absolute); expected an existing file, "
                        + "or a glob (which may match nothing)",
                    at: token
                )
            case .unreadable(let reason):
                throw self.cursor.error(
                    "included file '\(path)' cannot be read: \(reason); expected a readable file",
                    at: token
                )
            }
        }
        var lexer = ConfigLexer(text: text, file: path, environment: self.environment)
        if !self.parsedFiles.contains(path) { self.parsedFiles.append(path) }
        let outer = self.cursor
        self.includeChain.append(path)
        do {
            let tokens = try lexer.tokenize()
            self.cursor = ConfigCursor(tokens: tokens, file: path, end: lexer.endPosition)
            try self.parseDirectives()
        } catch {
            throw Self.noting(error, in: path, includedAt: site)
        }
        self.warnings.append(contentsOf: lexer.warnings)
        self.includeChain.removeLast()
        self.cursor = outer
    }

    /// An error located in `file` says which `include` brought that file in (once: an error deeper down
    /// names its own includer).
    private static func noting(_ error: ConfigError, in file: String, includedAt site: SourceLocation) -> ConfigError {
        guard error.location.file == file else { return error }
        var noted = error
        noted.message += " (in a file included at \(site))"
        return noted
    }
}
