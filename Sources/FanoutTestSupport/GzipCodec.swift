import CZlib

/// gzip through zlib directly, for tests: partner answers encoded with gzip (and gzip bombs), and a decoder to
/// check the gzip answers fanout sends. Independent of fanout's own `GzipEncoder`, so a bug there cannot hide
/// itself by breaking the oracle too.
public enum GzipCodec {
    /// `bytes` as one gzip member at `level`.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        try deflating(level: level) { feed in try feed(bytes, true) }
    }

    /// A gzip member that decodes to `decodedBytes` zero bytes, built 1 MiB at a time (never holding the
    /// decoded size): about 1 KiB of gzip per MiB.
    public static func bomb(decodedBytes: Int) throws -> [UInt8] {
        let block = [UInt8](repeating: 0, count: 1 << 20)
        return try deflating(level: 9) { feed in
            var left = decodedBytes
            repeat {
                let n = min(left, block.count)
                left -= n
                try feed(Array(block[0..<n]), left == 0)
            } while left > 0
        }
    }

    /// Decodes a gzip member (trailing bytes after it are an error), refusing to produce more than `limit` bytes.
    public static func decompress(_ bytes: [UInt8], limit: Int = 64 << 20) throws -> [UInt8] {
        // zlib checks that a stream keeps its address between calls: it lives in its own allocation.
        let pointer = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        pointer.initialize(to: z_stream())
        defer { pointer.deallocate() }
        guard czlib_inflate_init_gzip(pointer) == Z_OK else { throw failure("inflateInit2", "") }
        defer { inflateEnd(pointer) }
        let stream = pointer
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status = Z_OK
        var input = bytes
        try input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.pointee.next_in = inputBuffer.baseAddress
            stream.pointee.avail_in = uInt(inputBuffer.count)
            while status != Z_STREAM_END {
                chunk.withUnsafeMutableBufferPointer { out in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = uInt(out.count)
                    status = inflate(stream, Z_NO_FLUSH)
                }
                guard status == Z_OK || status == Z_STREAM_END else { throw failure("inflate", "status \(status)") }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.pointee.avail_out))])
                guard output.count <= limit else { throw failure("inflate", "more than \(limit) bytes") }
                if status == Z_OK, stream.pointee.avail_in == 0, stream.pointee.avail_out != 0 {
                    throw failure("inflate", "truncated gzip stream")
                }
            }
            if stream.pointee.avail_in != 0 {
                throw failure("inflate", "\(stream.pointee.avail_in) bytes after the gzip member")
            }
        }
        return output
    }

    /// Runs a deflate stream; `produce` calls its argument with each input piece and whether it is the last.
    private static func deflating(
        level: Int32, _ produce: (_ feed: ([UInt8], Bool) throws -> Void) throws -> Void
    ) throws -> [UInt8] {
        let pointer = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        pointer.initialize(to: z_stream())
        defer { pointer.deallocate() }
        guard czlib_deflate_init_gzip(pointer, level) == Z_OK else { throw failure("deflateInit2", "") }
        defer { deflateEnd(pointer) }
        let stream = pointer
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try produce { piece, last in
            var piece = piece
            var status = Z_OK
            try piece.withUnsafeMutableBufferPointer { input in
                stream.pointee.next_in = input.baseAddress
                stream.pointee.avail_in = uInt(input.count)
                repeat {
                    chunk.withUnsafeMutableBufferPointer { out in
                        stream.pointee.next_out = out.baseAddress
                        stream.pointee.avail_out = uInt(out.count)
                        status = deflate(stream, last ? Z_FINISH : Z_NO_FLUSH)
                    }
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                        throw failure("deflate", "status \(status)")
                    }
                    output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.pointee.avail_out))])
                } while last ? status != Z_STREAM_END : stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
                stream.pointee.next_in = nil
            }
        }
        return output
    }

    private static func failure(_ call: String, _ detail: String) -> TestSupportError {
        TestSupportError(kind: .malformed, call: call, detail: detail)
    }
}
