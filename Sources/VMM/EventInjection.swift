import Glibc

/// A vCPU's events waiting for the next entry, and bhyve's rules for turning them into the one
/// event that entry delivers (`vm_exit_intinfo`, `vm_inject_exception`, `vm_entry_intinfo`,
/// `nested_fault` and the injection order of `vmx_inject_interrupts`).
///
/// The vCPU loop owns one per vCPU, behind the vCPU's lock since the control API injects too.
/// KVM merges the exceptions it raises itself; this model covers what user space adds:
///
/// 1. After an exit whose handler injects something, read `kvm.events()` and record what KVM was
///    delivering: `exitInfo = InterruptionInfo(inFlight: events)` (info1).
/// 2. The handler calls ``injectException(vector:errorCode:restartInstruction:protectedMode:)``
///    (info2; when ``Exception/restartInstruction`` is set, RIP goes back to the faulting
///    instruction), or sets ``nmiPending`` / ``extINTPending``.
/// 3. Before `KVM_RUN`, ``eventForEntry(interruptFlag:interruptShadow:nmiBlocked:acknowledgeExtINT:)``
///    with RFLAGS.IF, `events.interruptShadow != 0` and `events.nmiMasked`:
///    `.inject(info)` → `info.apply(to: &events)` and `kvm.setEvents(events)`;
///    `.tripleFault` → suspend the VM with ``SuspendReason/tripleFault``; `.none` → enter as is.
///    An NMI or ExtINT still pending afterwards waits for an interrupt-window exit.
///
/// Exits that queue nothing can skip the KVM round trip: KVM re-delivers its in-flight event itself.
public struct PendingEvents: Sendable, Equatable {
    /// An exception queued by emulation or the control API (bhyve's `exception_pending`).
    public struct Exception: Sendable, Equatable {
        public let vector: UInt8
        /// nil when the exception pushes none, or when it was raised in real mode.
        public let errorCode: UInt32?
        /// The faulting instruction is executed again after the handler, rather than skipped.
        public let restartInstruction: Bool
    }

    /// What the next entry delivers.
    public enum EntryDecision: Sendable, Equatable {
        case none
        case inject(InterruptionInfo)
        /// A fault while delivering #DF: the processor shuts down, nothing is delivered.
        case tripleFault
    }

    /// The event the last exit interrupted (bhyve's `exitintinfo`, "info1"); the control API
    /// reads it with `VM_GET_INTINFO` and replaces or clears it with ``setExitInfo(raw:)``.
    public var exitInfo: InterruptionInfo = .none
    /// At most one queued exception ("info2"), consumed by the next entry.
    public private(set) var pendingException: Exception?
    /// An NMI waiting for NMI blocking and the interrupt shadow to end.
    public var nmiPending = false
    /// The 8259A's INTR output asks for an INTA cycle, waiting for IF=1 and no interrupt shadow.
    public var extINTPending = false

    /// Nothing pending, as after `vcpu_init`.
    public init() {}

    /// Back to the state of a freshly created vCPU.
    public mutating func reset() {
        self = PendingEvents()
    }

    /// `VM_SET_INTINFO`: replaces ``exitInfo`` with a word checked as ``InterruptionInfo/init(raw:)``
    /// does; a word without the valid bit clears it.
    public mutating func setExitInfo(raw: UInt64) throws(EventInjectionError) {
        guard let info = InterruptionInfo(raw: raw) else { throw .invalidInterruptionInfo(raw) }
        exitInfo = info
    }

    /// The queued exception as `VM_GET_INTINFO` reports it in info2 (``InterruptionInfo/none`` when
    /// nothing is queued).
    public var pendingExceptionInfo: InterruptionInfo {
        guard let pendingException else { return .none }
        return InterruptionInfo(type: .hardwareException, vector: pendingException.vector,
                                errorCode: pendingException.errorCode) ?? .none
    }

