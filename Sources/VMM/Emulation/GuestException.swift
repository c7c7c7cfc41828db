/// An exception or software interrupt the emulator hands back for delivery to the guest.
public struct GuestException: Sendable, Equatable, CustomStringConvertible {
    /// How the event arose, which decides where the handler returns to and how it is delivered.
    public enum Kind: Sendable, Equatable {
        /// A fault: nothing changed and RIP is still at the instruction, which the handler's IRET
        /// executes again.
        case fault
        /// INT3 or INTO: RIP is already past the instruction.
        case softwareException
        /// INT1 (ICEBP): #DB with RIP past the instruction.
        case privilegedSoftwareException
        /// INT n: RIP is already past the instruction.
        case softwareInterrupt
        /// A trap raised by completing the instruction (single-step #DB): RIP is past it, and the
        /// event is delivered as a hardware exception.
        case trap
    }

    /// The IDT vector.
    public let vector: UInt8
    /// The error code the delivery pushes, for the exceptions that have one.
    public let errorCode: UInt32?
    /// The linear address a #PF reports in CR2.
    public let faultAddress: UInt64?
    public let kind: Kind

    /// An event on `vector`; faults (the default kind) leave RIP at the instruction.
    public init(vector: UInt8, errorCode: UInt32? = nil, faultAddress: UInt64? = nil, kind: Kind = .fault) {
        self.vector = vector
        self.errorCode = errorCode
        self.faultAddress = faultAddress
        self.kind = kind
    }

    /// The exception a guest paging walk raised.
    public init(_ fault: GuestFault) {
        switch fault {
        case .pageFault(let code, let address):
            self.init(vector: Self.pageFaultVector, errorCode: code.rawValue, faultAddress: address)
        case .generalProtection:
            self = .generalProtection()
        }
    }

    public static let debugVector: UInt8 = 1
    public static let breakpointVector: UInt8 = 3
    public static let overflowVector: UInt8 = 4
    public static let invalidOpcodeVector: UInt8 = 6
    public static let deviceNotAvailableVector: UInt8 = 7
    public static let segmentNotPresentVector: UInt8 = 11
    public static let stackFaultVector: UInt8 = 12
    public static let generalProtectionVector: UInt8 = 13
    public static let pageFaultVector: UInt8 = 14
    public static let floatingPointErrorVector: UInt8 = 16
    public static let alignmentCheckVector: UInt8 = 17
    public static let simdFloatingPointVector: UInt8 = 19

    /// The single-step #DB after an instruction executed with RFLAGS.TF set.
    public static let singleStep = GuestException(vector: debugVector, kind: .trap)
    /// #UD.
    public static let invalidOpcode = GuestException(vector: invalidOpcodeVector)
    /// #NM.
    public static let deviceNotAvailable = GuestException(vector: deviceNotAvailableVector)
    /// #MF.
    public static let floatingPointError = GuestException(vector: floatingPointErrorVector)
    /// #XM.
    public static let simdFloatingPoint = GuestException(vector: simdFloatingPointVector)
    /// #AC(0).
    public static let alignmentCheck = GuestException(vector: alignmentCheckVector, errorCode: 0)

    /// #GP with `errorCode` (a selector error code, or 0).
    public static func generalProtection(_ errorCode: UInt32 = 0) -> GuestException {
        GuestException(vector: generalProtectionVector, errorCode: errorCode)
    }

    /// #SS with `errorCode`.
    public static func stackFault(_ errorCode: UInt32 = 0) -> GuestException {
        GuestException(vector: stackFaultVector, errorCode: errorCode)
    }

    /// #NP with `errorCode`.
    public static func segmentNotPresent(_ errorCode: UInt32) -> GuestException {
        GuestException(vector: segmentNotPresentVector, errorCode: errorCode)
    }

    public var description: String {
        let names: [UInt8: String] = [0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 6: "#UD", 7: "#NM", 11: "#NP",
                                      12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 19: "#XM"]
        var text = kind == .softwareInterrupt ? "INT 0x\(String(vector, radix: 16))" : names[vector] ?? "vector \(vector)"
        if let errorCode { text += "(0x\(String(errorCode, radix: 16)))" }
        if let faultAddress { text += " at 0x\(String(faultAddress, radix: 16))" }
        return text
    }
}
