// Micro-benchmark: fanout's JSONValue (parse → shape → serialize) against Foundation's JSONSerialization
// (jsonObject → the same operation on [String: Any] → data(withJSONObject:)).
//
//     swift run -c release json-bench
//
// Documents are generated deterministically. Each cell runs for a bounded time; the whole run stays well under
// 20 seconds in release builds.

import FanoutCore
import Foundation

// MARK: - Documents

/// SplitMix64, so every run measures the same documents.
struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(self.next() % UInt64(range.count)) }
}

/// A product list of about `targetBytes`: ids (some beyond 2^64), names with non-ASCII and escapes, nested
/// prices with decimals like 0.1, tags, internal fields.
func makeDocument(targetBytes: Int, seed: UInt64) -> [UInt8] {
    var g = Generator(state: seed)
    let names = [
        "Café crème", "Zürich “Deluxe” Mug", "Plain widget", "Tee \\ shirt \"XL\"", "Ölkanne 😀", "Gadget\tpro",
    ]
    var products: [String] = []
    var size = 0
    var n = 0
    repeat {
        let id = n % 3 == 0 ? "12345678901234567890" : String(100_000 + g.int(0..<900_000))
        let name = names[g.int(0..<names.count)] + " #\(n)"
        var escaped = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\t": escaped += "\\t"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        let amount = n % 4 == 0 ? "0.1" : "\(g.int(1..<500)).\(g.int(10..<100))"
        let product = """
            {"id":\(id),"sku":"SKU-\(String(g.int(0..<1_000_000)))","name":"\(escaped)",\
            "description":"Line one\\nLine two, unicode \\u00e9\\u00e8 and \\/slash","price":{"amount":\(amount),\
            "currency":"EUR","vat":0.19},"stock":\(g.int(0..<1000)),"tags":["t\(g.int(0..<9))","sale","new"],\
            "internal":{"cost":\(g.int(1..<100)).5,"supplier":"ACME-\(g.int(0..<50))","margin":1.0E-2},\
            "active":\(n % 2 == 0),"rating":null}
            """
        products.append(product)
        size += product.utf8.count + 1
        n += 1
    } while size + 80 < targetBytes
    let text = """
        {"products":[\(products.joined(separator: ","))],"total":\(n),"page":{"size":\(n),"next":null}}
        """
    return Array(text.utf8)
}

// MARK: - Foundation versions of the operations

/// Paths as key lists folded into a tree (`true` = keep/drop here); a key applied to an array applies to each
/// element, like fanout's paths.
func shapeTree(_ paths: [[String]]) -> [String: Any] {
    var root: [String: Any] = [:]
    func insert(_ path: ArraySlice<String>, into node: inout [String: Any]) {
        guard let first = path.first else { return }
        if path.count == 1 {
            node[first] = true
        } else {
            if node[first] as? Bool == true { return }
            var child = node[first] as? [String: Any] ?? [:]
            insert(path.dropFirst(), into: &child)
            node[first] = child
        }
    }
    for path in paths { insert(path[...], into: &root) }
    return root
}

func foundationPick(_ value: Any, _ tree: [String: Any]) -> Any? {
    if let object = value as? [String: Any] {
        var result: [String: Any] = [:]
        for (key, child) in tree {
            guard let member = object[key] else { continue }
            if child as? Bool == true {
                result[key] = member
            } else if let sub = child as? [String: Any], let picked = foundationPick(member, sub) {
                result[key] = picked
            }
        }
        return result
    }
    if let array = value as? [Any] {
        return array.compactMap { foundationPick($0, tree) }
    }
    return nil
}

func foundationDrop(_ value: Any, _ tree: [String: Any]) -> Any {
    if var object = value as? [String: Any] {
        for (key, child) in tree {
            guard let member = object[key] else { continue }
            if child as? Bool == true {
                object[key] = nil
            } else if let sub = child as? [String: Any] {
                object[key] = foundationDrop(member, sub)
            }
        }
        return object
    }
    if let array = value as? [Any] {
        return array.map { foundationDrop($0, tree) }
    }
    return value
}

