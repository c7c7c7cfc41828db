import Devices
import VMM

/// One `-s` option, as bhyve's `pci_parse_slot` reads it: `slot,emulation[,conf]`,
/// `slot:function,emulation[,conf]` or `bus:slot:function,emulation[,conf]`, in decimal; `conf` is
/// a comma-separated list of `name=value` options. Hyve has bus 0 only.
public struct PCISlotSpec: Sendable, Equatable {
    /// The device models `-s` can name.
    public enum Emulation: String, Sendable, CaseIterable {
        case hostbridge
        case amdHostbridge = "amd_hostbridge"
        case lpc
        case pciTestdev = "pci-testdev"

        /// The `pcireg.*` options the emulation reads, as bhyve's models do.
        var registerOptions: [IdentityOverrides.Register] {
            switch self {
            case .hostbridge: [.vendor, .device]
            case .lpc: IdentityOverrides.Register.allCases
            case .amdHostbridge, .pciTestdev: []
            }
        }
    }

    /// Identity registers given with `pcireg.vendor=`, `pcireg.device=`, `pcireg.revid=`,
    /// `pcireg.subvendor=` and `pcireg.subdevice=` (hexadecimal, as bhyve reads them).
    public struct IdentityOverrides: Sendable, Equatable {
        public var vendorID: UInt16?
        public var deviceID: UInt16?
        public var revisionID: UInt8?
        public var subsystemVendorID: UInt16?
        public var subsystemID: UInt16?

        public init() {}

        enum Register: String, CaseIterable {
            case vendor, device, revid, subvendor, subdevice

            var bits: Int { self == .revid ? 8 : 16 }
        }

        mutating func set(_ register: Register, _ value: Int) {
            switch register {
            case .vendor: vendorID = UInt16(value)
            case .device: deviceID = UInt16(value)
            case .revid: revisionID = UInt8(value)
            case .subvendor: subsystemVendorID = UInt16(value)
            case .subdevice: subsystemID = UInt16(value)
            }
        }

        /// `identity` with the overrides applied.
        public func applied(to identity: PCIIdentity) -> PCIIdentity {
            var identity = identity
            identity.vendorID = vendorID ?? identity.vendorID
            identity.deviceID = deviceID ?? identity.deviceID
            identity.revisionID = revisionID ?? identity.revisionID
            identity.subsystemVendorID = subsystemVendorID ?? identity.subsystemVendorID
            identity.subsystemID = subsystemID ?? identity.subsystemID
            return identity
        }
    }

    /// Always 0 once parsed.
    public var bus: Int
    public var slot: Int
    public var function: Int
    public var emulation: Emulation
    /// `pcireg.*` options.
    public var identity: IdentityOverrides

    public init(bus: Int = 0, slot: Int, function: Int = 0, emulation: Emulation, identity: IdentityOverrides = .init()) {
        self.bus = bus
        self.slot = slot
        self.function = function
        self.emulation = emulation
        self.identity = identity
    }

    // MARK: Parsing

    /// Parses every `-s` option; a slot and function given twice, or a second LPC bridge, is an
    /// error.
    public static func parse(_ specs: [String]) throws(HyveError) -> [PCISlotSpec] {
        var parsed: [PCISlotSpec] = []
        for text in specs {
            let spec = try parse(text)
            if parsed.contains(where: { ($0.bus, $0.slot, $0.function) == (spec.bus, spec.slot, spec.function) }) {
                throw HyveError("PCI slot \(spec.bus):\(spec.slot):\(spec.function) is already occupied ('\(text)')")
            }
            if spec.emulation == .lpc, parsed.contains(where: { $0.emulation == .lpc }) {
                throw HyveError("only one LPC bridge is allowed ('\(text)')")
            }
            parsed.append(spec)
        }
        return parsed
    }

    /// Parses every `-s` option over functions already configured (by a configuration file): an
    /// option replaces the function at its address, and the result may still have one LPC bridge.
    public static func parse(_ specs: [String], over base: [PCISlotSpec]) throws(HyveError) -> [PCISlotSpec] {
        let parsed = try parse(specs)
        let kept = base.filter { old in !parsed.contains { ($0.bus, $0.slot, $0.function) == (old.bus, old.slot, old.function) } }
        if let lpc = parsed.first(where: { $0.emulation == .lpc }), kept.contains(where: { $0.emulation == .lpc }) {
            throw HyveError("only one LPC bridge is allowed ('\(specs[parsed.firstIndex(of: lpc)!])')")
        }
        return kept + parsed
    }

