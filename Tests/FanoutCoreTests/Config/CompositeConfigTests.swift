import Testing

@testable import FanoutCore

/// The composition syntax: call blocks, references, for_each, shaping, combine; and each misuse's
/// check-time error at its `file:line:column`.
@Suite struct CompositeConfigTests {
    static func composite(_ text: String) throws -> CompositeRoute {
        let config = try ConfigParser.parse(
            "upstream p { url http://p.test:1 }\n" + text, file: "proxy.conf", environment: [:])
        guard case .composite(let route) = config.routes[0].action else {
            Issue.record("not a composite route")
            return CompositeRoute(calls: [])
        }
        return route
    }

    @Test func parsesEveryCompositionDirective() throws {
        let route = try Self.composite(
            """
            route POST /catalog/{id} {
                deadline 2s
                combine only products
                field version `"v2"`
                max_items 50
                max_concurrency 8
                error_body 2KiB
                call products GET p /products?category={query.cat}&user={header.x-user} {
                    extract data
                    wrap items
                    pick items[].id, items[].name items[].sku
                    drop items[].internal
                    rename items[].name title
                    nest catalog
                    hidden
                }
                call stock GET p /stock/{item.sku} optional {
                    for_each products.data
                    key_by item.sku
                    timeout 300ms
                    header X-Sku {item.sku}
                }
                call audit POST p /audit {
                    body `{"id": {id}, "who": {body.user.name}, "count": {products.total}}`
                }
            }
            """)
        #expect(route.deadlineMs == 2000)
        #expect(route.combine == .only(0))
        #expect(route.staticFields == [JSONMember(key: "version", value: .string("v2"))])
        #expect(route.maxItems == 50 && route.maxConcurrency == 8 && route.errorBodyBytes == 2048)
        #expect(route.readsClientJSONBody)

        let products = route.calls[0]
        #expect(products.hidden)
        #expect(products.dependencies.isEmpty)
        #expect(products.shape.extract?.description == "data")
        #expect(products.shape.wrap == "items")
        #expect(products.shape.pick.map(\.description) == ["items[].id", "items[].name", "items[].sku"])
        #expect(products.shape.drop.map(\.description) == ["items[].internal"])
        #expect(products.shape.renames.map(\.name) == ["title"])
        #expect(products.shape.nest == "catalog")

        let stock = try #require(route.calls[1].forEach)
        #expect(stock.source == .call("products", try JSONPath(parsing: "data")))
        #expect(stock.sourceCall == 0)
        #expect(stock.collect == .object(keyPath: try JSONPath(parsing: "sku")))
        #expect(route.calls[1].dependencies == [0])
        #expect(route.calls[1].required == false)
        #expect(route.calls[1].timeoutMs == 300)

        #expect(route.calls[2].method == "POST")
        #expect(route.calls[2].dependencies == [0])
        guard case .template(let body)? = route.calls[2].body else {
            Issue.record("expected a body template")
            return
        }
        #expect(body.references.count == 2)
    }

    @Test func attachAndMergeModes() throws {
        let route = try Self.composite(
            """
            route GET /x {
                combine merge replace
                call list GET p /list
                call more GET p /more/{item.id} { for_each list; attach merge }
                call extra GET p /extra/{item.id} { attach info; for_each list.items }
            }
            """)
        #expect(route.combine == .merge(.replace))
        #expect(route.calls[1].forEach?.attachment == .merge)
        #expect(route.calls[2].forEach?.attachment == .member("info"))
        #expect(route.calls[2].forEach?.source == .call("list", try JSONPath(parsing: "items")))
    }

