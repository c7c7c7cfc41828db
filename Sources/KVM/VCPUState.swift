import CKVM

/// x87/SSE state (`struct kvm_fpu`). Register contents are kept as raw bytes.
public struct FPUState: Sendable {
    var raw: kvm_fpu

    public init() { raw = kvm_fpu() }

    init(raw: kvm_fpu) { self.raw = raw }

    /// The x87 control word (0x37F after FNINIT/reset).
    public var controlWord: UInt16 {
        get { raw.fcw }
        set { raw.fcw = newValue }
    }

    public var statusWord: UInt16 {
        get { raw.fsw }
        set { raw.fsw = newValue }
    }

    /// The abridged tag word as FXSAVE stores it.
    public var tagWord: UInt8 {
        get { raw.ftwx }
        set { raw.ftwx = newValue }
    }

    /// MXCSR (0x1F80 after reset).
    public var mxcsr: UInt32 {
        get { raw.mxcsr }
        set { raw.mxcsr = newValue }
    }

    /// The state after RESET/INIT: everything zero except the control words.
    public static var reset: FPUState {
        var state = FPUState()
        state.controlWord = 0x37F
        state.mxcsr = 0x1F80
        return state
    }
}

/// Pending and in-flight events of a vCPU (`struct kvm_vcpu_events`).
public struct VCPUEvents: Sendable {
    var raw: kvm_vcpu_events

    public init() { raw = kvm_vcpu_events() }

    init(raw: kvm_vcpu_events) { self.raw = raw }

    /// An exception being delivered (injected) or waiting to be (pending).
    public struct Exception: Sendable, Equatable {
        public var vector: UInt8
        public var errorCode: UInt32?
        public var injected: Bool
        public init(vector: UInt8, errorCode: UInt32? = nil, injected: Bool = true) {
            self.vector = vector; self.errorCode = errorCode; self.injected = injected
        }
    }

    public var exception: Exception? {
        get {
            guard raw.exception.injected != 0 || raw.exception.pending != 0 else { return nil }
            return Exception(vector: raw.exception.nr,
                             errorCode: raw.exception.has_error_code != 0 ? raw.exception.error_code : nil,
                             injected: raw.exception.injected != 0)
        }
        set {
            raw.exception.injected = newValue?.injected == true ? 1 : 0
            raw.exception.pending = newValue.map { $0.injected ? 0 : 1 } ?? 0
            raw.exception.nr = newValue?.vector ?? 0
            raw.exception.has_error_code = newValue?.errorCode != nil ? 1 : 0
            raw.exception.error_code = newValue?.errorCode ?? 0
        }
    }

    /// An external interrupt vector being delivered.
    public var interrupt: UInt8? {
        get { raw.interrupt.injected != 0 ? raw.interrupt.nr : nil }
        set {
            raw.interrupt.injected = newValue != nil ? 1 : 0
            raw.interrupt.nr = newValue ?? 0
        }
    }

    /// The injected ``interrupt`` is a software interrupt (INT n), which delivery checks against the
    /// gate's DPL, rather than an external one.
    public var interruptIsSoftware: Bool {
        get { raw.interrupt.soft != 0 }
        set { raw.interrupt.soft = newValue ? 1 : 0 }
    }

    public var nmiPending: Bool {
        get { raw.nmi.pending != 0 }
        set { raw.nmi.pending = newValue ? 1 : 0 }
    }

    public var nmiInjected: Bool {
        get { raw.nmi.injected != 0 }
        set { raw.nmi.injected = newValue ? 1 : 0 }
    }

    public var nmiMasked: Bool {
        get { raw.nmi.masked != 0 }
        set { raw.nmi.masked = newValue ? 1 : 0 }
    }

    /// The STI/MOV SS interrupt shadow (`KVM_X86_SHADOW_INT_*`).
    public var interruptShadow: UInt8 {
        get { raw.interrupt.shadow }
        set { raw.interrupt.shadow = newValue }
    }

    /// Which fields KVM should apply on set (`KVM_VCPUEVENT_VALID_*`).
    public var flags: UInt32 {
        get { raw.flags }
        set { raw.flags = newValue }
    }
}

/// A vCPU's multiprocessing state (`KVM_MP_STATE_*`).
public enum MPState: UInt32, Sendable {
    case runnable = 0
    case uninitialized = 1
    case initReceived = 2
    case halted = 3
    case sipiReceived = 4
    case stopped = 5
    case checkStop = 6
    case operating = 7
    case load = 8
    case apResetHold = 9
    case suspended = 10
}

/// DR0–DR3, DR6 and DR7 (`struct kvm_debugregs`).
public struct DebugRegisters: Sendable, Equatable {
    /// DR0–DR3 (always four elements).
    public var db: [UInt64]
    public var dr6: UInt64
    public var dr7: UInt64

    public init(db: [UInt64] = [0, 0, 0, 0], dr6: UInt64, dr7: UInt64) {
        precondition(db.count == 4, "x86 has four breakpoint address registers")
        self.db = db; self.dr6 = dr6; self.dr7 = dr7
    }
}
