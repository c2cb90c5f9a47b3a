extension JSONValue {
    /// The value at `path`, or nil when it is missing.
    ///
    /// - `.key(k)` on an object: the member `k`. On an **array** it applies to each element (implicit
    ///   projection, as if `[]` came first).
    /// - `.each` (`[]`) on an array: maps the rest of the path over the elements.
    /// - `.index(n)` on an array: element `n`; missing when out of range.
    /// - Any step on a scalar, `.key` on nothing but objects/arrays, `[]`/`[n]` on a non-array: missing.
    ///
    /// A projection (explicit or implicit) yields an array of the results for the elements where the rest of
    /// the path exists, in order; elements where it is missing are skipped (the array may be empty). An element
    /// that is itself an array is projected again, so it contributes an array (possibly empty) of its own.
    /// `select(a.b)` on `{"a":[{"b":1},{"c":2},{"b":3}]}` is `[1,3]`.
    public func select(_ path: JSONPath) -> JSONValue? {
        self.select(path.steps[...])
    }

    func select(_ steps: ArraySlice<JSONPath.Step>) -> JSONValue? {
        guard let step = steps.first else { return self }
        switch (step, self) {
        case (.key(let name), .object(let members)):
            for member in members where JSONKey.equal(member.key, name) {
                return member.value.select(steps.dropFirst())
            }
            return nil
        case (.key, .array(let elements)):
            return .array(elements.compactMap { $0.select(steps) })
        case (.each, .array(let elements)):
            let rest = steps.dropFirst()
            return .array(elements.compactMap { $0.select(rest) })
        case (.index(let n), .array(let elements)):
            guard n >= 0 && n < elements.count else { return nil }
            return elements[n].select(steps.dropFirst())
        default:
            return nil
        }
    }
}