    /// Queues an exception for the next entry (`vm_inject_exception`).
    ///
    /// - Parameters:
    ///   - vector: 0–31, except 8: #DF only arises from the nested-fault rules.
    ///   - errorCode: dropped when `protectedMode` is false, because real-mode delivery pushes none.
    ///   - restartInstruction: re-execute the faulting instruction after the handler, as faults do.
    ///   - protectedMode: CR0.PE.
    /// - Throws: ``EventInjectionError/vectorOutOfRange(_:)``, ``EventInjectionError/doubleFault``,
    ///   or ``EventInjectionError/exceptionPending(vector:)`` while another exception is queued —
    ///   bhyve's EINVAL, EINVAL and EBUSY, checked in that order.
    public mutating func injectException(vector: Int, errorCode: UInt32? = nil, restartInstruction: Bool,
                                         protectedMode: Bool) throws(EventInjectionError) {
        guard (0..<Int(ExceptionVector.count)).contains(vector) else { throw .vectorOutOfRange(vector) }
        guard vector != Int(ExceptionVector.doubleFault) else { throw .doubleFault }
        if let pendingException { throw .exceptionPending(vector: pendingException.vector) }
        pendingException = Exception(vector: UInt8(vector), errorCode: protectedMode ? errorCode : nil,
                                     restartInstruction: restartInstruction)
    }

    /// Picks the event the next entry delivers and removes it from the pending state.
    ///
    /// The exit event and the queued exception go first and are both consumed. When both exist
    /// the second arose while delivering the first: a fault during #DF delivery is a triple fault;
    /// contributory after contributory, or a contributory or page-fault-class exception after a
    /// page fault, becomes #DF with error code 0; otherwise the queued exception is delivered and
    /// the exit event is dropped — hardware raises it again when the instruction re-executes.
    /// Only when neither exists does a pending NMI go (unless NMI blocking or an interrupt shadow
    /// holds it — bhyve avoids NMI injection under STI blocking because some processors refuse
    /// it), then ExtINT.
    ///
    /// - Parameters:
    ///   - interruptFlag: RFLAGS.IF.
    ///   - interruptShadow: STI or MOV SS blocking is in effect.
    ///   - nmiBlocked: an NMI handler is running (KVM's `nmi.masked`).
    ///   - acknowledgeExtINT: the 8259A's INTA cycle, called only when the interrupt is
    ///     delivered; nil (the request vanished) leaves nothing to deliver.
    public mutating func eventForEntry(interruptFlag: Bool, interruptShadow: Bool, nmiBlocked: Bool,
                                       acknowledgeExtINT: () -> UInt8?) -> EntryDecision {
        let info1 = exitInfo
        let info2 = pendingExceptionInfo
        exitInfo = .none
        pendingException = nil
        switch (info1.isValid, info2.isValid) {
        case (true, true):
            return Self.nestedFault(info1, info2)
        case (true, false):
            return .inject(info1)
        case (false, true):
            return .inject(info2)
        case (false, false):
            break
        }
        if nmiPending && !nmiBlocked && !interruptShadow {
            nmiPending = false
            return .inject(.nmi)
        }
        if extINTPending && interruptFlag && !interruptShadow {
            extINTPending = false
            guard let vector = acknowledgeExtINT(),
                  let info = InterruptionInfo(type: .externalInterrupt, vector: vector) else { return .none }
            return .inject(info)
        }
        return .none
    }

    private static func nestedFault(_ first: InterruptionInfo, _ second: InterruptionInfo) -> EntryDecision {
        if first.type == .hardwareException && first.vector == ExceptionVector.doubleFault { return .tripleFault }
        switch (first.exceptionClass, second.exceptionClass) {
        case (.contributory, .contributory), (.pageFault, .contributory), (.pageFault, .pageFault):
            return .inject(.doubleFault)
        default:
            return .inject(second)
        }
    }
}

/// Why an event could not be queued; ``errno`` is what bhyve's ioctl returns.
public enum EventInjectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not an exception vector (0–31).
    case vectorOutOfRange(Int)
    /// #DF cannot be injected directly.
    case doubleFault
    /// Another exception is already queued for the next entry.
    case exceptionPending(vector: UInt8)
    /// A `VM_SET_INTINFO` word that fails the encoding checks.
    case invalidInterruptionInfo(UInt64)

    public var errno: Int32 {
        switch self {
        case .vectorOutOfRange, .doubleFault, .invalidInterruptionInfo: EINVAL
        case .exceptionPending: EBUSY
        }
    }

    public var description: String {
        switch self {
        case .vectorOutOfRange(let vector): "vector \(vector) is not an exception vector"
        case .doubleFault: "#DF cannot be injected directly"
        case .exceptionPending(let vector): "exception \(vector) is already pending"
        case .invalidInterruptionInfo(let raw): "invalid interruption information 0x\(String(raw, radix: 16))"
        }
    }
}
