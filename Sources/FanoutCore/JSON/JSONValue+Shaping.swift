/// Shaping: pure functions that return a reshaped copy. Paths that lead nowhere are ignored, never an error.
/// Keys are compared by their decoded UTF-8 bytes. Like ``JSONValue/select(_:)``, paths reach through arrays:
/// a key step on an array applies to each element, `[]` to every element, `[n]` to element `n` only.
extension JSONValue {
    /// Keeps only the listed paths, with the structure that encloses them.
    ///
    /// `picking(["id", "price.amount"])` on `{"id":1,"price":{"amount":5,"cur":"EUR"},"x":2}` gives
    /// `{"id":1,"price":{"amount":5}}`. Members keep their document order.
    ///
    /// - An object keeps the members a path names; a member where a path ends is kept whole, one where paths
    ///   continue is shaped by the rest of them (an object shaped to nothing stays as `{}`, an array as `[]`),
    ///   and one whose value is a scalar where a path would need to go deeper is left out (the path is missing).
    /// - An array is shaped element by element (so `picking(["id"])` on `[{"id":1,"x":2}]` gives `[{"id":1}]`);
    ///   `[n]` keeps only the elements it names; scalar elements under a key path are left out.
    /// - A scalar `self` is returned unchanged.
    public func picking(_ paths: [JSONPath]) -> JSONValue {
        let root = JSONShapeNode(paths)
        if root.terminal { return self }
        return self.picked(root) ?? self
    }

    /// The part of `self` that `node` selects; nil for a scalar where the paths need to go deeper.
    private func picked(_ node: JSONShapeNode) -> JSONValue? {
        switch self {
        case .object(let members):
            var kept: [JSONMember] = []
            for member in members {
                guard let child = node.child(forKey: member.key) else { continue }
                if child.terminal {
                    kept.append(member)
                } else if let value = member.value.picked(child) {
                    kept.append(JSONMember(key: member.key, value: value))
                }
            }
            return .object(kept)
        case .array(let elements):
            var kept: [JSONValue] = []
            kept.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard let child = node.element(index) else { continue }
                if child.terminal {
                    kept.append(element)
                } else if let value = element.picked(child) {
                    kept.append(value)
                }
            }
            return .array(kept)
        case .null, .bool, .number, .string:
            return nil
        }
    }

    /// Removes the listed paths. `dropping(["internal", "price.cur"])` removes the member `internal` and the
    /// member `cur` of `price`; through arrays, `items.secret` removes `secret` from every element of `items`,
    /// `items[0]` removes the first element and `items[]` every element. Everything else is unchanged.
    public func dropping(_ paths: [JSONPath]) -> JSONValue {
        let root = JSONShapeNode(paths)
        if root.terminal { return self }
        return self.dropped(root)
    }

    private func dropped(_ node: JSONShapeNode) -> JSONValue {
        switch self {
        case .object(let members):
            var kept: [JSONMember] = []
            kept.reserveCapacity(members.count)
            for member in members {
                guard let child = node.child(forKey: member.key) else {
                    kept.append(member)
                    continue
                }
                if !child.terminal {
                    kept.append(JSONMember(key: member.key, value: member.value.dropped(child)))
                }
            }
            return .object(kept)
        case .array(let elements):
            var kept: [JSONValue] = []
            kept.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard let child = node.element(index) else {
                    kept.append(element)
                    continue
                }
                if !child.terminal { kept.append(element.dropped(child)) }
            }
            return .array(kept)
        case .null, .bool, .number, .string:
            return self
        }
    }

    /// Renames the member at `path` to `newName`, keeping its position in its object. If that object already
    /// has a member named `newName`, that other member is removed. Through arrays as above, so `items.name`
    /// renames `name` in every element of `items`.
    ///
    /// The path's last step must be a key; otherwise (and when the path is missing) `self` is returned unchanged.
    public func renaming(_ path: JSONPath, to newName: String) -> JSONValue {
        guard case .key(let oldName)? = path.steps.last else { return self }
        return self.renamed(path.steps.dropLast(), oldName, newName)
    }

    private func renamed(_ steps: ArraySlice<JSONPath.Step>, _ oldName: String, _ newName: String) -> JSONValue {
        guard let step = steps.first else {
            switch self {
            case .object(var members):
                guard let position = members.firstIndex(where: { JSONKey.equal($0.key, oldName) }) else {
                    return self
                }
                if JSONKey.equal(oldName, newName) { return self }
                members[position].key = newName
                if let other = members.indices.first(where: {
                    $0 != position && JSONKey.equal(members[$0].key, newName)
                }) {
                    members.remove(at: other)
                }
                return .object(members)
            case .array(let elements):
                return .array(elements.map { $0.renamed(steps, oldName, newName) })
            case .null, .bool, .number, .string:
                return self
            }
        }
        switch (step, self) {
        case (.key(let name), .object(var members)):
            guard let position = members.firstIndex(where: { JSONKey.equal($0.key, name) }) else { return self }
            members[position].value = members[position].value.renamed(steps.dropFirst(), oldName, newName)
            return .object(members)
        case (.key, .array(let elements)):
            return .array(elements.map { $0.renamed(steps, oldName, newName) })
        case (.each, .array(let elements)):
            let rest = steps.dropFirst()
            return .array(elements.map { $0.renamed(rest, oldName, newName) })
        case (.index(let n), .array(var elements)):
            guard n >= 0 && n < elements.count else { return self }
            elements[n] = elements[n].renamed(steps.dropFirst(), oldName, newName)
            return .array(elements)
        default:
            return self
        }
    }

    /// `{"<name>": self}`.
    public func nested(under name: String) -> JSONValue {
        .object([JSONMember(key: name, value: self)])
    }

    /// `{"<name>": self}` when `self` is an array; otherwise `self` unchanged.
    public func wrappingArray(in name: String) -> JSONValue {
        guard case .array = self else { return self }
        return self.nested(under: name)
    }
}
