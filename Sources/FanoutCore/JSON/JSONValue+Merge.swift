/// How ``JSONValue/merging(_:arrays:)`` combines two arrays.
public enum JSONArrayMergePolicy: Sendable {
    /// The elements of `self`, then those of `other`.
    case concat
    /// `other` replaces `self`.
    case replace
}

extension JSONValue {
    /// Deep merge of `other` into `self`.
    ///
    /// - object + object: the members of `self` in order, each shared key (compared by UTF-8 bytes) merged
    ///   recursively in place, then the keys only `other` has, in `other`'s order;
    /// - array + array: concatenated or replaced, per `arrays`;
    /// - any other pair (including `null` on either side and type conflicts): `other` wins.
    public func merging(_ other: JSONValue, arrays: JSONArrayMergePolicy) -> JSONValue {
        switch (self, other) {
        case (.object(var members), .object(let others)):
            if members.isEmpty { return other }
            if others.isEmpty { return self }
            let index = JSONMemberIndex(members)
            for member in others {
                if let position = index.position(of: member.key) {
                    members[position].value = members[position].value.merging(member.value, arrays: arrays)
                } else {
                    members.append(member)
                }
            }
            return .object(members)
        case (.array(let elements), .array(let others)):
            switch arrays {
            case .concat: return .array(elements + others)
            case .replace: return other
            }
        default:
            return other
        }
    }
}
