import FanoutTestSupport
import Foundation
import Testing

/// Chained calls, per-item fan-out, merging and non-GET composites end to end: a real fanout server, real
/// libcurl transfers, stubs on blocking sockets.
@Suite struct CompositionTests {
    @Test func chainedCallReadsAFieldOfTheFirstAnswer() throws {
        let stub = try UpstreamStub(routes: [
            "/users/7": .json(#"{"id":7,"address":{"city":"Zürich"},"team":"t 1"}"#, delayMs: 100),
            "/weather": .json(#"{"temp":21.5}"#, delayMs: 100),
            "/teams/t%201": .json(#"{"name":"Blue"}"#),
            "/news": .json(#"["n1"]"#, delayMs: 150),
        ])
        let server = try TestServer(
            """
            route GET /me/{id} {
                call user    GET {{stub}}/users/{id}
                call weather GET {{stub}}/weather?city={user.address.city}
                call team    GET {{stub}}/teams/{user.team}
                call news    GET {{stub}}/news
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/me/7") }
        #expect(response.status == 200, "\(response.bodyText)")
        // user (100 ms) then weather (100 ms), beside news (150 ms): about 200 ms, not the 350 ms of a sequence.
        #expect(elapsed >= 190 && elapsed < 340, "took \(elapsed) ms")
        #expect(
            response.bodyText
                == #"{"user":{"id":7,"address":{"city":"Zürich"},"team":"t 1"},"weather":{"temp":21.5},"#
                + #""team":{"name":"Blue"},"news":["n1"]}"#)
        let targets = stub.receivedRequests.map(\.target)
        #expect(targets.contains("/weather?city=Z%C3%BCrich"))
        #expect(targets.contains("/teams/t%201"))
    }

    @Test func perItemFanOutOfAHundredItemsMergedIntoEachProduct() throws {
        var routes: [String: UpstreamStub.Behavior] = [:]
        var products: [String] = []
        for index in 0..<100 {
            products.append(#"{"id":\#(index),"name":"p\#(index)","cost_price":1}"#)
            routes["/stock/\(index)"] = .json(#"{"available":\#(index * 2),"warehouse":"w","debug":"x"}"#, delayMs: 50)
        }
        routes["/products"] = .json(#"{"total":100,"items":[\#(products.joined(separator: ","))]}"#, delayMs: 50)
        let stub = try UpstreamStub(routes: routes)
        let server = try TestServer(
            """
            upstream catalog { url {{stub}} }
            upstream inventory { url {{stub}}; max_connections 128 }
            route GET /stats {
                max_items 100
                max_concurrency 100
                combine only products
                call products GET catalog /products {
                    drop items[].cost_price
                }
                call stock GET inventory /stock/{item.id} {
                    for_each products.items
                    pick available
                    attach merge
                }
            }
            """, substitutions: ["stub": stub.baseURL])
        let (response, elapsed) = try measureMs { try server.get("/stats") }
        #expect(response.status == 200, "\(response.bodyText)")
        // Two 50 ms steps; 100 item calls in parallel, not one after another (5 s).
        #expect(elapsed < 1_000, "took \(elapsed) ms")
        let body = try jsonObject(response)
        #expect(body["total"] as? Int == 100)
        let items = try #require(body["items"] as? [[String: Any]])
        #expect(items.count == 100)
        for (index, item) in items.enumerated() {
            #expect(item["id"] as? Int == index)
            #expect(item["available"] as? Int == index * 2)
            #expect(item["cost_price"] == nil && item["warehouse"] == nil)
        }
        #expect(stub.requestCount == 101)
        #expect(response.header("X-Fanout-Complete") == "true")
    }

    @Test func perItemFailuresAreReportedPerItem() throws {
        let stub = try UpstreamStub(routes: [
            "/price/a": .json(#"{"eur":1}"#),
            "/price/b": .respond(status: 503, body: Array(#"{"error":"busy"}"#.utf8)),
        ])
        let server = try TestServer(
            """
            route GET /prices {
                error_body 1k
                call price GET {{stub}}/price/{item} optional {
                    for_each query.ids
                    key_by item
                }
            }
            """, substitutions: ["stub": stub.baseURL])
        let response = try server.get("/prices?ids=a,b")
        #expect(response.status == 200)
        let body = try jsonObject(response)
        let prices = try #require(body["price"] as? [String: Any])
        #expect((prices["a"] as? [String: Any])?["eur"] as? Int == 1)
        #expect(prices["b"] is NSNull)
        let errors = try #require(body["_errors"] as? [[String: Any]])
        #expect(errors.count == 1)
        #expect(errors[0]["key"] as? String == "b")
        #expect(errors[0]["status"] as? Int == 503)
        #expect((errors[0]["body"] as? [String: Any])?["error"] as? String == "busy")

        let tooMany = try server.get("/prices?" + (0..<101).map { "ids=\($0)" }.joined(separator: "&"))
        #expect(tooMany.status == 400)
        #expect(tooMany.bodyText.contains("lists 101 items; the limit is 100"))
    }

    @Test func mergeOfTwoArraysAndObjects() throws {
        let stub = try UpstreamStub(routes: [
            "/eu": .json(#"{"region":"all","offers":[{"id":1}],"meta":{"eu":true}}"#),
            "/us": .json(#"{"offers":[{"id":2},{"id":3}],"meta":{"us":true}}"#),
            "/a": .json(#"[1,2]"#),
            "/b": .json(#"[3]"#),
        ])
        let server = try TestServer(
            """
            route GET /offers {
                combine merge concat
                field source `"fanout"`
                call eu GET {{stub}}/eu
                call us GET {{stub}}/us
            }
            route GET /numbers {
                combine concat
                call a GET {{stub}}/a
                call b GET {{stub}}/b
            }
            """, substitutions: ["stub": stub.baseURL])
        let offers = try server.get("/offers")
        #expect(offers.status == 200)
        #expect(
            offers.bodyText
                == #"{"region":"all","offers":[{"id":1},{"id":2},{"id":3}],"meta":{"eu":true,"us":true},"source":"fanout"}"#
        )
        let numbers = try server.get("/numbers")
        #expect(numbers.bodyText == "[1,2,3]")
    }

    @Test func postFanOutForwardsTheBodyAndNeverRepeatsIt() throws {
        let stub = try UpstreamStub(routes: [
            "/orders": .respond(status: 201, body: Array(#"{"order_id":"o-1"}"#.utf8)),
            "/audit": .json(#"{"ok":true}"#),
            "/notify": .json(#"{"sent":true}"#),
        ])
        let server = try TestServer(
            """
            route POST /checkout {
                call order  POST {{stub}}/orders { body forward }
                call audit  PUT  {{stub}}/audit { body `{"customer": {body.customer.id}, "total": {body.total}}` }
                call notify POST {{stub}}/notify {
                    body `{"order": {order.order_id}, "to": {header.x-user}}`
                }
            }
            """, substitutions: ["stub": stub.baseURL])
        let payload = #"{"customer":{"id":42},"total":12345678901234567890.10,"lines":[1]}"#
        let response = try httpRequest(
            port: server.port, method: "POST", path: "/checkout",
            headers: [("Content-Type", "application/json"), ("X-User", "ada")], body: Array(payload.utf8))
        // 201 is a 2xx: the route succeeds.
        #expect(response.status == 200, "\(response.bodyText)")
        let requests = stub.receivedRequests
        let order = try #require(requests.first { $0.path == "/orders" })
        #expect(order.method == "POST")
        #expect(String(decoding: order.body, as: UTF8.self) == payload)
        #expect(order.header("Content-Type") == "application/json")
        let audit = try #require(requests.first { $0.path == "/audit" })
        #expect(audit.method == "PUT")
        #expect(String(decoding: audit.body, as: UTF8.self) == #"{"customer": 42, "total": 12345678901234567890.10}"#)
        let notify = try #require(requests.first { $0.path == "/notify" })
        #expect(String(decoding: notify.body, as: UTF8.self) == #"{"order": "o-1", "to": "ada"}"#)
        #expect(requests.filter { $0.path == "/orders" }.count == 1)

        let bad = try httpRequest(
            port: server.port, method: "POST", path: "/checkout", headers: [("Content-Type", "application/json")],
            body: Array("{oops".utf8))
        #expect(bad.status == 400)
        #expect(bad.bodyText.contains("the request body is not valid JSON"))
    }

    @Test func passStatusAnswersWithTheUpstreamsOwnStatus() throws {
        let stub = try UpstreamStub(routes: [
            "/orders": .respond(status: 201, body: Array(#"{"id":1}"#.utf8)),
            "/missing": .respond(status: 404, body: Array(#"{"error":"no such order"}"#.utf8)),
        ])
        let server = try TestServer(
            """
            route POST /orders {
                pass_status
                combine only create
                call create POST {{stub}}/orders { body forward }
            }
            route GET /orders/{id} {
                pass_status
                error_body 4k
                call order GET {{stub}}/missing
            }
            """, substitutions: ["stub": stub.baseURL])
        let created = try httpRequest(port: server.port, method: "POST", path: "/orders", body: Array("{}".utf8))
        #expect(created.status == 201)
        #expect(created.bodyText == #"{"id":1}"#)
        let missing = try server.get("/orders/9")
        #expect(missing.status == 404)
        let errors = try #require(try jsonObject(missing)["errors"] as? [[String: Any]])
        #expect((errors[0]["body"] as? [String: Any])?["error"] as? String == "no such order")
    }

    /// libcurl 7.88.1 resends a request whose reused connection closes before any answer byte. For a GET
    /// that is allowed; a POST must reach the partner once.
    @Test func nonIdempotentCallIsNeverResentOnADeadConnection() throws {
        let stub = try UpstreamStub(routes: [
            "/warm": .json("{}"),
            "/drop-get": .closeWithoutResponse,
            "/drop-post": .closeWithoutResponse,
            "/form": .json(#"{"ok":true}"#),
        ])
        let server = try TestServer(
            """
            upstream s { url {{stub}}; max_connections 1 }
            route GET /warm { call warm GET s /warm }
            route GET /get { call dropped GET s /drop-get optional }
            route POST /post { call dropped POST s /drop-post optional { body forward } }
            route POST /form { call form POST s /form { body forward } }
            """, substitutions: ["stub": stub.baseURL])
        // Each dropped request goes out on the connection the warm-up left in libcurl's pool.
        #expect(try server.get("/warm").status == 200)
        #expect(try server.get("/get").status == 200)
        #expect(stub.requests(forPath: "/drop-get") == 2, "libcurl retries an idempotent request")
        #expect(try server.get("/warm").status == 200)
        let post = try httpRequest(port: server.port, method: "POST", path: "/post", body: Array("x=1".utf8))
        #expect(post.status == 200)
        #expect(post.bodyText.contains(#""kind":"connection""#), "\(post.bodyText)")
        #expect(stub.requests(forPath: "/drop-post") == 1)

        // `body forward` sends any body as is: it does not have to be JSON.
        let form = try httpRequest(
            port: server.port, method: "POST", path: "/form",
            headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array("a=1&b=2".utf8))
        #expect(form.status == 200, "\(form.bodyText)")
        let received = try #require(stub.receivedRequests.last { $0.path == "/form" })
        #expect(String(decoding: received.body, as: UTF8.self) == "a=1&b=2")
        #expect(received.header("Content-Type") == "application/x-www-form-urlencoded")
    }
}
