/// The response header fields that decide whether and how long an upstream answer may be cached, as
/// received (captured for every composite call by the runtime's header callback).
public struct CacheHeaders: Sendable, Equatable {
    /// `Cache-Control` and `Vary`: repeated fields joined with ", " (they are comma lists).
    public var cacheControl: String?
    public var vary: String?
    /// `Expires`, `Date` and `Age`: the first field only (a date holds a comma, so fields cannot be joined).
    public var expires: String?
    public var date: String?
    public var age: String?

    public init(
        cacheControl: String? = nil, vary: String? = nil, expires: String? = nil, date: String? = nil,
        age: String? = nil
    ) {
        self.cacheControl = cacheControl
        self.vary = vary
        self.expires = expires
        self.date = date
        self.age = age
    }

    /// Keeps the field if it is one of the five; false (nothing kept) for any other name.
    @discardableResult
    public mutating func take(name: String, value: String) -> Bool {
        switch name.utf8.count {
        case 3 where name.lowercased() == "age":
            if age == nil { age = value }
        case 4 where name.lowercased() == "date":
            if date == nil { date = value }
        case 4 where name.lowercased() == "vary":
            vary = vary.map { $0 + ", " + value } ?? value
        case 7 where name.lowercased() == "expires":
            if expires == nil { expires = value }
        case 13 where name.lowercased() == "cache-control":
            cacheControl = cacheControl.map { $0 + ", " + value } ?? value
        default:
            return false
        }
        return true
    }
}
