import Glibc
import KVM

/// The emulator's view of a stopped vCPU: its KVM registers (read once, written back by
/// ``apply()`` only if the emulation changed them), guest memory through its page tables with the
/// MMIO bus behind it, and its XSAVE state and XCR0 through KVM.
final class VCPUEmulationContext: EmulationContext {
    private let vcpu: KVMVCPU
    private let memory: GuestMemory
    private let mmio: MMIOBus
    private let xsaveSize: Int
    let extendedStateLayout: XSaveLayout

    var registers: Registers {
        didSet { registersChanged = true }
    }

    var specialRegisters: SpecialRegisters {
        didSet { specialRegistersChanged = true }
    }

    private var registersChanged = false
    private var specialRegistersChanged = false
    private var translationsInvalidated = false
    private var nmiUnblocked = false
    private var xsaveImage: [UInt8]?
    private var extendedControlRegisters: [UInt32: UInt64]?

    /// CR4.PGE: toggling it makes KVM drop every translation it caches for the guest.
    private static let cr4PGE: UInt64 = 1 << 7

    init(vcpu: KVMVCPU, memory: GuestMemory, mmio: MMIOBus, layout: XSaveLayout, xsaveSize: Int) throws(KVMError) {
        self.vcpu = vcpu
        self.memory = memory
        self.mmio = mmio
        self.xsaveSize = xsaveSize
        extendedStateLayout = layout
        registers = try vcpu.registers()
        specialRegisters = try vcpu.specialRegisters()
    }

    private var linearMemory: LinearMemory {
        LinearMemory(memory: memory, paging: GuestPaging(specialRegisters), mmio: mmio)
    }

    func read(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) -> [UInt8] {
        try linearMemory.read(address, count: count, for: access)
    }

    func checkAccess(linear address: UInt64, count: Int, for access: GuestPaging.Protection) throws(EmulationError) {
        try linearMemory.checkAccess(address, count: count, for: access)
    }

    func isRAM(linear address: UInt64, count: Int) throws(EmulationError) -> Bool {
        try linearMemory.isRAM(address, count: count)
    }

    func write(_ bytes: [UInt8], linear address: UInt64) throws(EmulationError) {
        try linearMemory.write(bytes, at: address)
    }

    func compareExchange(linear address: UInt64, expected: [UInt8], desired: [UInt8]) throws(EmulationError) -> [UInt8]? {
        try linearMemory.compareExchange(address, expected: expected, desired: desired)
    }

    func extendedControlRegister(_ index: UInt32) throws(EmulationError) -> UInt64? {
        if let extendedControlRegisters { return extendedControlRegisters[index] }
        let values = try kvm { () throws(KVMError) in try vcpu.extendedControlRegisters() }
        extendedControlRegisters = values
        return values[index]
    }

    func setExtendedControlRegister(_ index: UInt32, to value: UInt64) throws(EmulationError) -> Bool {
        do throws(KVMError) {
            try vcpu.setExtendedControlRegisters([index: value])
            extendedControlRegisters = nil
            return true
        } catch where error.errno == EINVAL {
            return false
        } catch {
            throw .hostFailure("\(error)")
        }
    }

    func extendedState() throws(EmulationError) -> [UInt8] {
        if let xsaveImage { return xsaveImage }
        let image = try kvm { () throws(KVMError) in try vcpu.xsave(size: xsaveSize) }
        xsaveImage = image
        return image
    }

    func setExtendedState(_ image: [UInt8]) throws(EmulationError) {
        do throws(KVMError) {
            try vcpu.setXSave(image)
        } catch where error.errno == EINVAL {
            // KVM refuses images with state the guest may not have; XRSTOR would #GP on those.
            throw .exception(.generalProtection())
        } catch {
            throw .hostFailure("\(error)")
        }
        xsaveImage = image
    }

    func modelSpecificRegister(_ index: UInt32) throws(EmulationError) -> UInt64? {
        try kvm { () throws(KVMError) in try vcpu.msrs([index])[index] }
    }

    func invalidateTranslations() throws(EmulationError) {
        translationsInvalidated = true
    }

    func endNMIBlocking() throws(EmulationError) {
        nmiUnblocked = true
    }

    /// Writes back to KVM what the emulation changed.
    func apply() throws(KVMError) {
        if registersChanged { try vcpu.setRegisters(registers) }
        if specialRegistersChanged { try vcpu.setSpecialRegisters(specialRegisters) }
        if translationsInvalidated {
            // KVM_SET_SREGS resets the vCPU's MMU context whenever CR4 changes; there is no ioctl
            // that only flushes, so CR4.PGE goes off and back on.
            var toggled = specialRegisters
            toggled.cr4 ^= Self.cr4PGE
            try vcpu.setSpecialRegisters(toggled)
            try vcpu.setSpecialRegisters(specialRegisters)
        }
        if nmiUnblocked {
            var events = try vcpu.events()
            if events.nmiMasked {
                events.nmiMasked = false
                try vcpu.setEvents(events)
            }
        }
    }

    private func kvm<T>(_ body: () throws(KVMError) -> T) throws(EmulationError) -> T {
        do throws(KVMError) {
            return try body()
        } catch {
            throw .hostFailure("\(error)")
        }
    }
}
