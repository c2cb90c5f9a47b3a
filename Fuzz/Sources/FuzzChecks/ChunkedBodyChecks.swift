import FanoutCore

/// A valid request head announcing a chunked body; the fuzzed bytes follow it.
let chunkedHead = Array("POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

/// Limits small enough that the body, chunk-extension and trailer limits are reached by short inputs.
let chunkedLimits: HTTPParserLimits = {
    var limits = HTTPParserLimits()
    limits.maxBodyBytes = 64
    limits.maxChunkExtensionBytes = 16
    limits.maxHeaderBytes = 128
    limits.maxHeaderCount = 4
    return limits
}()

/// An independent, lenient reading of a chunked body (extensions skipped up to the CR, trailer lines skipped
/// up to the empty line): the decoded body and the bytes it used, or nil when the framing does not close.
/// The parser is stricter (extension grammar, limits), so only what it accepts is compared with this.
func referenceDechunk(_ bytes: ArraySlice<UInt8>) -> (body: [UInt8], used: Int)? {
    var index = bytes.startIndex
    var body: [UInt8] = []
    func expectCRLF() -> Bool {
        guard index + 1 < bytes.endIndex, bytes[index] == 0x0D, bytes[index + 1] == 0x0A else { return false }
        index += 2
        return true
    }
    while true {
        var size = 0
        var digits = 0
        while index < bytes.endIndex, let digit = hexDigit(bytes[index]), digits < 16 {
            size = size &* 16 &+ digit
            digits += 1
            index += 1
        }
        guard digits > 0, size >= 0 else { return nil }
        while index < bytes.endIndex, bytes[index] != 0x0D { index += 1 }
        guard expectCRLF() else { return nil }
        if size == 0 { break }
        guard bytes.endIndex - index >= size else { return nil }
        body += bytes[index..<(index + size)]
        index += size
        guard expectCRLF() else { return nil }
    }
    // Trailer section: field lines until the empty line.
    while !expectCRLF() {
        while index < bytes.endIndex, bytes[index] != 0x0D { index += 1 }
        guard expectCRLF() else { return nil }
    }
    return (body, index - bytes.startIndex)
}

private func hexDigit(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
    default: return nil
    }
}

/// `FuzzChunkedBody`: a fixed valid head with `Transfer-Encoding: chunked`, then the input.
///
/// Properties: the decoded body never exceeds `maxBodyBytes`; the outcome is the same fed whole, byte by byte
/// and cut at points derived from the input; an accepted first request's body and length agree with an
/// independent chunked decoder.
public func chunkedBody(_ input: UnsafeBufferPointer<UInt8>) {
    let bytes = chunkedHead + Array(input)
    let whole = runParser(bytes, arrivals: [], limits: chunkedLimits)
    for request in whole.requests {
        require(request.body.count <= chunkedLimits.maxBodyBytes, "body of \(request.body.count) bytes")
    }
    if let first = whole.requests.first {
        let reference = referenceDechunk(bytes[chunkedHead.count...])
        let agrees = reference.map { $0.body == first.body && chunkedHead.count + $0.used == whole.consumed[0] }
        require(
            agrees == true,
            "parser body \(show(first.body)) consumed \(whole.consumed[0]); reference \(String(describing: reference))"
                + "\ninput: \(show(input))")
    }
    let oneByOne = runParser(bytes, arrivals: Array(chunkedHead.count..<bytes.count), limits: chunkedLimits)
    require(oneByOne == whole, "byte by byte: \(oneByOne)\nwhole: \(whole)\ninput: \(show(input))")
    var numbers = InputDerivedNumbers(input)
    let cuts = numbers.cutPoints(count: 1 + Int(numbers.next() % 3), length: bytes.count)
    let split = runParser(bytes, arrivals: cuts, limits: chunkedLimits)
    require(split == whole, "cut at \(cuts): \(split)\nwhole: \(whole)\ninput: \(show(input))")
}
