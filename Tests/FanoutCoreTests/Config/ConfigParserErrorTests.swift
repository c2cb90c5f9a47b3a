import Testing

@testable import FanoutCore

/// Each case marks the expected error position with 1️⃣ and gives the expected message (exactly, or a part
/// of it when it starts with "…").
@Suite struct ConfigParserErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var marked: String
        var message: String
        var environment: [String: String] = [:]

        var testDescription: String { self.name }
    }

    static let upstreamP = "upstream partner { url http://p:1 }\n"

    static let cases: [Case] = [
        // Unknown directives.
        Case(
            name: "unknown route directive suggests the closest",
            marked: "route GET /x {\n    1️⃣cal a GET http://h:1/\n}",
            message: "unknown directive 'cal' in route GET /x; did you mean 'call'?"
        ),
        Case(
            name: "unknown top-level directive suggests the closest",
            marked: "listen :80\n1️⃣lisen 127.0.0.1:80",
            message: "unknown directive 'lisen'; did you mean 'listen'?"
        ),
        Case(
            name: "unknown upstream directive lists the valid ones",
            marked: "upstream a {\n  url http://a:1\n  1️⃣frobnicate 1\n}",
            message:
                "unknown directive 'frobnicate' in upstream a; expected one of: url, connect_timeout, timeout, "
                + "max_connections, max_queue, breaker, rate, header, query, follow_redirects, coalesce, "
                + "accept_encoding, context_headers, hedge, abort_grace, retries, retry_budget, tls_verify, tls_ca, tls_cert, tls_key, connect_to, http2, oauth2"
        ),
        // Arguments.
        Case(
            name: "missing argument",
            marked: "1️⃣client_timeout\n",
            message: "missing argument for 'client_timeout'; expected a duration like 250ms or 2s"
        ),
        Case(
            name: "missing argument before semicolon in a block",
            marked: "upstream a {\n  url http://a:1\n  1️⃣timeout;\n}",
            message: "missing argument for 'timeout'; expected a duration like 250ms or 2s"
        ),
        Case(
            name: "extra argument",
            marked: "workers 2 1️⃣3",
            message: "unexpected extra argument '3' for 'workers'; expected end of line or ';'"
        ),
        Case(
            name: "duplicate single-valued directive",
            marked: "workers 2\n1️⃣workers 3",
            message: "duplicate 'workers'; it is already set at line 1, expected it once"
        ),
        Case(
            name: "duplicate directive in an upstream",
            marked: "upstream a {\n  url http://a:1\n  1️⃣url http://b:1\n}",
            message: "duplicate 'url' in upstream a; it is already set at line 2, expected it once"
        ),
        Case(
            name: "unknown context header names the directive and the allowed names",
            marked: "upstream a {\n  url http://a:1\n  context_headers X-Request-Id 1️⃣tracestate\n}",
            message:
                "invalid context_headers name 'tracestate'; expected 'off' or header names among X-Forwarded-For, "
                + "X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, traceparent (tracestate goes with traceparent)"
        ),
        Case(
            name: "duplicate context header in any case",
            marked: "upstream a {\n  url http://a:1\n  context_headers traceparent 1️⃣TraceParent\n}",
            message: "duplicate context_headers name 'TraceParent'; expected each name once"
        ),
        Case(
            name: "empty context_headers asks for off",
            marked: "upstream a {\n  url http://a:1\n  1️⃣context_headers\n}",
            message:
                "missing argument for 'context_headers'; expected 'off' or header names among X-Forwarded-For, "
                + "X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id, traceparent"
        ),
        // Values.
        Case(
            name: "duration without unit",
            marked: "client_timeout 1️⃣10",
            message: "duration '10' has no unit; expected a number followed by ms, s, m or h, like 250ms, 2s or 1.5s"
        ),
        Case(
            name: "duration with unknown unit",
            marked: "send_timeout 1️⃣10d",
            message: "invalid duration '10d'; expected a number followed by ms, s, m or h, like 250ms, 2s or 1.5s"
        ),
        Case(
            name: "duration below a millisecond",
            marked: "send_timeout 1️⃣1.2345s",
            message: "…is not a whole number of milliseconds"
        ),
        Case(
            name: "zero duration",
            marked: "route GET /x {\n  deadline 1️⃣0ms\n  call a GET http://h:1/\n}",
            message: "…must be greater than 0"
        ),
        Case(
            name: "bad size",
            marked: "max_body 1️⃣1tb",
            message:
                "invalid size '1tb'; expected a number of bytes with an optional k, m or g suffix, like 512, 8k or 1MiB"
        ),
        Case(
            name: "bad listen address",
            marked: "listen 1️⃣localhost:80",
            message: "…expected IPv4:port, [IPv6]:port, *:port or :port"
        ),
        Case(
            name: "bad listen port",
            marked: "listen 127.0.0.1:1️⃣70000",
            message: "invalid port in '127.0.0.1:70000'; expected 0...65535"
        ),
        Case(
            name: "workers out of range",
            marked: "workers 1️⃣0",
            message: "0 is out of range; expected 1...1024"
        ),
        Case(
            name: "max_client_connections out of range",
            marked: "max_client_connections 1️⃣0",
            message: "0 is out of range; expected 1...10000000"
        ),
        Case(
            name: "follow_redirects out of range",
            marked: "upstream a {\n  url http://a:1\n  follow_redirects 1️⃣11\n}",
            message: "11 is out of range; expected 0...10"
        ),
        Case(
            name: "max_queue not a number",
            marked: "upstream a {\n  url http://a:1\n  max_queue 1️⃣lots\n}",
            message: "invalid number 'lots'; expected an integer"
        ),
        Case(
            name: "max_queue out of range",
            marked: "upstream a {\n  url http://a:1\n  max_queue 1️⃣2000000\n}",
            message: "2000000 is out of range; expected 0...1000000"
        ),
        Case(
            name: "breaker without arguments",
            marked: "upstream a {\n  url http://a:1\n  1️⃣breaker\n}",
            message: "missing argument for 'breaker'; expected a failure count and a cool-down, like 'breaker 5 30s'"
        ),
        Case(
            name: "breaker without a cool-down",
            marked: "upstream a {\n  url http://a:1\n  1️⃣breaker 5\n}",
            message: "missing argument for 'breaker'; expected a failure count and a cool-down, like 'breaker 5 30s'"
        ),
        Case(
            name: "breaker with zero failures",
            marked: "upstream a {\n  url http://a:1\n  breaker 1️⃣0 30s\n}",
            message: "0 is out of range; expected 1...1000"
        ),
        Case(
            name: "breaker cool-down without a unit",
            marked: "upstream a {\n  url http://a:1\n  breaker 5 1️⃣30\n}",
            message: "duration '30' has no unit; expected a number followed by ms, s, m or h, like 250ms, 2s or 1.5s"
        ),
        Case(
            name: "breaker with an extra argument",
            marked: "upstream a {\n  url http://a:1\n  breaker 5 30s 1️⃣1m\n}",
            message: "unexpected extra argument '1m' for 'breaker'; expected end of line or ';'"
        ),
        Case(
            name: "rate without a unit",
            marked: "upstream a {\n  url http://a:1\n  rate 1️⃣100\n}",
            message: "invalid rate '100'; expected a number of calls per s or m, like 100/s or 30/m"
        ),
        Case(
            name: "rate per hour",
            marked: "upstream a {\n  url http://a:1\n  rate 1️⃣100/h\n}",
            message: "invalid rate '100/h'; expected a number of calls per s or m, like 100/s or 30/m"
        ),
        Case(
            name: "rate of zero",
            marked: "upstream a {\n  url http://a:1\n  rate 1️⃣0/s\n}",
            message: "0 is out of range; expected 1...1000000"
        ),
        Case(
            name: "rate missing",
            marked: "upstream a {\n  url http://a:1\n  1️⃣rate\n}",
            message: "missing argument for 'rate'; expected a rate like 100/s or 30/m"
        ),
        Case(
            name: "duplicate breaker",
            marked: "upstream a {\n  url http://a:1\n  breaker 5 30s\n  1️⃣breaker 3 1s\n}",
            message: "duplicate 'breaker' in upstream a; it is already set at line 3, expected it once"
        ),
        // URLs.
        Case(
            name: "URL with another scheme",
            marked: "upstream a { url 1️⃣ftp://x }",
            message: "invalid URL 'ftp://x'; expected an http:// or https:// URL"
        ),
        Case(
            name: "upstream URL with a query",
            marked: "upstream a { url http://x/p1️⃣?q=1 }",
            message: "a query is not allowed in an upstream base URL"
        ),
        Case(
            name: "upstream URL with userinfo",
            marked: "upstream a { url http://user1️⃣@x }",
            message: "userinfo ('user@') is not allowed in an upstream URL"
        ),
        Case(
            name: "upstream URL with a bad port",
            marked: "upstream a { url http://x:1️⃣99999 }",
            message: "invalid port '99999'; expected 1...65535"
        ),
        Case(
            name: "upstream URL with a fragment",
            marked: "upstream a { url https://x/base1️⃣#top }",
            message: "a fragment is not allowed in an upstream URL"
        ),
        Case(
            name: "placeholder in the host of a call URL",
            marked: "route GET /{id} {\n  call a GET http://1️⃣{id}.example/\n}",
            message: "placeholders are not allowed in the scheme, host or port; only the path and query are templated"
        ),
        Case(
            name: "fragment in a call template",
            marked: "route GET /x {\n  call a GET http://h:1/v1/x1️⃣#frag\n}",
            message: "a fragment ('#') is not allowed in an upstream URL"
        ),
        Case(
            name: "space in a quoted call template",
            marked: "\(upstreamP)route GET /x {\n  call a GET partner \"/v1/a1️⃣ b\"\n}",
            message: "…invalid character in upstream URL"
        ),
        Case(
            name: "upstream without url",
            marked: "upstream 1️⃣a { timeout 1s }",
            message: "upstream a has no 'url'; expected 'url http(s)://host[:port][/prefix]' in its block"
        ),
        Case(
            name: "invalid upstream name",
            marked: "upstream 1️⃣a.b { url http://x }",
            message: "invalid upstream name 'a.b'; expected letters, digits, '_' and '-'"
        ),
        Case(
            name: "duplicate upstream",
            marked: "upstream a { url http://x }\nupstream 1️⃣a { url http://y }",
            message: "duplicate upstream 'a'; it is already defined at line 1, expected a unique name"
        ),
        Case(
            name: "managed header in an upstream",
            marked: "upstream a {\n  url http://x\n  header 1️⃣Content-Length 5\n}",
            message: "header 'Content-Length' is managed by the proxy and cannot be set"
        ),
        Case(
            name: "framing header in a respond route",
            marked: "route GET /x {\n  respond 200\n  header 1️⃣Keep-Alive timeout=5\n}",
            message: "header 'Keep-Alive' is managed by the proxy and cannot be set"
        ),
        // Upstream references.
        Case(
            name: "unknown upstream suggests the closest",
            marked: "upstream partner { url http://p:1 }\nroute GET /x { proxy 1️⃣partnr }",
            message: "unknown upstream 'partnr'; did you mean 'partner'?"
        ),
        Case(
            name: "unknown upstream in a call lists the defined ones",
            marked: "\(upstreamP)route GET /x {\n  call a GET 1️⃣billing /v1\n}",
            message:
                "unknown upstream 'billing'; expected the name of an upstream block or an http(s):// URL (defined upstreams: partner)"
        ),
        Case(
            name: "call path without upstream",
            marked: "route GET /x {\n  call a GET 1️⃣/v1/x\n}",
            message: "expected an upstream name or an http(s):// URL before the path '/v1/x'"
        ),
        // Lexer.
        Case(
            name: "undefined environment variable",
            marked: "upstream a {\n  url http://a:1\n  header X-Key 1️⃣${KEY}\n}",
            message: "environment variable 'KEY' is not set; set it or write ${KEY:-default}"
        ),
        Case(
            name: "undefined environment variable inside a word and a string",
            marked: "upstream a {\n  url http://a:1\n  header X-Key \"abc ${A} 1️⃣${KEY}\"\n}",
            message: "environment variable 'KEY' is not set; set it or write ${KEY:-default}",
            environment: ["A": "1"]
        ),
        Case(
            name: "a variable whose value is not an http URL is named",
            marked: "upstream a {\n  url 1️⃣${PARTNER_URL}\n}",
            message:
                "invalid URL 'htp:/x'; expected an http:// or https:// URL "
                + "(the value here comes from ${PARTNER_URL} in the environment)",
            environment: ["PARTNER_URL": "htp:/x"]
        ),
        Case(
            name: "a space from a variable inside a URL is located at its '$' and named",
            marked: "upstream a {\n  url http://1️⃣${PARTNER_HOST}:8080\n}",
            message: "…(the value here comes from ${PARTNER_HOST} in the environment)",
            environment: ["PARTNER_HOST": "partner internal"]
        ),
        Case(
            name: "an error in the literal part of a token does not blame its variable",
            marked: "upstream a {\n  url http://${PARTNER_HOST}:1️⃣80x\n}",
            message: "invalid port '80x'; expected 1...65535",
            environment: ["PARTNER_HOST": "partner"]
        ),
        Case(
            name: "a duration from a variable is named",
            marked: "client_timeout 1️⃣${CLIENT_TIMEOUT}",
            message: "…(the value here comes from ${CLIENT_TIMEOUT} in the environment)",
            environment: ["CLIENT_TIMEOUT": "10"]
        ),
        Case(
            name: "unterminated variable",
            marked: "workers 1️⃣${N",
            message: "unterminated '${N'; expected '}' (or ':-default}')"
        ),
        Case(
            name: "unterminated string",
            marked: "route GET /x { respond 200 1️⃣\"abc }\n}\n",
            message: "unterminated string; expected a closing '\"' on the same line (use \\n for a newline)"
        ),
        Case(
            name: "unterminated raw string",
            marked: "route GET /x {\n  respond 200 1️⃣`{\"a\":1}\n}\n",
            message: "unterminated raw string; expected a closing '`'"
        ),
        Case(
            name: "unknown escape",
            marked: "route GET /x { respond 200 \"a1️⃣\\q\" }",
            message: "unknown escape in string; expected \\\", \\\\, \\n or \\t"
        ),
        // Blocks.
        Case(
            name: "unclosed block is reported at the end of the file with the line of its '{'",
            marked: "listen :80\n\nroute GET /x {\n  respond 200\n1️⃣",
            message: "unexpected end of file: the block of route GET /x opened at line 3 is not closed; add '}'"
        ),
        Case(
            name: "unclosed block on a last line without newline",
            marked: "upstream a {\n  url http://a:1 1️⃣",
            message: "unexpected end of file: the block of upstream a opened at line 1 is not closed; add '}'"
        ),
        Case(
            name: "unclosed call block names the call",
            marked: "route GET /x {\n  call a GET http://h:1/ {\n    extract data\n1️⃣",
            message: "unexpected end of file: the block of call 'a' opened at line 2 is not closed; add '}'"
        ),
        Case(
            name: "route starting inside an unclosed route block",
            marked: "route GET /x {\n  respond 200\n\n1️⃣route GET /y {\n  respond 204\n}\n",
            message:
                "'route' cannot start inside the block of route GET /x opened at line 1 (route and upstream blocks "
                + "do not nest), so that block likely lacks its '}'; add '}' before line 4"
        ),
        Case(
            name: "upstream starting inside an unclosed upstream block",
            marked: "upstream a {\n  url http://a:1\n1️⃣upstream b {\n  url http://b:1\n}\n",
            message:
                "'upstream' cannot start inside the block of upstream a opened at line 1 (route and upstream blocks "
                + "do not nest), so that block likely lacks its '}'; add '}' before line 3"
        ),
        Case(
            name: "route starting inside an unclosed call block",
            marked: "route GET /x {\n  call a GET http://h:1/ {\n    extract data\n1️⃣route GET /y { respond 204 }",
            message: "…cannot start inside the block of call 'a' opened at line 2 (route and upstream blocks"
        ),
        Case(
            name: "stray closing brace",
            marked: "listen :80\n1️⃣}\n",
            message: "unexpected '}': no block is open; expected a directive"
        ),
        Case(
            name: "missing opening brace",
            marked: "route GET /x1️⃣\n",
            message: "expected '{' after 'route GET /x', found end of line"
        ),
        // Routes.
        Case(
            name: "mixing call and respond",
            marked: "route GET /x {\n  call a GET http://h:1/\n  1️⃣respond 200\n}",
            message:
                "route GET /x mixes 'call' (line 2) and 'respond'; expected 'call' lines, one 'proxy' or one 'respond'"
        ),
        Case(
            name: "two proxies",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  1️⃣proxy partner\n}",
            message: "duplicate 'proxy' in route GET /x; it is already set at line 3, expected it once"
        ),
        Case(
            name: "route without action",
            marked: "1️⃣route GET /x { }",
            message: "route GET /x has no action; expected 'call' lines, 'proxy' or 'respond' in its block"
        ),
        Case(
            name: "deadline with proxy",
            marked: "\(upstreamP)route GET /x {\n  1️⃣deadline 1s\n  proxy partner\n}",
            message: "'deadline' is only valid in a route with 'call' lines; route GET /x uses 'proxy'"
        ),
        Case(
            name: "timeout with calls",
            marked: "route GET /x {\n  call a GET http://h:1/\n  1️⃣timeout 1s\n}",
            message:
                "'timeout' is only valid in a route with 'proxy' (calls take timeout=DUR); route GET /x uses 'call'"
        ),
        Case(
            name: "min_rate with calls",
            marked: "route GET /x {\n  call a GET http://h:1/\n  1️⃣min_rate 1k/s\n}",
            message:
                "'min_rate' is only valid in a route with 'proxy' (other routes collect whole bodies under "
                + "'client_timeout' and 'timeout'); route GET /x uses 'call'"
        ),
        Case(
            name: "min_rate without a rate",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  1️⃣min_rate\n}",
            message: "…expected a rate like 1k/s and an optional grace period like 30s, or off"
        ),
        Case(
            name: "min_rate without per second",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate 1️⃣1k\n}",
            message: "invalid rate '1k'; expected a size per second like 1k/s or 512/s"
        ),
        Case(
            name: "min_rate of zero",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate 1️⃣0/s\n}",
            message: "size '0' must be between 1 byte and 64 GiB in rate '0/s'"
        ),
        Case(
            name: "min_rate with a bad grace period",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate 1k/s 1️⃣30\n}",
            message: "…duration '30' has no unit"
        ),
        Case(
            name: "min_rate off with a grace period",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate off 1️⃣30s\n}",
            message: "unexpected '30s' after 'off'; expected 'off' alone"
        ),
        Case(
            name: "min_rate twice",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate off\n  1️⃣min_rate 1k/s\n}",
            message: "duplicate 'min_rate' in route GET /x; it is already set at line 4, expected it once"
        ),
        Case(
            name: "min_rate with an extra argument",
            marked: "\(upstreamP)route GET /x {\n  proxy partner\n  min_rate 1k/s 30s 1️⃣5s\n}",
            message: "…5s"
        ),
        Case(
            name: "delay with calls",
            marked: "route GET /x {\n  call a GET http://h:1/\n  1️⃣delay 1s\n}",
            message: "'delay' is only valid in a route with 'respond'; route GET /x uses 'call'"
        ),
        Case(
            name: "unknown route parameter in an absolute call URL",
            marked: "route GET /products/{id} {\n  call product GET http://h:1/v1/1️⃣{idx}\n}",
            message: "unknown route parameter 'idx' in call 'product'; did you mean 'id'?"
        ),
        Case(
            name: "unknown route parameter in a named-upstream template",
            marked:
                "\(upstreamP)route GET /users/{user_id}/x {\n  call a GET partner /v1/{user_id}?q=1&v=1️⃣{version}\n}",
            message: "unknown route parameter 'version' in call 'a'; expected one of the route's parameters: user_id"
        ),
        Case(
            name: "route parameter in a route without parameters",
            marked: "\(upstreamP)route GET /x {\n  proxy partner /v1/1️⃣{id}\n}",
            message:
                "unknown route parameter 'id' in proxy; route GET /x has no parameters; expected {query.NAME} or a literal"
        ),
        Case(
            name: "catch-all used as a single parameter",
            marked: "\(upstreamP)route * /api/{rest...} {\n  proxy partner /v2/1️⃣{rest}\n}",
            message: "'rest' is a catch-all parameter of route * /api/{rest...}; expected {rest...}"
        ),
        Case(
            name: "duplicate call name",
            marked: "route GET /x {\n  call a GET http://h:1/\n  call 1️⃣a GET http://h:1/\n}",
            message: "duplicate call name 'a' in route GET /x; it is already used at line 2, expected a unique name"
        ),
        Case(
            name: "reserved call name",
            marked: "route GET /x {\n  call 1️⃣query GET http://h:1/\n}",
            message: "call name 'query' is reserved; expected a name other than body, header, item, query, route"
        ),
        Case(
            name: "call name starting with underscore",
            marked: "route GET /x {\n  call 1️⃣_meta GET http://h:1/\n}",
            message: "invalid call name '_meta'; expected a letter followed by letters, digits, '_' or '-'"
        ),
        Case(
            name: "unknown call option",
            marked: "route GET /x {\n  call a GET http://h:1/ 1️⃣optinal\n}",
            message: "unknown call option 'optinal'; did you mean 'optional'?"
        ),
        Case(
            name: "bad call timeout option",
            marked: "route GET /x {\n  call a GET http://h:1/ timeout=1️⃣5\n}",
            message: "duration '5' has no unit; expected a number followed by ms, s, m or h, like 250ms, 2s or 1.5s"
        ),
        Case(
            name: "call header option with CR",
            marked: "route GET /x {\n  call a GET http://h:1/ \"header=X-A:v1️⃣\\n\"\n}",
            message: "header value contains a control character (CR, LF, NUL, …); expected visible text"
        ),
        Case(
            name: "duplicate route",
            marked: "route GET /a/{x} { respond 200 }\nroute GET,POST 1️⃣/a/{y} { respond 200 }",
            message:
                "duplicate route GET,POST /a/{y}: GET on this path is already routed at line 1; expected each method and path once"
        ),
        Case(
            name: "route after a star route of the same shape",
            marked: "route * /a { respond 200 }\nroute GET 1️⃣/a { respond 200 }",
            message: "…already matches every method on this path"
        ),
        Case(
            name: "parameter not a whole segment",
            marked: "route GET /a/x1️⃣{id} { respond 200 }",
            message: "a parameter must be a whole segment, like /users/{id}"
        ),
        Case(
            name: "catch-all not last",
            marked: "route GET /a/1️⃣{rest...}/b { respond 200 }",
            message: "catch-all '{rest...}' must be the last segment of the path"
        ),
        Case(
            name: "method list with a space",
            marked: "route GET,1️⃣ /x { respond 200 }",
            message: "…expected '*', a method or a comma list without spaces like GET,HEAD"
        ),
        Case(
            name: "status out of range",
            marked: "route GET /x { respond 1️⃣600 }",
            message: "600 is out of range; expected 100...599"
        ),
        Case(
            name: "body on a 204",
            marked: "route GET /x { respond 204 1️⃣`{}` }",
            message: "a 204 response cannot have a body; expected 'respond 204' alone"
        ),
        Case(
            name: "respond body that is not JSON under the default content type",
            marked: "route GET /x {\n  respond 503 1️⃣maintenance\n}",
            message:
                "respond body is not valid JSON (unexpected character, expected a value) but its content type is "
                + "application/json (the default of 'respond'); expected JSON in backticks like "
                + "`{\"status\": \"ok\"}`, or a 'content_type' like text/plain"
        ),
        Case(
            name: "respond body error points inside a multi-line backtick body",
            marked: "route GET /x {\n  respond 200 `{\n    \"a\": 1,\n    1️⃣}`\n}",
            message: "…respond body is not valid JSON (expected a member name (a string))"
        ),
        Case(
            name: "respond body under an explicit +json content type",
            marked:
                "route GET /x {\n  content_type application/problem+json\n  respond 404 `{\"title\": n1️⃣ope}`\n}",
            message: "…but its content type is 'application/problem+json';"
        ),
        Case(
            name: "respond body from a variable that is not JSON names the variable",
            marked: "route GET /x { respond 200 \"{\\\"v\\\": 1️⃣${VERSION}}\" }",
            message: "…(the value here comes from ${VERSION} in the environment)",
            environment: ["VERSION": "v2"]
        ),
        // min_success.
        Case(
            name: "min_success above the number of calls",
            marked: "route GET /x {\n  min_success 1️⃣3\n  call a GET http://h:1/a optional\n"
                + "  call b GET http://h:1/b optional\n}",
            message: "min_success 3 is out of range for the 2 call(s) of route GET /x; expected 1...2"
        ),
        Case(
            name: "min_success zero",
            marked: "route GET /x {\n  min_success 1️⃣0\n  call a GET http://h:1/a optional\n}",
            message: "min_success 0 is out of range for the 1 call(s) of route GET /x; expected 1...1"
        ),
        Case(
            name: "min_success without a number",
            marked: "route GET /x {\n  1️⃣min_success\n  call a GET http://h:1/a optional\n}",
            message: "missing argument for 'min_success'; expected a number of calls like 2"
        ),
        Case(
            name: "min_success with respond",
            marked: "route GET /x {\n  respond 200\n  1️⃣min_success 1\n}",
            message: "'min_success' is only valid in a route with 'call' lines; route GET /x uses 'respond'"
        ),
        Case(
            name: "min_success misspelt",
            marked: "route GET /x {\n  call a GET http://h:1/a optional\n  1️⃣min_sucess 1\n}",
            message: "unknown directive 'min_sucess' in route GET /x; did you mean 'min_success'?"
        ),
        Case(
            name: "forward_headers refuses a framing header",
            marked: "forward_headers Accept-Language 1️⃣Content-Length",
            message: "header 'Content-Length' cannot be forwarded: fanout sets it itself or it is hop-by-hop"
        ),
        Case(
            name: "forward_headers refuses a header fanout sets itself",
            marked: "forward_headers 1️⃣X-Request-Id",
            message: "…cannot be forwarded"
        ),
        Case(
            name: "forward_headers refuses the trace headers, which carry a span per call",
            marked: "forward_headers Accept-Language 1️⃣Traceparent tracestate",
            message: "header 'Traceparent' cannot be forwarded: fanout sets it itself or it is hop-by-hop"
        ),
        Case(
            name: "forward_headers refuses tracestate",
            marked: "forward_headers 1️⃣tracestate",
            message: "…cannot be forwarded"
        ),
        Case(
            name: "proxy URL followed by a path",
            marked: "route * /x/{rest...} { proxy http://h:1 1️⃣/v2/{rest...} }",
            message: "…expected 'proxy URL' alone, or an upstream block and 'proxy NAME /path'"
        ),
    ]

    @Test(arguments: cases)
    func reportsErrorAtMarkedPosition(_ testCase: Case) {
        expectConfigError(testCase.marked, testCase.message, environment: testCase.environment)
    }
}
