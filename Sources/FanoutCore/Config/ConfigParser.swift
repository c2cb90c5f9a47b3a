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
/// # Top level
/// ```
/// listen ADDRESS            repeatable; 127.0.0.1:8080, [::1]:8080, *:8080 or :8080 (all IPv4);
///                           port 0 = any free port. Default 127.0.0.1:8080
/// admin_listen off | PORT | ADDRESS
///                           /metrics, /healthz, /readyz; a bare PORT is 127.0.0.1:PORT. Default off
/// workers auto | N          1...1024. Default auto
/// access_log stdout | off   Default stdout
/// forward_headers NAME…     client headers sent on composite calls (lowercased).
///                           Default Accept-Language User-Agent
/// max_request_line SIZE     Default 8k        max_header_bytes SIZE    Default 32k
/// max_headers N             Default 100       max_body SIZE            Default 1m
/// keepalive_requests N      Default 1000      max_response_body SIZE   Default 8m
/// cache_size SIZE           per worker. Default 16m
/// client_timeout DUR        Default 10s       keepalive_timeout DUR    Default 75s
/// send_timeout DUR          Default 30s       shutdown_timeout DUR     Default 10s
/// gzip on | off             gzip composite answers for clients that accept it. Default off
/// gzip_min_length SIZE      Default 1k        gzip_level N             1...9. Default 1
/// abort_on_close on | off   a client FIN while its answer is pending cancels it (499); off: a
///                           half-close, answered. A reset always cancels. Default on
/// cors { … }                CORS policy of every route without its own `cors` (below). Default none
/// include PATH | GLOB       repeatable; the files' text as if it stood here (relative to this file's
///                           directory; globs in sorted order, may match nothing; no cycles)
/// store { … }              a shared Redis/Valkey (second level of the call cache): address IP[:PORT]
///                           (required), connect_timeout (200ms), command_timeout (5ms), prefix (fanout:),
///                           password, user, db (0), max_entry (256k), tls (off), tls_ca, tls_server_name,
///                           tls_cert + tls_key
/// upstream NAME { … }       NAME is [A-Za-z0-9_-]+, unique
/// route METHODS PATH { … }
/// tracing { … }            OTLP/HTTP span export; inside: otlp_endpoint URL (required), sample RATIO,
///                           service_name NAME, batch N, flush DUR, queue N, timeout DUR, header NAME VALUE
/// ```
/// Every directive but `listen`, `include`, `upstream` and `route` may appear once, across all included files.
///
/// # `upstream NAME { … }`
/// ```
/// url http(s)://host[:port][/prefix]   required; no query, fragment, userinfo or placeholders
/// connect_timeout DUR                  Default 2s
/// timeout DUR                          whole call. Default 10s
/// max_connections N                    1...100000. Default 64
/// max_queue N                          0...1000000 calls waiting (per-worker share). Default unbounded
/// breaker FAILURES COOLDOWN            1...1000 consecutive failures, a duration. Default off
/// rate N/s | N/m                      1...1000000 calls started per second or minute. Default none
/// follow_redirects N                   0...10. Default 0: a 3xx is the answer
/// coalesce on|off                      Default on: identical composite GETs in flight share a transfer
/// accept_encoding CODING… | off        gzip deflate br zstd, asked for and decoded on composite calls.
///                                      Default gzip br
/// header NAME VALUE                    repeatable; NAME a token (not Content-Length, Transfer-Encoding,
///                                      Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade);
///                                      VALUE without control characters
/// query NAME VALUE                     repeatable, each NAME once; NAME [A-Za-z0-9._~[\]-]+; added, encoded,
///                                      after every call's own query, replacing a same-named parameter
/// hedge DUR | off                      a second copy of a composite GET/HEAD/OPTIONS/TRACE call without an
///                                      answer after DUR. Default off
/// retries N                            0...5 extra attempts of an idempotent composite call. Default 0
/// retry_budget PERCENT                 0...100 (`%` optional) of calls over 10 s per worker, plus 3/s,
///                                      for retries and hedges. Default 20%
/// tls_verify on | off                  check the partner's certificate and name. Default on (off: a warning)
/// tls_ca FILE                          PEM CA bundle to verify with, instead of the system store
/// tls_cert FILE, tls_key FILE          PEM client certificate and key (mutual TLS); both or neither
/// connect_to HOST:PORT                 connect there; SNI and Host stay the URL's. Default the URL's
/// http2 on | off                       HTTP/2 (h2c with prior knowledge needs libcurl 8). Default off
/// oauth2 { … }                         OAuth2 client credentials: calls carry Authorization: Bearer TOKEN;
///                                      not with `header Authorization`. Inside (docs/reference/oauth2.md):
///   token_url URL                      required; http(s), no query
///   client_id VALUE, client_secret VALUE   required, usually ${ENV}; never in a message
///   scope "A B", audience VALUE        sent when set
///   auth basic | form                  client authentication. Default basic
///   refresh_before DUR                 refresh ahead of expires_in (at most half of it). Default 30s
///   timeout DUR                        the token request's limit. Default 5s
/// ```
///
/// # `route METHODS PATH { … }`
/// METHODS is `*`, one method or a comma list without spaces (`GET,HEAD`); methods are uppercased.
/// PATH is a `PathTemplate` (`/products/{id}`, `/api/{rest...}`). A `GET` route also answers `HEAD`.
/// A route holds exactly one kind of action:
/// ```
/// call NAME METHOD UPSTREAM PATH-TEMPLATE [OPTIONS] ['{' CALL-DIRECTIVE* '}']
/// call NAME METHOD ABSOLUTE-URL-TEMPLATE [OPTIONS] ['{' CALL-DIRECTIVE* '}']
///                               one or more; fan out and stitch one JSON answer
///     NAME [A-Za-z][A-Za-z0-9_-]*, unique in the route, not query/header/body/item/route
///     OPTIONS: required (default) | optional, timeout=DUR, header=Name:value (repeatable),
///              cache=DUR|upstream, stale_while_revalidate=DUR, stale_if_error=DUR, hedge=DUR|off, retries=N
///     CALL-DIRECTIVE (one a line, in the call's block; the options above without '=' too):
///         for_each LIST              query.NAME, CALL or CALL.PATH: one request per element
///         key_by item | item.PATH    collect for_each answers into an object
///         attach NAME | merge        put for_each answers back into the source elements
///         extract PATH, wrap NAME, pick PATH…, drop PATH…, rename PATH NAME, nest NAME   shape the answer
///         body forward | `JSON-TEMPLATE`   the request body
///         header NAME VALUE, timeout DUR, optional, required, hidden (answer used by other calls only),
///         cache DUR|upstream, stale_while_revalidate DUR, stale_if_error DUR, hedge DUR|off, retries N
/// deadline DUR                  only with calls. Default 5s
/// combine keyed | merge [concat|replace] | concat | only CALL   only with calls. Default keyed
/// field NAME JSON               only with calls; repeatable; a static member of an object answer
/// max_items N                   only with calls; 1...10000 for_each elements. Default 100
/// max_concurrency N             only with calls; 1...1000 for_each requests in flight. Default 16
/// pass_status                   only with calls; one call, no for_each: answer with its status
/// error_body SIZE               only with calls; failure reports carry that much of the error body. Default off
/// min_success N                 only with calls; 1...number of calls. Fewer successful calls fail the route
///                               (502, or 504/503 by the failures), optional or not. Default off
///
/// proxy UPSTREAM [PATH-TEMPLATE]  one; without a template the client's path and query are appended to
///                                 the upstream's base path unchanged
/// proxy http(s)://host[:port][/prefix]   same, with an implicit upstream
/// timeout DUR                   only with proxy; an idle limit. Default: the upstream's timeout
/// max_body SIZE                 only with proxy; the request body limit. Default: the top-level max_body
/// min_rate RATE [GRACE] | off   only with proxy; RATE a size per second (`1k/s`), GRACE a duration.
///                               Default 1k/s 30s, both bodies
/// tunnel_idle_timeout DUR       only with proxy; an Upgrade tunnel (WebSocket) closes after this long with
///                               no byte either way. Default 60s
///
/// respond STATUS [BODY]         one; STATUS 100...599; BODY bare, quoted or backtick (not with 1xx/204/304);
///                               valid JSON when the content type is JSON (application/json or +json)
/// content_type TYPE             only with respond. Default application/json
/// header NAME VALUE             only with respond; repeatable; not Content-Type or a framing field
/// delay DUR                     only with respond; 0 allowed. Default 0
///
/// response_header NAME VALUE    with calls or proxy; repeatable; replaces a partner's field of that name; not
///                               a framing field, Date, Content-Type, Content-Encoding or Access-Control-*
/// pass_header CALL NAME…        only with calls; repeatable; CALL not for_each; the fields of CALL's 2xx answer
/// cache_control derived | off   only with calls; Cache-Control max-age from the cached calls, else no-store
/// cors { … } | cors off         any route; the top-level one when absent. Block: origins * | ORIGIN…
///                               (required; `https://*.b.example` wildcards), methods M…, headers * | NAME…,
///                               credentials on|off (not with `*` origins or headers), max_age DUR, expose NAME…
/// ```
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
