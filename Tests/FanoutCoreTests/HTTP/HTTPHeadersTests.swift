import Testing

@testable import FanoutCore

@Suite struct HTTPHeadersTests {
    @Test func keepsArrivalOrderAndNamesAsGiven() {
        var headers = HTTPHeaders([(name: "B", value: "1")])
        headers.append(name: "a", value: "2")
        headers.append(name: "b", value: "3")
        #expect(headers.count == 3)
        #expect(headers.map(\.name) == ["B", "a", "b"])
        #expect(headers.map(\.value) == ["1", "2", "3"])
    }

    @Test func looksUpNamesIgnoringASCIICase() {
        let headers: HTTPHeaders = ["Content-Type": "a", "content-type": "b", "X": "c"]
        #expect(headers[first: "CONTENT-TYPE"] == "a")
        #expect(headers.values(named: "Content-type") == ["a", "b"])
        #expect(headers[first: "Content-Typ"] == nil)
        #expect(headers[first: "Content-Types"] == nil)
        #expect(headers.values(named: "y").isEmpty)
    }

    @Test func comparesFieldsInOrder() {
        #expect(HTTPHeaders([(name: "A", value: "1"), (name: "B", value: "2")]) == ["A": "1", "B": "2"])
        #expect(HTTPHeaders([(name: "B", value: "2"), (name: "A", value: "1")]) != ["A": "1", "B": "2"])
        #expect(HTTPHeaders() == HTTPHeaders([]))
    }
}
