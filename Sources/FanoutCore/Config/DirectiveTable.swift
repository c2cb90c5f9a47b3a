/// One directive of a block: its name, whether it may appear more than once, and how its arguments are read
/// into the block's model (`Body`).
struct Directive<Body>: Sendable {
    /// Reads the directive's arguments (the cursor stands after its name) into `body`.
    typealias Parse = @Sendable (inout ConfigFileParser, ConfigToken, inout Body) throws(ConfigError) -> Void

    let name: String
    /// False: a second line of it is a "duplicate" error, checked before its arguments are read.
    let repeatable: Bool
    let parse: Parse

    init(_ name: String, repeatable: Bool = false, _ parse: @escaping Parse) {
        self.name = name
        self.repeatable = repeatable
        self.parse = parse
    }
}

/// The directives one block accepts: the only list of their names. It drives the parser's dispatch, the
/// duplicate checks, the "did you mean" suggestions and "expected one of" lists (in table order), the
/// grammar summary of docs/reference/syntax.md and the test that each directive has a reference entry.
struct DirectiveTable<Body>: Sendable {
    /// What the block is, as the grammar summary names it: `upstream NAME`.
    let block: String
    /// The page of docs/reference where each directive has its `###` entry.
    let referencePage: String
    let directives: [Directive<Body>]

    var names: [String] { self.directives.map(\.name) }

    func directive(named name: String) -> Directive<Body>? {
        self.directives.first { $0.name == name }
    }

    /// The table without its parsers, for the summary and the tests.
    var summary: DirectiveSummary {
        DirectiveSummary(
            block: self.block, referencePage: self.referencePage, names: self.names,
            repeatable: self.directives.filter(\.repeatable).map(\.name))
    }
}

/// What a ``DirectiveTable`` says about its block, without the parsers.
struct DirectiveSummary: Sendable, Equatable {
    let block: String
    let referencePage: String
    let names: [String]
    let repeatable: [String]

    /// The block's entry in the grammar summary: `upstream NAME:` then its directives, `*` marking what may
    /// repeat, wrapped at 100 columns.
    var grammarEntry: String {
        var lines = ["\(self.block):"]
        var line = "   "
        for name in self.names {
            let item = " " + name + (self.repeatable.contains(name) ? "*" : "")
            if line.count + item.count > 100 {
                lines.append(line)
                line = "   "
            }
            line += item
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }
}

extension ConfigFileParser {
    /// Every block's table, top level first: the grammar summary in this order.
    static var directiveTables: [DirectiveSummary] {
        [
            Self.topLevelTable.summary, Self.upstreamTable.summary, Self.oauth2Table.summary, Self.routeTable.summary,
            Self.callTable.summary,
            Self.tracingTable.summary, Self.corsTable.summary, Self.storeTable.summary,
        ]
    }

    /// The grammar summary that docs/reference/syntax.md holds between its `grammar` markers.
    static var grammarSummary: String {
        self.directiveTables.map(\.grammarEntry).joined(separator: "\n")
    }

    /// Reads the directives of a block whose `{` is consumed, up to and including its `}`: each is looked up
    /// in `table` (an unknown one is an error with a suggestion), checked for duplicates unless repeatable,
    /// parsed into `body` and ended.
    /// - Returns: the first line of each non-repeatable directive met, for the block's own checks.
    mutating func parseBlock<Body>(
        _ table: DirectiveTable<Body>, opened brace: ConfigToken, context: String, into body: inout Body
    ) throws(ConfigError) -> [String: ConfigToken] {
        var seen: [String: ConfigToken] = [:]
        while let sub = try self.cursor.nextInBlock(opened: brace, context: context) {
            guard let directive = table.directive(named: sub.text) else {
                throw self.cursor.unknownDirective(sub, context: context, known: table.names)
            }
            if !directive.repeatable {
                if let first = seen[sub.text] { throw self.cursor.duplicateError(sub, first: first, context: context) }
                seen[sub.text] = sub
            }
            try directive.parse(&self, sub, &body)
            try self.cursor.finishDirective(sub)
        }
        return seen
    }
}