func foundationRename(_ value: Any, _ path: ArraySlice<String>, to newName: String) -> Any {
    if let array = value as? [Any] {
        return array.map { foundationRename($0, path, to: newName) }
    }
    guard var object = value as? [String: Any], let first = path.first, let member = object[first] else { return value }
    if path.count == 1 {
        object[first] = nil
        object[newName] = member
    } else {
        object[first] = foundationRename(member, path.dropFirst(), to: newName)
    }
    return object
}

func foundationMerge(_ a: Any, _ b: Any) -> Any {
    if var left = a as? [String: Any], let right = b as? [String: Any] {
        for (key, value) in right {
            if let existing = left[key] {
                left[key] = foundationMerge(existing, value)
            } else {
                left[key] = value
            }
        }
        return left
    }
    if let left = a as? [Any], let right = b as? [Any] { return left + right }
    return b
}

// MARK: - Measurement

struct Operation {
    var name: String
    /// Parsed once up front, for the serialize-only row.
    var serializeOnly = false
    var fanout: (_ document: [UInt8], _ other: [UInt8]) -> Int
    var foundation: (_ document: Data, _ other: Data) -> Int
}

func paths(_ texts: [String]) -> [JSONPath] { texts.map { try! JSONPath(parsing: $0) } }

let pickPaths = ["products.id", "products.name", "products.price.amount", "total"]
let dropPaths = ["products.internal", "products.price.vat", "products.description", "page"]
let compiledPick = paths(pickPaths)
let compiledDrop = paths(dropPaths)
let renamePath = try! JSONPath(parsing: "products.name")
let pickTree = shapeTree(pickPaths.map { $0.split(separator: ".").map(String.init) })
let dropTree = shapeTree(dropPaths.map { $0.split(separator: ".").map(String.init) })

func fanoutParse(_ bytes: [UInt8]) -> JSONValue { try! JSONValue(parsing: bytes) }
func foundationParse(_ data: Data) -> Any { try! JSONSerialization.jsonObject(with: data) }
func foundationWrite(_ value: Any) -> Int { try! JSONSerialization.data(withJSONObject: value).count }

let operations: [Operation] = [
    Operation(
        name: "parse only",
        fanout: { doc, _ in if case .object(let m) = fanoutParse(doc) { m.count } else { 0 } },
        foundation: { doc, _ in (foundationParse(doc) as? [String: Any])?.count ?? 0 }
    ),
    Operation(
        name: "serialize only",
        serializeOnly: true,
        fanout: { _, _ in 0 },
        foundation: { _, _ in 0 }
    ),
    Operation(
        name: "parse+serialize",
        fanout: { doc, _ in fanoutParse(doc).serialized.count },
        foundation: { doc, _ in foundationWrite(foundationParse(doc)) }
    ),
    Operation(
        name: "pick",
        fanout: { doc, _ in fanoutParse(doc).picking(compiledPick).serialized.count },
        foundation: { doc, _ in foundationWrite(foundationPick(foundationParse(doc), pickTree)!) }
    ),
    Operation(
        name: "drop",
        fanout: { doc, _ in fanoutParse(doc).dropping(compiledDrop).serialized.count },
        foundation: { doc, _ in foundationWrite(foundationDrop(foundationParse(doc), dropTree)) }
    ),
    Operation(
        name: "rename",
        fanout: { doc, _ in fanoutParse(doc).renaming(renamePath, to: "title").serialized.count },
        foundation: { doc, _ in
            foundationWrite(foundationRename(foundationParse(doc), ["products", "name"], to: "title"))
        }
    ),
    Operation(
        name: "merge (2 docs)",
        fanout: { doc, other in fanoutParse(doc).merging(fanoutParse(other), arrays: .concat).serialized.count },
        foundation: { doc, other in foundationWrite(foundationMerge(foundationParse(doc), foundationParse(other))) }
    ),
]

var sink = 0

