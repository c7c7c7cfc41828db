import CKVM
import KVM

/// One event in bhyve's 64-bit interruption-information word (`VM_INTINFO_*`): VT-x's
/// IDT-vectoring / VM-entry interruption-information layout with the error code in the upper half.
/// Bits 0–7 vector, 8–10 type, 11 deliver error code, 12–30 reserved, 31 valid, 32–63 error code.
///
/// The word carries its own valid bit, as in bhyve: ``none`` (raw 0) stands for "no event", which is
/// what `VM_GET_INTINFO` reports and what `VM_SET_INTINFO` takes to clear the exit event.
public struct InterruptionInfo: Sendable, Hashable, CustomStringConvertible {
    /// The event's kind (bits 8–10). Values 1 and 7 are reserved by Intel and AMD and have no case.
    public enum EventType: UInt8, Sendable, CaseIterable {
        case externalInterrupt = 0
        case nmi = 2
        case hardwareException = 3
        case softwareInterrupt = 4
        /// INT1 (ICEBP).
        case privilegedSoftwareException = 5
        /// INT3 and INTO as VT-x reports them.
        case softwareException = 6
    }

    /// The 64-bit word as `VM_GET_INTINFO` reports it.
    public let raw: UInt64

    /// No event (valid bit clear).
    public static let none = InterruptionInfo(checked: 0)

    /// An NMI, which always uses vector 2.
    public static let nmi = InterruptionInfo(checked: validBit | UInt64(EventType.nmi.rawValue) << typeShift
        | UInt64(ExceptionVector.nmi))

    /// The #DF that a nested fault becomes: error code 0, always delivered.
    public static let doubleFault = InterruptionInfo(checked: validBit
        | UInt64(EventType.hardwareException.rawValue) << typeShift | deliverErrorCodeBit
        | UInt64(ExceptionVector.doubleFault))

    static let vectorMask: UInt64 = 0xFF
    static let typeShift: UInt64 = 8
    static let typeMask: UInt64 = 0x700
    static let deliverErrorCodeBit: UInt64 = 1 << 11
    static let reservedMask: UInt64 = 0x7FFF_F000
    static let validBit: UInt64 = 1 << 31
    static let errorCodeShift: UInt64 = 32

    private init(checked raw: UInt64) { self.raw = raw }

    /// Decodes a word with `VM_SET_INTINFO`'s checks: an NMI must use vector 2, a hardware
    /// exception a vector below 32, and the reserved bits must be clear. A word without the valid
    /// bit is accepted as ``none`` whatever its other bits, as bhyve stores 0 for it.
    ///
    /// Stricter than bhyve: the reserved types 1 and 7 are refused, because neither VT-x, SVM nor
    /// KVM can deliver them.
    public init?(raw: UInt64) {
        guard raw & Self.validBit != 0 else {
            self = .none
            return
        }
        guard raw & Self.reservedMask == 0,
              let type = EventType(rawValue: UInt8((raw & Self.typeMask) >> Self.typeShift)) else { return nil }
        let vector = UInt8(raw & Self.vectorMask)
        if type == .nmi && vector != ExceptionVector.nmi { return nil }
        if type == .hardwareException && vector >= ExceptionVector.count { return nil }
        self.raw = raw
    }

    /// A valid event; nil where ``init(raw:)`` would refuse the encoding.
    public init?(type: EventType, vector: UInt8, errorCode: UInt32? = nil) {
        var raw = Self.validBit | UInt64(type.rawValue) << Self.typeShift | UInt64(vector)
        if let errorCode {
            raw |= Self.deliverErrorCodeBit | UInt64(errorCode) << Self.errorCodeShift
        }
        self.init(raw: raw)
    }

    /// Whether the word describes an event at all (bit 31).
    public var isValid: Bool { raw & Self.validBit != 0 }

    /// The event's kind; nil for ``none``.
    public var type: EventType? {
        guard isValid else { return nil }
        return EventType(rawValue: UInt8((raw & Self.typeMask) >> Self.typeShift))
    }

    public var vector: UInt8 { UInt8(raw & Self.vectorMask) }

    /// The error code pushed on delivery; nil unless bit 11 is set.
    public var errorCode: UInt32? {
        raw & Self.deliverErrorCodeBit != 0 ? UInt32(truncatingIfNeeded: raw >> Self.errorCodeShift) : nil
    }

    /// The event's class for the double-fault rules. Like bhyve, every type other than interrupts and
    /// NMI counts as an exception and is classified by vector, because VT-x reports #BP and #OF as
    /// software exceptions while SVM reports them as hardware exceptions.
    public var exceptionClass: ExceptionClass {
        switch type {
        case nil, .externalInterrupt?, .nmi?, .softwareInterrupt?: .benign
        case .hardwareException?, .privilegedSoftwareException?, .softwareException?: ExceptionClass(exceptionVector: vector)
        }
    }

