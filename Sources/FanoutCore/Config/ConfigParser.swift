/// Parses `proxy.conf` into a `FanoutConfig`: lexer (`ConfigLexer`) → cursor (`ConfigCursor`) → parser
/// (`ConfigFileParser`, one method per grammar rule), then validation.
///
/// # Syntax
/// nginx/Caddyfile family. Tokens are separated by spaces or tabs; a directive ends at a newline or `;`;
/// a block is `{ … }` where `{` ends its directive's line and `}` may follow a `;` on the same line.
/// `#` starts a comment at the start of a token (outside quotes). Arguments are bare words,
/// `"double quoted"` strings (escapes `\" \\ \n \t`, single line) or `` `backtick raw` `` strings (verbatim,
/// may span lines and hold `{ } " #` — use them for JSON bodies). `${VAR}` and `${VAR:-default}` are
/// replaced from the `environment` argument everywhere except inside backticks (`:-` applies when VAR is
/// unset or empty; an unset VAR without default is an error).
///
/// Durations: a number and a unit `ms`, `s`, `m` or `h` (`250ms`, `2s`, `1.5s`, `1m`), a whole number of
/// milliseconds greater than 0 (`delay` also takes `0`). Sizes: bytes with an optional binary suffix
/// (`512`, `8k`/`8K`/`8KiB`, `1m`/`1M`/`1MiB`, `1g`/`1G`/`1GiB`).
///
/// # Directives
/// Each block's directives are listed once, in its `DirectiveTable` (`ConfigFileParser.topLevelTable`,
/// `upstreamTable`, `oauth2Table`, `routeTable`, `callTable` (a call's block; the options of its line are in
/// `callOptions`), `tracingTable`, `corsTable`, `storeTable`): name, whether it repeats, and the function that
/// reads its arguments. The grammar summary generated from them is in docs/reference/syntax.md, each
/// directive's syntax, default and meaning in its page of docs/reference. Every directive but `listen`,
/// `include`, `upstream` and `route` may appear once at top level, across all included files.
///
/// # Routes
/// `route METHODS PATH { … }`: METHODS is `*`, one method or a comma list without spaces (`GET,HEAD`);
/// methods are uppercased. PATH is a `PathTemplate` (`/products/{id}`, `/api/{rest...}`). A `GET` route also
/// answers `HEAD`. A route holds exactly one kind of action: `call` lines (fan out and stitch one JSON answer),
/// one `proxy` or one `respond`; a setting that fits another kind is an error.
/// Templates are `URLTemplate`s; every `{x}`/`{x...}` they use must be a parameter of the route path (of the
/// same kind). An absolute URL creates or reuses an implicit upstream named after its origin
/// (`http://127.0.0.1:9002`; a proxy URL's prefix is part of the origin and the name), with default
/// timeouts; upstream names may be used before their block. Two routes with the same path shape (parameter
/// names ignored) may not claim the same method, and no route may follow a `*` route of the same shape.
///
/// # Errors and warnings
/// `ConfigError` with `file:line:column` of the offending token (or of the reference inside a template, where
/// it is written; inside a `${…}` value, at its `$`, and the message names the variable) and a message saying
/// what was expected; unknown names get a "did you mean" suggestion (edit distance ≤ 2) or the list of valid
/// ones. A block left open is reported at the end of the file, or at the next `route`/`upstream` line, with
/// the line of its `{`. `ConfigWarning`s (in `FanoutConfig.parseWarnings`) flag what is valid but likely
/// unintended: a `${VAR}` set to the empty string, a `min_success` in a route whose calls are all required,
/// `cache_control derived` in a route with a call without `cache=`.
public enum ConfigParser {
    /// Parses a whole configuration file.
    /// - Parameters:
    ///   - text: the file's contents.
    ///   - file: the name used in error locations (`proxy.conf`).
    ///   - environment: values for `${VAR}` (in included files too); the core never reads the process
    ///     environment itself.
    ///   - includes: reads the files `include` names (by default none: a glob matches nothing, a path is
    ///     missing).
    ///   - libcurl: what the libcurl that will carry the calls out can do (the runtime passes the loaded one's);
    ///     by default Debian bookworm's 7.88.1. A directive it cannot carry out is an error naming the version.
    /// - Returns: the configuration; what is valid but suspicious (a `${VAR}` set to the empty string) is in
    ///   its `parseWarnings`, and reaches the operator through `warnings`.
    /// - Throws: `ConfigError` for the first problem found.
    public static func parse(
        _ text: String,
        file: String,
        environment: [String: String],
        includes: some ConfigIncludeReader = NoConfigIncludes(),
        libcurl: LibcurlCapabilities = .bookworm
    ) throws(ConfigError) -> FanoutConfig {
        var lexer = ConfigLexer(text: text, file: file, environment: environment)
        let tokens = try lexer.tokenize()
        var parser = ConfigFileParser(
            cursor: ConfigCursor(tokens: tokens, file: file, end: lexer.endPosition),
            includes: includes,
            environment: environment,
            libcurl: libcurl
        )
        var config = try parser.parseFile()
        let order = Dictionary(
            parser.parsedFiles.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        config.parseWarnings = (lexer.warnings + parser.warnings).sorted {
            let left = (order[$0.location.file] ?? 0, $0.location.line, $0.location.column)
            let right = (order[$1.location.file] ?? 0, $1.location.line, $1.location.column)
            return left < right
        }
        return config
    }
}