/// Time per run in nanoseconds: one warm-up run, then batches of runs (each at least ~10 ms) until `budget`
/// has passed; the fastest batch counts, so that noise from other processes on the machine is filtered out.
@MainActor func measure(budget: Duration, _ body: () -> Int) -> Double {
    func nanoseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
    }
    let clock = ContinuousClock()
    var start = clock.now
    sink &+= body()
    let once = max(nanoseconds(clock.now - start), 1)
    let perBatch = max(1, Int(10_000_000 / once))
    var best = Double.infinity
    start = clock.now
    repeat {
        let batchStart = clock.now
        for _ in 0..<perBatch { sink &+= body() }
        best = min(best, nanoseconds(clock.now - batchStart) / Double(perBatch))
    } while clock.now - start < budget
    return best
}

let sizes: [(label: String, bytes: Int)] = [("1 KiB", 1 << 10), ("16 KiB", 16 << 10), ("256 KiB", 256 << 10)]
let budget = Duration.milliseconds(250)

print("| operation | size | fanout µs/KiB | Foundation µs/KiB | Foundation / fanout |")
print("|---|---|---:|---:|---:|")
// JSONBENCH_ONLY=<operation prefix> limits the run to some rows (for profiling).
let only = ProcessInfo.processInfo.environment["JSONBENCH_ONLY"]
// JSONBENCH_FANOUT_ONLY=1 skips the Foundation side of the parse/shape rows (for profiling).
let skipFoundation = ProcessInfo.processInfo.environment["JSONBENCH_FANOUT_ONLY"] != nil
for operation in operations where only.map({ operation.name.hasPrefix($0) }) ?? true {
    for size in sizes {
        let document = makeDocument(targetBytes: size.bytes, seed: 1)
        let other = makeDocument(targetBytes: size.bytes, seed: 2)
        precondition(JSONValidator.isValid(document) && JSONValidator.isValid(other))
        let data = Data(document)
        let otherData = Data(other)
        // Input KiB processed per run (both documents for merge).
        let kib = Double(document.count + (operation.name.hasPrefix("merge") ? other.count : 0)) / 1024
        let ours: Double
        let theirs: Double
        if operation.serializeOnly {
            let value = fanoutParse(document)
            let object = foundationParse(data)
            ours = measure(budget: budget) { value.serialized.count } / 1000 / kib
            theirs = measure(budget: budget) { foundationWrite(object) } / 1000 / kib
        } else {
            ours = measure(budget: budget) { operation.fanout(document, other) } / 1000 / kib
            theirs =
                skipFoundation ? .nan : measure(budget: budget) { operation.foundation(data, otherData) } / 1000 / kib
        }
        print(
            "| \(operation.name) | \(size.label) (\(document.count) B) | \(String(format: "%.2f", ours)) | "
                + "\(String(format: "%.2f", theirs)) | \(String(format: "%.1f×", theirs / ours)) |"
        )
    }
}

// MARK: - Number fidelity

let numbers = Array(
    (#"{"big":12345678901234567890,"bigger":123456789012345678901234567890,"decimal":0.1,"#
        + #""pi":3.14159265358979323846264338327950288,"exp":1.0E-7,"negzero":-0,"huge":1e400}"#).utf8
)
print("")
print("Number fidelity, input: `\(String(decoding: numbers, as: UTF8.self))`")
print("- fanout:     `\(String(decoding: try! JSONValue(parsing: numbers).serialized, as: UTF8.self))`")
func foundationRoundTrip(_ bytes: [UInt8]) -> String {
    do {
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        let out = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return "`" + String(decoding: out, as: UTF8.self) + "`"
    } catch {
        return "rejects the input (\(error))"
    }
}
print("- Foundation: \(foundationRoundTrip(numbers))")
let withoutHuge = Array(
    String(decoding: numbers, as: UTF8.self).replacingOccurrences(of: ",\"huge\":1e400", with: "").utf8)
print("- Foundation without `huge`: \(foundationRoundTrip(withoutHuge))")
print("")
print("(sink \(sink % 10))")
