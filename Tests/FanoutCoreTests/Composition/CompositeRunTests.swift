import Foundation
import Testing

@testable import FanoutCore

/// The composite state machine without sockets: routes come from real config text, results are fed by hand.
@Suite struct CompositeRunTests {
    // MARK: - Fixtures

    static func route(_ body: String) throws -> CompositeRoute {
        let text = "upstream p { url http://p.test:1 }\nroute * /r/{id} {\n\(body)\n}\n"
        let config = try ConfigParser.parse(text, file: "t.conf", environment: [:])
        guard case .composite(let route) = config.routes[0].action else {
            throw CocoaError(.featureUnsupported)
        }
        return route
    }

    static func input(
        id: String = "7", query: String = "", headers: [(name: String, value: String)] = [], body: String = ""
    ) throws -> CompositeInput {
        CompositeInput(
            routeParameters: ["id": [id]], query: try QueryParameters(parsing: Substring(query)),
            headers: HTTPHeaders(headers), body: Array(body.utf8), contentType: body.isEmpty ? nil : "application/json")
    }

    static func ok(_ json: String, status: Int = 200) -> CallResult {
        .answered(UpstreamAnswer(status: status, contentType: "application/json", body: Array(json.utf8)))
    }

    /// Runs the route to completion, answering each launch with `answer(launch)`; returns the launch waves.
    static func drive(
        _ run: inout CompositeRun, answer: (CallLaunch) -> CallResult
    ) throws -> [[CallLaunch]] {
        var waves: [[CallLaunch]] = []
        var pending = try run.start(nowMs: 0)
        var now = 0.0
        while !pending.isEmpty {
            waves.append(pending)
            var next: [CallLaunch] = []
            for launch in pending {
                now += 1
                next += try run.finished(launch.id, answer(launch), elapsedMs: 1, nowMs: now)
            }
            pending = next
        }
        return waves
    }

    static func body(_ response: StitchedResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    // MARK: - Dependencies

    @Test func chainStartsEachCallOnceItsInputIsReady() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call product GET p /products/{id}
                call stock   GET p /stock/{product.sku}?w={product.warehouse.city}
                call score   GET p /score/{id}
                """), input: Self.input())
        let waves = try Self.drive(&run) { launch in
            switch launch.call {
            case 0: return Self.ok(#"{"sku":"A 1","warehouse":{"city":"Zürich"}}"#)
            case 1: return Self.ok(#"{"n":3}"#)
            default: return Self.ok("0.5")
            }
        }
        // product and score run together; stock waits for product.
        #expect(waves.map { $0.map(\.call) } == [[0, 2], [1]])
        #expect(waves[1][0].pathAndQuery == "/stock/A%201?w=Z%C3%BCrich")
        #expect(run.isComplete)
        let response = run.response()
        #expect(response.status == 200)
        #expect(
            Self.body(response)
                == #"{"product":{"sku":"A 1","warehouse":{"city":"Zürich"}},"stock":{"n":3},"score":0.5}"#)
    }

    /// Each logged call says which call of the route it is and which upstream it went to, by index: the
    /// metrics and the spans read that, never the call's position in the list.
    @Test func eachLoggedCallCarriesItsCallAndUpstreamIndex() throws {
        let config = try ConfigParser.parse(
            """
            upstream p { url http://p.test:1 }
            upstream q { url http://q.test:1 }
            route GET /r/{id} {
                call first GET q /a
                call second GET p /b
                call third GET q /c
            }
            """, file: "t.conf", environment: [:])
        guard case .composite(let route) = config.routes[0].action else { throw CocoaError(.featureUnsupported) }
        let expected: [AccessLogLine.Call.Identity] = [
            .init(call: 0, upstream: 1), .init(call: 1, upstream: 0), .init(call: 2, upstream: 1),
        ]
        var abandoned = try CompositeRun(route: route, input: Self.input())
        _ = try abandoned.start(nowMs: 0)
        #expect(abandoned.abandonedAccessLogCalls(nowMs: 3).map(\.identity) == expected)
        var run = try CompositeRun(route: route, input: Self.input())
        _ = try Self.drive(&run) { _ in Self.ok("1") }
        #expect(run.accessLogCalls.map(\.identity) == expected)
        #expect(run.accessLogCalls.map(\.name) == ["first", "second", "third"])
    }

    @Test func anAbandonedRunLogsItsUnfinishedCallsAsCancelled() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call product GET p /products/{id}
                call stock   GET p /stock/{product.sku}
                call score   GET p /score/{id}
                """), input: Self.input())
        let first = try run.start(nowMs: 10)
        #expect(first.map(\.call) == [0, 2])
        _ = try run.finished(first[1].id, Self.ok("0.5"), elapsedMs: 5, nowMs: 15)
        // The client leaves at 40 ms: product has run for 30 ms, stock never started, score is done.
        let calls = run.abandonedAccessLogCalls(nowMs: 40)
        #expect(calls.map(\.name) == ["product", "stock", "score"])
        #expect(calls.map(\.cancelled) == [true, true, false])
        #expect(calls.map(\.durationMs) == [30, 0, 5])
        #expect(calls[2].status == 200)
    }

