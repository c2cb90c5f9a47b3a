extension Array {
    /// Grows a table indexed by descriptor number so that `index` is inside it, appending `filler` entries (at
    /// least 64 at a time: descriptors are numbered densely, and one append per new number would copy the table
    /// over and over). Does nothing when `index` already is.
    mutating func growToHold(_ index: Int, filler: Element) {
        guard index >= count else { return }
        append(contentsOf: repeatElement(filler, count: Swift.max(index + 1 - count, 64)))
    }
}
