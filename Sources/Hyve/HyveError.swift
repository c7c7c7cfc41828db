/// A problem with what the user asked for, stated in one line.
public struct HyveError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
