import Testing

@testable import FanoutCore

@Suite struct ErrorBodyTests {
    @Test func writesErrorAndMessage() {
        let body = ErrorBody.json(error: "not_found", message: "no route for GET /x")
        #expect(String(decoding: body, as: UTF8.self) == #"{"error":"not_found","message":"no route for GET /x"}"#)
    }

    @Test func escapesClientControlledText() throws {
        let message = "no route for GET /a\"b\\c\n\u{01}"
        let body = ErrorBody.json(error: "not_found", message: message)
        #expect(try JSONOracle.object(body)["message"] as? String == message)
    }
}
