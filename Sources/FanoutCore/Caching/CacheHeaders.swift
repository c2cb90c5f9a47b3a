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

    /// The five fields, for a caller that classified the name itself (the runtime's header callback reads it
    /// from the bytes, without making a String of it).
    public enum Field: Sendable {
        case age, date, vary, expires, cacheControl
    }

    /// Keeps the field if it is one of the five; false (nothing kept) for any other name.
    @discardableResult
    public mutating func take(name: String, value: String) -> Bool {
        let field: Field
        switch name.utf8.count {
        case 3 where HTTPHeaders.namesEqual(name, "age"): field = .age
        case 4 where HTTPHeaders.namesEqual(name, "date"): field = .date
        case 4 where HTTPHeaders.namesEqual(name, "vary"): field = .vary
        case 7 where HTTPHeaders.namesEqual(name, "expires"): field = .expires
        case 13 where HTTPHeaders.namesEqual(name, "cache-control"): field = .cacheControl
        default: return false
        }
        take(field, value: value)
        return true
    }

    /// Keeps `value` as `field`: the first one for a single-valued field, joined with ", " for a list.
    public mutating func take(_ field: Field, value: String) {
        switch field {
        case .age: if age == nil { age = value }
        case .date: if date == nil { date = value }
        case .vary: vary = vary.map { $0 + ", " + value } ?? value
        case .expires: if expires == nil { expires = value }
        case .cacheControl: cacheControl = cacheControl.map { $0 + ", " + value } ?? value
        }
    }
}