    /// The event KVM reports as being delivered after an exit (bhyve's exit intinfo, "info1"):
    /// the exception, else the NMI, else the external interrupt, which is the order KVM itself
    /// re-injects them in. KVM folds the hardware's IDT-vectoring information into these fields
    /// on every exit. An exception KVM holds as pending (raised but not yet vectored) counts too:
    /// without `KVM_CAP_EXCEPTION_PAYLOAD` KVM reports it as injected anyway. KVM never reports
    /// software interrupts and exceptions, so they never appear here.
    public init(inFlight events: VCPUEvents) {
        if let exception = events.exception {
            self = InterruptionInfo(type: .hardwareException, vector: exception.vector,
                                    errorCode: exception.errorCode) ?? .none
        } else if events.nmiInjected {
            self = .nmi
        } else if let vector = events.interrupt {
            self = InterruptionInfo(checked: Self.validBit | UInt64(vector))
        } else {
            self = .none
        }
    }

    /// Makes this the only event KVM delivers on the next entry: the exception, injected-NMI and
    /// interrupt fields are replaced, so applying ``none`` withdraws whatever was in flight.
    ///
    /// Software interrupts and software/privileged software exceptions are left out, as KVM leaves
    /// them out of `KVM_GET_VCPU_EVENTS`: its ABI has no instruction length for them, and with RIP
    /// still on the INT/INT3/INTO/INT1 instruction, re-executing it raises the event again.
    ///
    /// An injected event also clears the STI/MOV SS interrupt shadow: delivering an event ends it
    /// (bhyve's `vm_inject_exception` clears it too), and VM entry refuses to inject an interrupt
    /// or NMI under it. An NMI is injected with NMI blocking clear, as KVM does when it re-queues
    /// an interrupted NMI, because delivery sets the blocking.
    ///
    /// A hardware exception on vector 2, which bhyve accepts, goes in as an NMI: `KVM_SET_VCPU_EVENTS`
    /// refuses exception vector 2, and the NMI runs the same IDT gate.
    public func apply(to events: inout VCPUEvents) {
        events.exception = nil
        events.interrupt = nil
        events.nmiInjected = false
        switch type {
        case nil, .softwareInterrupt?, .privilegedSoftwareException?, .softwareException?:
            return
        case .externalInterrupt?:
            events.interrupt = vector
        case .hardwareException? where vector != ExceptionVector.nmi:
            events.exception = VCPUEvents.Exception(vector: vector, errorCode: errorCode, injected: true)
        case .nmi?, .hardwareException?:
            events.nmiInjected = true
            events.nmiMasked = false
        }
        events.interruptShadow = 0
        events.flags |= UInt32(KVM_VCPUEVENT_VALID_SHADOW)
    }

    public var description: String {
        guard let type else { return "none" }
        let code = errorCode.map { ", error code 0x\(String($0, radix: 16))" } ?? ""
        return "\(type) vector \(vector)\(code)"
    }
}

/// Exception classes for the double-fault rules (Intel SDM Vol. 3, tables 6-4 and 6-5).
public enum ExceptionClass: Sendable {
    case benign
    /// #DE, #TS, #NP, #SS, #GP.
    case contributory
    /// #PF and #VE.
    case pageFault

    /// The class of exception `vector`; interrupts and NMIs are benign whatever their vector, see
    /// ``InterruptionInfo/exceptionClass``.
    public init(exceptionVector vector: UInt8) {
        switch vector {
        case ExceptionVector.pageFault, ExceptionVector.virtualization:
            self = .pageFault
        case ExceptionVector.divideError, ExceptionVector.invalidTSS, ExceptionVector.segmentNotPresent,
             ExceptionVector.stackFault, ExceptionVector.generalProtection:
            self = .contributory
        default:
            self = .benign
        }
    }
}

/// The architectural exception vectors the injection rules name.
enum ExceptionVector {
    static let divideError: UInt8 = 0
    static let nmi: UInt8 = 2
    static let doubleFault: UInt8 = 8
    static let invalidTSS: UInt8 = 10
    static let segmentNotPresent: UInt8 = 11
    static let stackFault: UInt8 = 12
    static let generalProtection: UInt8 = 13
    static let pageFault: UInt8 = 14
    static let virtualization: UInt8 = 20
    /// Vectors 0–31 are reserved for exceptions.
    static let count: UInt8 = 32
}
