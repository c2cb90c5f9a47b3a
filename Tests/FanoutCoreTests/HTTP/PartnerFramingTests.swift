import Testing

@testable import FanoutCore

@Suite struct PartnerFramingTests {
    /// Feeds `fields` in order; the fault thrown, if any.
    private static func framing(_ fields: [(String, String)]) -> (PartnerFraming, PartnerFraming.Fault?) {
        var framing = PartnerFraming()
        for (name, value) in fields {
            do throws(PartnerFraming.Fault) {
                try framing.note(name: name, value: value)
            } catch {
                return (framing, error)
            }
        }
        return (framing, nil)
    }

    @Test func declaresASingleValidContentLength() {
        let (framing, fault) = Self.framing([("Content-Type", "application/json"), ("content-LENGTH", "42")])
        #expect(fault == nil)
        #expect(framing.hasContentLength)
        #expect(framing.declaredLength(decodedByLibcurl: false) == 42)
        #expect(framing.declaredLength(decodedByLibcurl: true) == 42)
    }

    @Test func declaresNothingWithoutAContentLength() {
        let (framing, fault) = Self.framing([("Content-Type", "text/plain")])
        #expect(fault == nil)
        #expect(!framing.hasContentLength)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil)
    }

    @Test(arguments: [
        [("Content-Length", "0"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
        [("transfer-encoding", "gzip, chunked"), ("CONTENT-LENGTH", "17")],
    ])
    func refusesContentLengthWithTransferEncodingInEitherOrder(_ fields: [(String, String)]) {
        #expect(Self.framing(fields).1 == .contentLengthWithTransferEncoding)
    }

    @Test func refusesDifferingContentLengths() {
        #expect(Self.framing([("Content-Length", "25"), ("Content-Length", "5")]).1 == .conflictingContentLength)
        #expect(Self.framing([("Content-Length", "5"), ("content-length", "05")]).1 == .conflictingContentLength)
    }

    @Test func identicalDuplicateContentLengthsAreNotDeclared() {
        let (framing, fault) = Self.framing([("Content-Length", "7"), ("Content-Length", "7")])
        #expect(fault == nil)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil)
    }

    @Test(arguments: ["", "-1", "+5", " 5", "5 ", "5, 5", "0x10", "5a", "1234567890123456789", "٣"])
    func invalidContentLengthsAreNotDeclared(_ value: String) {
        let (framing, fault) = Self.framing([("Content-Length", value)])
        #expect(fault == nil)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil, "\(value)")
    }

    @Test(arguments: ["42", "0", "05", "00", "", "5 ", "1234567890123456789", "123456789012345678"])
    func messagesGiveTheFirstValueAsSent(_ value: String) {
        let (framing, fault) = Self.framing([("Content-Length", value), ("Content-Length", "7")])
        #expect(fault == .conflictingContentLength)
        #expect(framing.contentLengthText == value)
        #expect(framing.hasContentLength)
    }

    @Test func aLeadingZeroIsDeclaredButDiffersFromThePlainValue() {
        #expect(Self.framing([("Content-Length", "05")]).0.declaredLength(decodedByLibcurl: false) == 5)
        #expect(Self.framing([("Content-Length", "05"), ("Content-Length", "5")]).1 == .conflictingContentLength)
        let (framing, fault) = Self.framing([("Content-Length", "05"), ("Content-Length", "05")])
        #expect(fault == nil)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil)
    }

    @Test func bytesAndStringsFrameAlike() throws {
        var fromBytes = PartnerFraming()
        var fromString = PartnerFraming()
        for value in ["12", "12"] {
            try Array(value.utf8).withUnsafeBytes { try fromBytes.noteContentLength(utf8: $0) }
            try fromString.noteContentLength(value)
        }
        #expect(fromBytes == fromString)
        var conflicting = fromBytes
        #expect(throws: PartnerFraming.Fault.conflictingContentLength) {
            try Array("13".utf8).withUnsafeBytes { try conflicting.noteContentLength(utf8: $0) }
        }
    }

    @Test func aTransferEncodingAloneIsFramedByFanout() {
        let (framing, fault) = Self.framing([("Transfer-Encoding", "chunked")])
        #expect(fault == nil)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil)
    }

    @Test func anEncodedLengthIsNotDeclaredWhenLibcurlDecodes() {
        let (framing, _) = Self.framing([("Content-Encoding", "gzip"), ("Content-Length", "54")])
        #expect(framing.declaredLength(decodedByLibcurl: true) == nil)
        #expect(framing.declaredLength(decodedByLibcurl: false) == 54)
    }

    @Test func trailersFrameNothing() throws {
        var framing = PartnerFraming()
        try framing.note(name: "Transfer-Encoding", value: "chunked")
        framing.noteEndOfHead()
        try framing.note(name: "Content-Length", value: "3")
        #expect(!framing.hasContentLength)
        #expect(framing.declaredLength(decodedByLibcurl: false) == nil)
    }

    @Test func faultsNameTheFact() {
        #expect("\(PartnerFraming.Fault.conflictingContentLength)" == "conflicting Content-Length headers")
        #expect(
            "\(PartnerFraming.Fault.contentLengthWithTransferEncoding)" == "both Content-Length and Transfer-Encoding")
    }
}
