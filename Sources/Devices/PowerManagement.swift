import Synchronization
import VMM

/// bhyve's ACPI fixed hardware (amd64/pm.c): the PM1a event block at 0x400 (status and enable),
/// the PM1a control block at 0x404, SMI_CMD at 0xB2 for the ACPI enable handshake, and the SCI on
/// IRQ 9, level-triggered. Sleeping in S5 (SLP_TYP 5 with SLP_EN) powers the machine off; the
/// power button (SIGTERM to `hyve`) raises an SCI so that the guest can shut down by itself.
public final class PowerManagement: PortIODevice {
    public static let eventBlockPort: UInt16 = 0x400
    public static let controlBlockPort: UInt16 = 0x404
    public static let smiCommandPort: UInt16 = 0xB2
    /// The values written to SMI_CMD to hand the fixed hardware to and from the ACPI OS.
    public static let acpiEnable: UInt8 = 0xA0
    public static let acpiDisable: UInt8 = 0xA1
    public static let sciIRQ = 9

    static let timerStatus: UInt16 = 1 << 0
    static let globalStatus: UInt16 = 1 << 5
    static let powerButtonStatus: UInt16 = 1 << 8
    static let rtcStatus: UInt16 = 1 << 10
    /// Status bits that can raise an SCI; the matching enable bits sit at the same positions.
    static let eventBits: UInt16 = timerStatus | globalStatus | powerButtonStatus | rtcStatus
    static let sciEnable: UInt16 = 1 << 0
    static let sleepEnable: UInt16 = 1 << 13
    static let softOff: UInt16 = 5

    private struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = 0
        var sciAsserted = false
    }

    private let state = Mutex(State())
    private let lines: any InterruptLines
    private let onPowerOff: @Sendable () -> Void

    public init(lines: any InterruptLines, onPowerOff: @escaping @Sendable () -> Void) {
        self.lines = lines
        self.onPowerOff = onPowerOff
    }

    /// Claims the device's ports, makes IRQ 9 level-triggered in the ELCR (the 8259A keeps that
    /// setting across re-init) and resets the device with the VM.
    public func attach(to vm: VirtualMachine) throws {
        try vm.ports.register(self, ports: Self.eventBlockPort, count: 4, label: "PM1a event block")
        try vm.ports.register(self, ports: Self.controlBlockPort, count: 2, label: "PM1a control block")
        try vm.ports.register(self, ports: Self.smiCommandPort, count: 1, label: "SMI_CMD")
        try vm.interrupts.setISATriggerMode(Self.sciIRQ, level: true)
        vm.onReinitialize { [weak self] in self?.reset() }
    }

    /// Presses the power button. A guest that has taken over ACPI (SCI_EN) gets an SCI and shuts
    /// down in its own time; one that has not could never see the button, so the machine powers off.
    public func pressPowerButton() {
        let acpiEnabled = state.withLock { state -> Bool in
            state.status |= Self.powerButtonStatus
            updateSCI(&state)
            return state.control & Self.sciEnable != 0
        }
        if !acpiEnabled { onPowerOff() }
    }

    /// Power-on state: ACPI disabled, no events, SCI low.
    public func reset() {
        state.withLock { state in
            state.status = 0
            state.enable = 0
            state.control = 0
            updateSCI(&state)
        }
    }

    public func portRead(_ port: UInt16, size: Int) -> UInt32 {
        state.withLock { state in
            switch port {
            case Self.eventBlockPort...Self.eventBlockPort + 3:
                let block = UInt32(state.status) | UInt32(state.enable) << 16
                return Self.extract(block, offset: Int(port - Self.eventBlockPort), size: size)
            case Self.controlBlockPort...Self.controlBlockPort + 1:
                // SLP_EN is write-only and reads as zero.
                let control = UInt32(state.control & ~Self.sleepEnable)
                return Self.extract(control, offset: Int(port - Self.controlBlockPort), size: size)
            default:
                return 0
            }
        }
    }

    public func portWrite(_ port: UInt16, size: Int, value: UInt32) {
        let powerOff = state.withLock { state -> Bool in
            switch port {
            case Self.eventBlockPort...Self.eventBlockPort + 3:
                let offset = Int(port - Self.eventBlockPort)
                let old = UInt32(state.status) | UInt32(state.enable) << 16
                let merged = Self.insert(value, into: old, offset: offset, size: size)
                let written = Self.insert(value, into: 0, offset: offset, size: size)
                // Status bits are write-1-to-clear; enable bits are plain read/write.
                state.status &= ~UInt16(truncatingIfNeeded: written)
                state.enable = UInt16(truncatingIfNeeded: merged >> 16) & Self.eventBits
                updateSCI(&state)
                return false
            case Self.controlBlockPort...Self.controlBlockPort + 1:
                let merged = Self.insert(value, into: UInt32(state.control), offset: Int(port - Self.controlBlockPort), size: size)
                let control = UInt16(truncatingIfNeeded: merged)
                state.control = control & ~Self.sleepEnable
                updateSCI(&state)
                return control & Self.sleepEnable != 0 && (control >> 10) & 7 == Self.softOff
            case Self.smiCommandPort:
                switch UInt8(truncatingIfNeeded: value) {
                case Self.acpiEnable: state.control |= Self.sciEnable
                case Self.acpiDisable: state.control &= ~Self.sciEnable
                default: break
                }
                updateSCI(&state)
                return false
            default:
                return false
            }
        }
        if powerOff { onPowerOff() }
    }

    /// The SCI is a level: high while ACPI is enabled and an enabled event is pending.
    private func updateSCI(_ state: inout State) {
        let wanted = state.control & Self.sciEnable != 0 && state.status & state.enable & Self.eventBits != 0
        guard wanted != state.sciAsserted else { return }
        state.sciAsserted = wanted
        if wanted {
            lines.isaAssert(Self.sciIRQ, ioapicPin: Self.sciIRQ)
        } else {
            lines.isaDeassert(Self.sciIRQ, ioapicPin: Self.sciIRQ)
        }
    }

    private static func extract(_ register: UInt32, offset: Int, size: Int) -> UInt32 {
        let shifted = register >> (8 * UInt32(offset))
        return size >= 4 ? shifted : shifted & ((1 << (8 * UInt32(size))) - 1)
    }

    private static func insert(_ value: UInt32, into register: UInt32, offset: Int, size: Int) -> UInt32 {
        let width = min(size, 4 - offset)
        let mask: UInt32 = (width >= 4 ? UInt32.max : (1 << (8 * UInt32(width))) - 1) << (8 * UInt32(offset))
        return (register & ~mask) | ((value << (8 * UInt32(offset))) & mask)
    }
}
