/// HTTP-date values (RFC 9110 §5.6.7) as seconds since the Unix epoch, for `Date` and `Expires`.
///
/// All three formats a recipient must accept are parsed:
///
/// - IMF-fixdate, the preferred one: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the obsolete RFC 850 format: `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year more than 50 years
///   ahead of `now` is read as the most recent past year with those digits, as §5.6.7 requires);
/// - the obsolete asctime format: `Sun Nov  6 08:49:37 1994`.
///
/// Day and month names are case-sensitive, as in the grammar; the day name is not checked against the date.
/// Anything else (including `0`, which servers send in `Expires` to mean "already expired") is nil.
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let shortDays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let longDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// Seconds since 1970-01-01T00:00:00Z, nil when `text` is in none of the three formats.
    /// - Parameter now: seconds since the epoch, only used to place an RFC 850 two-digit year.
    public static func seconds(_ text: String, now: Int64) -> Int64? {
        let bytes = Array(text.utf8)
        if let comma = bytes.firstIndex(of: UInt8(ascii: ",")) {
            let day = String(decoding: bytes[..<comma], as: UTF8.self)
            let rest = Array(bytes[(comma + 1)...])
            if comma == 3, shortDays.contains(day) { return imfFixdate(rest) }
            if longDays.contains(day) { return rfc850(rest, now: now) }
            return nil
        }
        guard bytes.count == 24, shortDays.contains(String(decoding: bytes[0..<3], as: UTF8.self)), bytes[3] == 32
        else { return nil }
        return asctime(Array(bytes[4...]))
    }

    /// ` 06 Nov 1994 08:49:37 GMT` (after the comma).
    private static func imfFixdate(_ b: [UInt8]) -> Int64? {
        guard b.count == 25, b[0] == 32, b[3] == 32, b[7] == 32, b[12] == 32, b[21] == 32,
            String(decoding: b[22...], as: UTF8.self) == "GMT",
            let day = number(b[1..<3]), let month = month(b[4..<7]), let year = number(b[8..<12])
        else { return nil }
        return timestamp(year: year, month: month, day: day, time: b[13..<21])
    }

    /// ` 06-Nov-94 08:49:37 GMT` (after the comma).
    private static func rfc850(_ b: [UInt8], now: Int64) -> Int64? {
        guard b.count == 23, b[0] == 32, b[3] == 45, b[7] == 45, b[10] == 32, b[19] == 32,
            String(decoding: b[20...], as: UTF8.self) == "GMT",
            let day = number(b[1..<3]), let month = month(b[4..<7]), let twoDigits = number(b[8..<10])
        else { return nil }
        // The century that puts the year at most 50 years after the current one.
        let currentYear = civil(days: now >= 0 ? now / 86_400 : (now - 86_399) / 86_400).year
        var year = currentYear - currentYear % 100 + twoDigits
        if year > currentYear + 50 { year -= 100 }
        return timestamp(year: year, month: month, day: day, time: b[11..<19])
    }

    /// `Nov  6 08:49:37 1994` (after the day name and its space).
    private static func asctime(_ b: [UInt8]) -> Int64? {
        guard b.count == 20, b[3] == 32, b[6] == 32, b[15] == 32, let month = month(b[0..<3]),
            let year = number(b[16..<20])
        else { return nil }
        let day: Int?
        if b[4] == 32 { day = number(b[5..<6]) } else { day = number(b[4..<6]) }
        guard let day else { return nil }
        return timestamp(year: year, month: month, day: day, time: b[7..<15])
    }

    /// `hh:mm:ss` checked, then the instant (a leap second 60 is accepted, as in the grammar).
    private static func timestamp(year: Int, month: Int, day: Int, time: ArraySlice<UInt8>) -> Int64? {
        let t = Array(time)
        guard t.count == 8, t[2] == 58, t[5] == 58, let hour = number(t[0..<2]), let minute = number(t[3..<5]),
            let second = number(t[6..<8]), hour <= 23, minute <= 59, second <= 60,
            day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return days * 86_400 + Int64(hour * 3_600 + minute * 60 + second)
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for digit in digits {
            guard digit >= 48, digit <= 57 else { return nil }
            value = value * 10 + Int(digit - 48)
        }
        return digits.isEmpty ? nil : value
    }

    private static func month(_ name: ArraySlice<UInt8>) -> Int? {
        months.firstIndex(of: String(decoding: name, as: UTF8.self)).map { $0 + 1 }
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number (H. Hinnant's `civil_from_days`); only the year is used.
    static func civil(days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }
}
