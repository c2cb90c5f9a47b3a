/// A set of paths folded into a tree, so that shaping looks each member key up once per object instead of
/// once per path.
///
/// A node stands for the set of path *suffixes* that remain at some value: `terminal` when one of them is
/// empty (the value itself is selected), `keys` for suffixes starting with a key, `each`/`indexes` for those
/// starting with `[]`/`[n]`.
final class JSONShapeNode {
    var terminal = false
    private var keyNames: [String] = []
    private var keyNodes: [JSONShapeNode] = []
    private var keyTable: [JSONKeyBox: Int]? = nil
    var each: JSONShapeNode? = nil
    var indexes: [Int: JSONShapeNode] = [:]

    private var elementCache: JSONShapeNode?? = nil
    private var indexedElementCache: [Int: JSONShapeNode] = [:]

    init() {}

    /// The tree of `paths`.
    convenience init(_ paths: [JSONPath]) {
        self.init()
        for path in paths { self.insert(path.steps[...]) }
    }

    func insert(_ steps: ArraySlice<JSONPath.Step>) {
        guard let step = steps.first else {
            self.terminal = true
            return
        }
        let child: JSONShapeNode
        switch step {
        case .key(let name):
            if let existing = self.child(forKey: name) {
                child = existing
            } else {
                child = JSONShapeNode()
                self.addKey(name, child)
            }
        case .each:
            child = self.each ?? JSONShapeNode()
            self.each = child
        case .index(let n):
            child = self.indexes[n] ?? JSONShapeNode()
            self.indexes[n] = child
        }
        child.insert(steps.dropFirst())
    }

    private func addKey(_ name: String, _ node: JSONShapeNode) {
        self.keyNames.append(name)
        self.keyNodes.append(node)
        if self.keyTable != nil {
            self.keyTable![JSONKeyBox(name)] = self.keyNames.count - 1
        } else if self.keyNames.count > 8 {
            var table: [JSONKeyBox: Int] = [:]
            for (position, key) in self.keyNames.enumerated() { table[JSONKeyBox(key)] = position }
            self.keyTable = table
        }
    }

    var hasKeys: Bool { !self.keyNames.isEmpty }

    /// The node for the member named `name` (compared by UTF-8 bytes), or nil when no path continues there.
    @inline(__always)
    func child(forKey name: String) -> JSONShapeNode? {
        if let table = self.keyTable {
            return table[JSONKeyBox(name)].map { self.keyNodes[$0] }
        }
        for position in self.keyNames.indices where JSONKey.equal(self.keyNames[position], name) {
            return self.keyNodes[position]
        }
        return nil
    }

    /// What applies to element `index` of an array at this node: the key suffixes (an implicit projection),
    /// the `[]` suffixes, and the `[index]` suffixes, united. Nil when nothing applies.
    func element(_ index: Int) -> JSONShapeNode? {
        let shared: JSONShapeNode?
        if let cached = self.elementCache {
            shared = cached
        } else {
            let keysOnly = self.hasKeys ? self.keysOnly() : nil
            shared = Self.union(keysOnly, self.each)
            self.elementCache = .some(shared)
        }
        guard !self.indexes.isEmpty, let indexed = self.indexes[index] else { return shared }
        if let cached = self.indexedElementCache[index] { return cached }
        let node = Self.union(shared, indexed)!
        self.indexedElementCache[index] = node
        return node
    }

    /// A node with this node's key suffixes only.
    private func keysOnly() -> JSONShapeNode {
        let node = JSONShapeNode()
        for position in self.keyNames.indices { node.addKey(self.keyNames[position], self.keyNodes[position]) }
        return node
    }

    /// The node for the union of two suffix sets (shares unchanged subtrees).
    static func union(_ a: JSONShapeNode?, _ b: JSONShapeNode?) -> JSONShapeNode? {
        guard let a else { return b }
        guard let b else { return a }
        if a === b { return a }
        let node = JSONShapeNode()
        node.terminal = a.terminal || b.terminal
        for position in a.keyNames.indices {
            let name = a.keyNames[position]
            node.addKey(name, Self.union(a.keyNodes[position], b.child(forKey: name))!)
        }
        for position in b.keyNames.indices where a.child(forKey: b.keyNames[position]) == nil {
            node.addKey(b.keyNames[position], b.keyNodes[position])
        }
        node.each = Self.union(a.each, b.each)
        node.indexes = a.indexes.merging(b.indexes) { Self.union($0, $1)! }
        return node
    }
}

/// A `String` hashed and compared by its UTF-8 bytes.
struct JSONKeyBox: Hashable {
    var key: String

    init(_ key: String) { self.key = key }

    static func == (lhs: JSONKeyBox, rhs: JSONKeyBox) -> Bool { JSONKey.equal(lhs.key, rhs.key) }

    func hash(into hasher: inout Hasher) { hasher.combine(JSONKey.hash(self.key)) }
}