    /// Parses one `-s` option.
    public static func parse(_ text: String) throws(HyveError) -> PCISlotSpec {
        let fields = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        let numbers = fields[0].split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count >= 2, numbers.count <= 3 else {
            throw HyveError(
                "invalid PCI slot '\(text)' (expected slot[:function],emulation[,conf] or bus:slot:function,emulation[,conf])")
        }
        var values: [Int] = []
        for number in numbers {
            guard !number.isEmpty, number.count <= 9, number.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(number) else {
                throw HyveError("invalid PCI slot '\(text)': '\(number)' is not a decimal number")
            }
            values.append(value)
        }
        let (bus, slot, function) = switch values.count {
        case 3: (values[0], values[1], values[2])
        case 2: (0, values[0], values[1])
        default: (0, values[0], 0)
        }
        guard slot < PCIBus.slotCount else { throw HyveError("PCI slot \(slot) out of range (0-31) in '\(text)'") }
        guard function < PCIBus.functionCount else {
            throw HyveError("PCI function \(function) out of range (0-7) in '\(text)'")
        }
        guard bus <= 255 else { throw HyveError("PCI bus \(bus) out of range (0-255) in '\(text)'") }
        let name = String(fields[1])
        guard let emulation = Emulation(rawValue: name) else { throw HyveError("unknown PCI emulation '\(name)'") }
        guard bus == 0 else {
            if emulation == .lpc { throw HyveError("the LPC bridge can be present only on bus 0 ('\(text)')") }
            throw HyveError("PCI bus \(bus) is not supported: Hyve has only bus 0 ('\(text)')")
        }
        var spec = PCISlotSpec(bus: bus, slot: slot, function: function, emulation: emulation)
        if fields.count == 3 { try spec.parseOptions(String(fields[2])) }
        return spec
    }

    private mutating func parseOptions(_ conf: String) throws(HyveError) {
        for option in conf.split(separator: ",") {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard name.hasPrefix("pcireg."),
                  let register = IdentityOverrides.Register(rawValue: String(name.dropFirst("pcireg.".count))),
                  emulation.registerOptions.contains(register) else {
                throw HyveError("unknown option '\(name)' for PCI emulation '\(emulation.rawValue)'")
            }
            guard parts.count == 2 else { throw HyveError("option '\(name)' needs a value") }
            let text = parts[1]
            guard text != "host" else {
                throw HyveError("\(name)=host is not supported: Hyve does not read the host's PCI devices")
            }
            let digits = text.hasPrefix("0x") || text.hasPrefix("0X") ? text.dropFirst(2) : text[...]
            guard !digits.isEmpty, digits.count <= register.bits / 4, let value = Int(digits, radix: 16) else {
                let width = register.bits == 8 ? "an 8-bit" : "a 16-bit"
                throw HyveError("invalid value '\(text)' for \(name) (expected \(width) hexadecimal number)")
            }
            identity.set(register, value)
        }
    }

    // MARK: Building

    /// Makes the device model the option names, for `bus`.
    public func makeFunction(for bus: PCIBus) throws(HyveError) -> any PCIFunction {
        switch emulation {
        case .hostbridge:
            let defaults = PCIIdentity(vendorID: PCIHostBridge.defaultVendorID, deviceID: PCIHostBridge.defaultDeviceID,
                                       classCode: PCIHostBridge.classCode)
            let identity = self.identity.applied(to: defaults)
            return PCIHostBridge(vendorID: identity.vendorID, deviceID: identity.deviceID)
        case .amdHostbridge:
            return PCIHostBridge.amd()
        case .lpc:
            let defaults = PCIIdentity(vendorID: LPCBridge.vendorID, deviceID: LPCBridge.deviceID,
                                       classCode: LPCBridge.classCode)
            do {
                return try LPCBridge(routing: bus.routing, identity: identity.applied(to: defaults))
            } catch {
                throw HyveError(error.description)
            }
        case .pciTestdev:
            return PCITestDevice()
        }
    }

    /// bhyve's customary platform: `-s 0,hostbridge -s 31,lpc`.
    public static let defaults = [
        PCISlotSpec(slot: 0, emulation: .hostbridge),
        PCISlotSpec(slot: 31, emulation: .lpc),
    ]

    /// Makes the device model of every option and adds it to `bus`.
    public static func populate(_ bus: PCIBus, with specs: [PCISlotSpec]) throws(HyveError) {
        for spec in specs {
            let device = try spec.makeFunction(for: bus)
            do {
                try bus.add(device, slot: spec.slot, function: spec.function)
            } catch {
                throw HyveError(error.description)
            }
        }
    }

    /// Builds bus 0 for `vm` from `specs` and attaches it; its ``PCIBus/interruptRoutes`` then
    /// describe the INTx wiring for the firmware tables.
    public static func buildBus(_ specs: [PCISlotSpec], for vm: VirtualMachine) throws -> PCIBus {
        let bus = PCIBus(for: vm)
        try populate(bus, with: specs)
        do {
            try bus.attach(to: vm)
        } catch {
            throw HyveError("cannot attach the PCI bus: \(error)")
        }
        return bus
    }
}