    // MARK: - Misuse

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var marked: String
        var message: String
        var testDescription: String { self.name }
    }

    static let cases: [Case] = [
        Case(
            name: "unknown call in a URL",
            marked: "route GET /x {\n call product GET p /p\n call stock GET p /s/1️⃣{prodct.sku}\n}",
            message: "unknown call 'prodct' in '/s/{prodct.sku}'; did you mean 'product'?"),
        Case(
            name: "unknown call in a header",
            marked: "route GET /x {\n call a GET p /a { header X-B 1️⃣{basket.id} }\n}",
            message: "unknown call 'basket' in '{basket.id}'; expected one of the route's calls: a"),
        Case(
            name: "two calls reading each other",
            marked: "route GET /x {\n call a GET p /a/{b.id}\n call b GET p /b/1️⃣{a.id}\n}",
            message: "calls form a cycle: a → b → a; expected each call to read only calls that can finish first"),
        Case(
            name: "a call reading itself",
            marked: "route GET /x {\n call a GET p /a/1️⃣{a.id}\n}",
            message: "call 'a' refers to its own answer; a call can only read calls that run before it"),
        Case(
            name: "item outside for_each",
            marked: "route GET /x {\n call a GET p /a/1️⃣{item.id}\n}",
            message: "'{item.id}' refers to the current item, but call 'a' has no 'for_each'"),
        Case(
            name: "key_by without for_each",
            marked: "route GET /x {\n call a GET p /a {\n 1️⃣key_by item.id\n }\n}",
            message: "'key_by' needs 'for_each' in call 'a'"),
        Case(
            name: "key_by with attach",
            marked:
                "route GET /x {\n call l GET p /l\n call a GET p /a/{item} {\n for_each l\n 1️⃣key_by item\n attach merge\n }\n}",
            message:
                "'key_by' has no effect with 'attach' in call 'a': attached answers go into their source elements; expected one of them"
        ),
        Case(
            name: "attach over a query list",
            marked: "route GET /x {\n call a GET p /a/{item} {\n for_each query.ids\n attach 1️⃣merge\n }\n}",
            message: "'attach' needs for_each over another call's answer; items of query.ids have no source element"),
        Case(
            name: "for_each over an unknown call",
            marked: "route GET /x {\n call a GET p /a/{item} { for_each 1️⃣lst.items }\n}",
            message: "unknown call 'lst' in 'lst.items'; expected one of the route's calls: a"),
        Case(
            name: "for_each over a for_each call",
            marked:
                "route GET /x {\n call l GET p /l\n call a GET p /a/{item} { for_each l }\n call b GET p /b/{item} { for_each 1️⃣a }\n}",
            message: "'for_each' cannot read call 'a', which is itself a for_each call; expected a call with one answer"
        ),
        Case(
            name: "combine only names no call",
            marked: "route GET /x {\n combine only 1️⃣prodcts\n call products GET p /p\n}",
            message: "unknown call 'prodcts' in 'prodcts'; did you mean 'products'?"),
        Case(
            name: "unknown combine mode",
            marked: "route GET /x {\n combine 1️⃣merg\n call a GET p /p\n}",
            message: "unknown combine mode 'merg'; did you mean 'merge'?"),
        Case(
            name: "field with concat",
            marked: "route GET /x {\n combine concat\n 1️⃣field v 1\n call a GET p /p\n}",
            message: "'field' adds members to an object, but 'combine concat' answers with an array"),
        Case(
            name: "pass_status with two calls",
            marked: "route GET /x {\n 1️⃣pass_status\n call a GET p /a\n call b GET p /b\n}",
            message: "'pass_status' needs a route with exactly one call without for_each; route GET /x has 2 call(s)"),
        Case(
            name: "invalid JSON body template",
            marked: "route POST /x {\n call a POST p /a { body `1️⃣{\"a\": }` }\n}",
            message:
                "the body is not valid JSON (with each placeholder taken as null); expected a JSON text like {\"sku\": {product.sku}}"
        ),
        Case(
            name: "invalid field path",
            marked: "route GET /x {\n call a GET p /a { pick items.1️⃣.id }\n}",
            message: "…invalid field path 'items..id'"),
        Case(
            name: "invalid static field JSON",
            marked: "route GET /x {\n field v n1️⃣ope\n call a GET p /a\n}",
            message: "…invalid JSON value for field 'v'"),
        Case(
            name: "unknown call directive",
            marked: "route GET /x {\n call a GET p /a {\n 1️⃣pik id\n }\n}",
            message: "unknown directive 'pik' in call 'a'; did you mean 'pick'?"),
        Case(
            name: "composite setting in a proxy route",
            marked: "route GET /x {\n proxy p\n 1️⃣combine merge\n}",
            message: "'combine' is only valid in a route with 'call' lines; route GET /x uses 'proxy'"),
        Case(
            name: "call reference in a proxy target",
            marked: "route GET /x {\n proxy p /a/1️⃣{b.id}\n}",
            message:
                "a proxy target may use route parameters and {query.NAME} only; '{b.id}' needs a composite route ('call' lines)"
        ),
        Case(
            name: "item is a reserved call name",
            marked: "route GET /x {\n call 1️⃣item GET p /a\n}",
            message: "call name 'item' is reserved; expected a name other than body, header, item, query, route"),
    ]

    @Test(arguments: cases)
    func reportsMisuseAtItsPlace(_ testCase: Case) {
        expectConfigError("upstream p { url http://p.test:1 }\n" + testCase.marked, testCase.message)
    }
}
