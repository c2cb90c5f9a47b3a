import FanoutCore
import Testing

/// The bytes of a response head: status line, Date, the headers in order without framing fields, the framing
/// header for the status, and the Connection line.
@Suite struct HTTPResponseSerializationTests {
    static let date = "Thu, 03 Dec 2026 01:20:00 GMT"

    static func head(
        _ response: HTTPResponse, keepAlive: Bool = true, http10: Bool = false,
        framing: HTTPResponse.BodyFraming = .contentLength(0)
    ) -> String {
        var out: [UInt8] = Array("before|".utf8)
        response.serializeHead(into: &out, date: date, keepAlive: keepAlive, http10: http10, framing: framing)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func writesTheHeadAfterWhatTheBufferHolds() {
        let response = HTTPResponse(
            status: 200,
            headers: [
                ("Content-Type", "application/json"), ("content-length", "99"), ("Server-Timing", "a;dur=1.0"),
                ("X-Name", "café ☕"), ("Transfer-Encoding", "chunked"), ("X-Empty", ""),
            ])
        #expect(
            Self.head(response, framing: .contentLength(12_345))
                == "before|HTTP/1.1 200 OK\r\nDate: \(Self.date)\r\nContent-Type: application/json\r\n"
                + "Server-Timing: a;dur=1.0\r\nX-Name: café ☕\r\nX-Empty: \r\nContent-Length: 12345\r\n\r\n")
    }

    @Test func framesByStatusAndVersion() {
        #expect(
            Self.head(HTTPResponse(status: 204), framing: .contentLength(0))
                == "before|HTTP/1.1 204 No Content\r\nDate: \(Self.date)\r\n\r\n")
        #expect(
            Self.head(HTTPResponse(status: 599), keepAlive: false, framing: .chunked)
                == "before|HTTP/1.1 599 Server Error\r\nDate: \(Self.date)\r\nTransfer-Encoding: chunked\r\n"
                + "Connection: close\r\n\r\n")
        #expect(
            Self.head(HTTPResponse(status: 404), http10: true, framing: .untilClose)
                == "before|HTTP/1.0 404 Not Found\r\nDate: \(Self.date)\r\nConnection: keep-alive\r\n\r\n")
        #expect(
            Self.head(HTTPResponse(status: 200), framing: .contentLength(0))
                == "before|HTTP/1.1 200 OK\r\nDate: \(Self.date)\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func serializeAppendsTheBodyUnlessHeadOnly() {
        let response = HTTPResponse(status: 200, headers: [("X-A", "1")], body: Array("{}".utf8))
        var out: [UInt8] = []
        response.serialize(into: &out, date: Self.date, keepAlive: true, http10: false, headOnly: false)
        #expect(
            String(decoding: out, as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nDate: \(Self.date)\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}")
        out = []
        response.serialize(into: &out, date: Self.date, keepAlive: true, http10: false, headOnly: true)
        #expect(
            String(decoding: out, as: UTF8.self)
                == "HTTP/1.1 200 OK\r\nDate: \(Self.date)\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n")
    }
}