    @Test func twoChainsRunSideBySide() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call a1 GET p /a1
                call a2 GET p /a2/{a1.next}
                call b1 GET p /b1
                call b2 GET p /b2/{b1.next}
                """), input: Self.input())
        let waves = try Self.drive(&run) { _ in Self.ok(#"{"next":"x"}"#) }
        #expect(waves.map { Set($0.map(\.call)) } == [[0, 2], [1, 3]])
    }

    /// Reported in the answer's `_errors` and in the access log; the metrics count only the calls made.
    @Test func callWhoseInputFailedIsSkippedAndReported() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call product GET p /products/{id} optional
                call stock   GET p /stock/{product.sku} optional
                call other   GET p /other
                """), input: Self.input())
        let waves = try Self.drive(&run) { launch in
            launch.call == 0 ? .failed(.timeout) : Self.ok("1")
        }
        #expect(waves.flatMap { $0.map(\.call) }.sorted() == [0, 2])
        let response = run.response()
        #expect(response.status == 200)
        let body = Self.body(response)
        #expect(body.contains(#""stock":null"#))
        #expect(body.contains(#"{"call":"stock","kind":"skipped","message":"not called: input call 'product' failed""#))
        #expect(run.accessLogCalls.map(\.failure) == ["timeout", "skipped", nil])
        #expect(run.callCounts.map(\.identity.call) == [0, 2])
        #expect(run.callCounts.map(\.failure) == ["timeout", nil])
        #expect(run.callCounts == run.accessLogCalls.compactMap(CallCount.init))
    }

    @Test func callWhoseInputLacksTheFieldIsSkipped() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call product GET p /products/{id}
                call stock   GET p /stock/{product.sku}
                """), input: Self.input())
        _ = try Self.drive(&run) { _ in Self.ok(#"{"name":"no sku"}"#) }
        let response = run.response()
        #expect(response.status == 502)
        #expect(Self.body(response).contains("the answer of 'product' has no field 'sku'"))
    }

    @Test func clientInputProblemsAreRejectedBeforeAnyCall() throws {
        var run = try CompositeRun(
            route: Self.route("call a GET p /a?user={header.x-user}"), input: Self.input())
        #expect(throws: CompositeRejection(message: "missing request header 'x-user'")) {
            _ = try run.start(nowMs: 0)
        }
        #expect(run.runningLaunches.isEmpty)
        #expect(throws: CompositeRejection.self) {
            _ = try CompositeRun(
                route: Self.route(
                    "call a POST p /a\n{ body {body.order} }".replacingOccurrences(of: "\n{", with: " {")),
                input: Self.input(body: "{not json"))
        }
    }

    @Test func headerTemplatesRefuseControlCharactersFromAnswers() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call token GET p /token
                call data GET p /data { header Authorization "Bearer {token.value}" }
                """), input: Self.input())
        _ = try Self.drive(&run) { _ in Self.ok(#"{"value":"abc\r\nX-Evil: 1"}"#) }
        let body = Self.body(run.response())
        #expect(body.contains("'token.value' holds a control character and cannot go into a header"))
    }

    // MARK: - for_each

    @Test func forEachOverQueryListRespectsConcurrencyAndKeepsOrder() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                max_concurrency 2
                call thing GET p /items/{item}
                { for_each query.ids }
                """.replacingOccurrences(of: "\n{", with: " {")),
            input: Self.input(query: "ids=3,1&ids=2"))
        let first = try run.start(nowMs: 0)
        #expect(first.map(\.pathAndQuery) == ["/items/3", "/items/1"])
        let second = try run.finished(first[1].id, Self.ok(#"{"id":1}"#), elapsedMs: 1, nowMs: 1)
        #expect(second.map(\.pathAndQuery) == ["/items/2"])
        _ = try run.finished(second[0].id, Self.ok(#"{"id":2}"#), elapsedMs: 1, nowMs: 2)
        _ = try run.finished(first[0].id, Self.ok(#"{"id":3}"#), elapsedMs: 1, nowMs: 3)
        #expect(run.isComplete)
        #expect(Self.body(run.response()) == #"{"thing":[{"id":3},{"id":1},{"id":2}]}"#)
    }

    /// Each finished item is written into the outcomes in place (issue 15): a copy taken out of the stored state
    /// shared its storage, so each write copied all the outcomes (a wide fan-out of 1,000 items: about 400k
    /// instructions per item). The storage staying the same through every item shows no copy was made.
    @Test func forEachItemsFinishWithoutCopyingTheOutcomes() throws {
        let count = 64
        var run = try CompositeRun(
            route: Self.route("max_concurrency \(count)\ncall thing GET p /items/{item} { for_each query.ids }"),
            input: Self.input(query: "ids=" + (1...count).map(String.init).joined(separator: ",")))
        func outcomesStorage() -> UnsafeRawPointer? {
            run.states[0].items?.outcomes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        let launches = try run.start(nowMs: 0)
        try #require(launches.count == count)
        let storage = try #require(outcomesStorage())
        var moved = 0
        for (step, launch) in launches.enumerated() {
            _ = try run.finished(launch.id, Self.ok(#"{"n":\#(step)}"#), elapsedMs: 1, nowMs: Double(step + 1))
            if step < count - 1, outcomesStorage() != storage { moved += 1 }
        }
        #expect(moved == 0, "the outcomes were copied for \(moved) of \(count - 1) items")
        #expect(run.isComplete)
        #expect(Self.body(run.response()).hasPrefix(#"{"thing":[{"n":0},{"n":1},"#))
    }

    @Test func forEachQueryListOverTheCapIsRejected() throws {
        #expect(throws: CompositeRejection.self) {
            _ = try CompositeRun(
                route: Self.route("max_items 2\ncall thing GET p /items/{item} { for_each query.ids }"),
                input: Self.input(query: "ids=1,2,3"))
        }
    }

    @Test func forEachOverAnswerAttachesAndShapes() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                combine only products
                call products GET p /products {
                    drop items[].internal
                }
                call stock GET p /stock/{item.sku} optional {
                    for_each products.items
                    pick available
                    attach stock
                }
                """), input: Self.input())
        let waves = try Self.drive(&run) { launch in
            switch launch.pathAndQuery {
            case "/products":
                return Self.ok(#"{"items":[{"sku":"a","internal":1},{"sku":"b","internal":2},{"sku":"c"}]}"#)
            case "/stock/b": return .failed(.refused)
            default: return Self.ok(#"{"available":5,"secret":true}"#)
            }
        }
        #expect(waves.map(\.count) == [1, 3])
        let response = run.response()
        #expect(response.status == 200)
        let body = Self.body(response)
        #expect(
            body.hasPrefix(
                #"{"items":[{"sku":"a","stock":{"available":5}},{"sku":"b","stock":null},{"sku":"c","stock":{"available":5}}],"#
                    + #""_errors":[{"call":"stock","item":1,"kind":"refused","message":"connection refused","elapsed_ms":"#
            ),
            "\(body)")
        #expect(!response.complete)
    }

    @Test func forEachKeyedByFieldCallsEachKeyOnce() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call list GET p /list
                call detail GET p /detail/{item.id} {
                    for_each list
                    key_by item.id
                }
                """), input: Self.input())
        let waves = try Self.drive(&run) { launch in
            launch.call == 0
                ? Self.ok(#"[{"id":"x"},{"id":"y"},{"id":"x"}]"#) : Self.ok(#"{"p":"\#(launch.pathAndQuery)"}"#)
        }
        #expect(waves[1].map(\.pathAndQuery) == ["/detail/x", "/detail/y"])
        #expect(
            Self.body(run.response())
                == #"{"list":[{"id":"x"},{"id":"y"},{"id":"x"}],"detail":{"x":{"p":"/detail/x"},"y":{"p":"/detail/y"}}}"#
        )
    }

    @Test func forEachOverTooLongAnswerFailsTheCall() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                max_items 2
                call list GET p /list
                call detail GET p /detail/{item} optional { for_each list }
                """), input: Self.input())
        _ = try Self.drive(&run) { _ in Self.ok("[1,2,3]") }
        #expect(
            Self.body(run.response()).contains(
                #""kind":"too_many_items","message":"the list has 3 items; max_items is 2""#))
    }

    // MARK: - Combining

    @Test func mergeConcatenatesOrReplacesArrays() throws {
        for (policy, expected) in [
            ("concat", #"{"a":1,"list":[1,2,3],"nested":{"x":1,"y":2},"b":2}"#),
            ("replace", #"{"a":1,"list":[3],"nested":{"x":1,"y":2},"b":2}"#),
        ] {
            var run = try CompositeRun(
                route: Self.route(
                    """
                    combine merge \(policy)
                    call one GET p /one
                    call two GET p /two
                    """), input: Self.input())
            _ = try Self.drive(&run) { launch in
                launch.call == 0
                    ? Self.ok(#"{"a":1,"list":[1,2],"nested":{"x":1}}"#)
                    : Self.ok(#"{"list":[3],"nested":{"y":2},"b":2}"#)
            }
            #expect(Self.body(run.response()) == expected)
        }
    }

    @Test func concatJoinsArraysAndReportsFailuresInAHeader() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                combine concat
                call one GET p /one
                call two GET p /two
                call three GET p /three optional
                """), input: Self.input())
        _ = try Self.drive(&run) { launch in
            [Self.ok("[1,2]"), Self.ok(#"{"x":1}"#), .failed(.timeout)][launch.call]
        }
        let response = run.response()
        #expect(Self.body(response) == #"[1,2,{"x":1}]"#)
        #expect(response.errorsHeader == "three=timeout")
    }

    @Test func staticFieldsAndHiddenCalls() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                field version `"v2"`
                field flags `{"beta":true}`
                call auth GET p /auth { hidden }
                call me GET p /me/{auth.user} { extract profile; rename name full_name; nest user }
                """), input: Self.input())
        _ = try Self.drive(&run) { launch in
            launch.call == 0 ? Self.ok(#"{"user":"u1"}"#) : Self.ok(#"{"profile":{"name":"Ada","age":36}}"#)
        }
        #expect(
            Self.body(run.response())
                == #"{"me":{"user":{"full_name":"Ada","age":36}},"version":"v2","flags":{"beta":true}}"#)
    }

    @Test func passStatusReturnsTheUpstreamsStatus() throws {
        var run = try CompositeRun(
            route: Self.route("pass_status\ncall create POST p /orders { body forward }"), input: Self.input(body: "{}")
        )
        _ = try Self.drive(&run) { _ in Self.ok(#"{"id":9}"#, status: 201) }
        #expect(run.response().status == 201)

        var failing = try CompositeRun(
            route: Self.route("pass_status\nerror_body 8\ncall get GET p /orders/{id}"), input: Self.input())
        _ = try Self.drive(&failing) { _ in Self.ok(#"{"error":"no such order"}"#, status: 404) }
        let response = failing.response()
        #expect(response.status == 404)
        #expect(Self.body(response).contains(#""status":404,"body":"{\"error\"","body_truncated":true}"#))
    }

    @Test func postBodiesAreBuiltFromTemplatesOrForwarded() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call order POST p /orders { body forward }
                call audit POST p /audit { body `{"order": {body.id}, "by": {header.x-user}, "lines": {body.lines}}` }
                """),
            input: Self.input(headers: [("X-User", "ada")], body: #"{"id":12345678901234567890,"lines":[1,2]}"#))
        let launches = try run.start(nowMs: 0)
        #expect(launches.map(\.method) == ["POST", "POST"])
        #expect(
            launches[0].body.map { String(decoding: $0, as: UTF8.self) }
                == #"{"id":12345678901234567890,"lines":[1,2]}"#)
        #expect(
            launches[1].body.map { String(decoding: $0, as: UTF8.self) }
                == #"{"order": 12345678901234567890, "by": "ada", "lines": [1,2]}"#)
        #expect(launches[1].contentType == "application/json")
    }

    @Test func deadlineTimesOutRunningCallsAndSkipsTheRest() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                call a GET p /a
                call b GET p /b/{a.x}
                """), input: Self.input())
        let launches = try run.start(nowMs: 0)
        #expect(launches.count == 1)
        #expect(run.expire(nowMs: 1000) == [launches[0].id])
        #expect(run.isComplete)
        let response = run.response()
        #expect(response.status == 504)
        #expect(Self.body(response).contains(#""call":"b","kind":"skipped""#))
    }

    @Test func invalidJSONAnswerIsAFailureInTheAccessLog() throws {
        var run = try CompositeRun(route: Self.route("call a GET p /a optional"), input: Self.input())
        _ = try Self.drive(&run) { _ in Self.ok("{oops") }
        #expect(run.accessLogCalls.map(\.failure) == ["invalid_body"])
    }
}

// MARK: - Optional calls and min_success

extension CompositeRunTests {
    static let threeOptionalCalls = """
        call a GET p /a optional
        call b GET p /b optional
        call c GET p /c optional
        """

    /// What a route answers today when every call is optional and every one fails: 200, each value null, the
    /// failures in `_errors`.
    @Test func everyOptionalCallFailingStillAnswers200WithNullsAndErrors() throws {
        var run = try CompositeRun(route: Self.route(Self.threeOptionalCalls), input: Self.input())
        _ = try Self.drive(&run) { launch in
            launch.call == 0 ? .failed(.timeout) : Self.ok(#"{"error":"down"}"#, status: 503)
        }
        let response = run.response()
        #expect(response.status == 200)
        #expect(!response.complete)
        let body = Self.body(response)
        #expect(body.hasPrefix(#"{"a":null,"b":null,"c":null,"_errors":[{"call":"a","kind":"timeout""#), "\(body)")
        #expect(body.contains(#"{"call":"c","kind":"status","message":"upstream answered with status 503""#))
    }

    @Test func minSuccessFailsTheRouteWhenFewerCallsSucceed() throws {
        var run = try CompositeRun(
            route: Self.route("min_success 2\n" + Self.threeOptionalCalls), input: Self.input())
        _ = try Self.drive(&run) { launch in
            switch launch.call {
            case 0: return Self.ok(#"{"n":1}"#)
            case 1: return .failed(.refused)
            default: return Self.ok("{}", status: 500)
            }
        }
        let response = run.response()
        #expect(response.status == 502)
        #expect(!response.complete)
        let body = Self.body(response)
        #expect(
            body.hasPrefix(
                #"{"error":"upstream_failed","message":"1 of 3 calls succeeded; min_success is 2","#
                    + #""errors":[{"call":"b","kind":"refused""#),
            "\(body)")
        #expect(body.contains(#"{"call":"c","kind":"status""#))
    }

    @Test func minSuccessMetAnswersWithTheOptionalFailuresListed() throws {
        var run = try CompositeRun(
            route: Self.route("min_success 2\n" + Self.threeOptionalCalls), input: Self.input())
        _ = try Self.drive(&run) { launch in launch.call == 1 ? .failed(.refused) : Self.ok("1") }
        let response = run.response()
        #expect(response.status == 200)
        #expect(Self.body(response).hasPrefix(#"{"a":1,"b":null,"c":1,"_errors":[{"call":"b","kind":"refused""#))
    }

    @Test(arguments: [
        ([CallFailure.timeout, .timeout, .timeout], 504),
        ([.timeout, .circuitOpen, .overloaded(queueLimit: 1)], 502),
        ([.circuitOpen, .overloaded(queueLimit: 1), .circuitOpen], 503),
        ([.refused, .timeout, .timeout], 502),
    ])
    func minSuccessStatusFollowsTheKindsOfEveryFailure(failures: [CallFailure], status: Int) throws {
        var run = try CompositeRun(
            route: Self.route("min_success 1\n" + Self.threeOptionalCalls), input: Self.input())
        _ = try Self.drive(&run) { launch in .failed(failures[launch.call]) }
        #expect(run.response().status == status)
    }

    @Test func aForEachCallWithAFailedItemIsNotASuccess() throws {
        var run = try CompositeRun(
            route: Self.route(
                """
                min_success 2
                call list GET p /list optional
                call each GET p /item/{item} optional { for_each query.ids }
                """), input: Self.input(query: "ids=1,2"))
        _ = try Self.drive(&run) { launch in launch.item == 1 ? .failed(.timeout) : Self.ok("1") }
        let response = run.response()
        #expect(response.status == 504)
        #expect(Self.body(response).contains(#""message":"1 of 2 calls succeeded; min_success is 2""#))
    }

    @Test func aRequiredFailureIsReportedAsSuchEvenUnderMinSuccess() throws {
        var run = try CompositeRun(
            route: Self.route("min_success 1\ncall a GET p /a\ncall b GET p /b optional"), input: Self.input())
        _ = try Self.drive(&run) { launch in launch.call == 0 ? .failed(.refused) : Self.ok("1") }
        let response = run.response()
        #expect(response.status == 502)
        #expect(Self.body(response).contains(#""message":"required call(s) failed: a""#))
    }
}
