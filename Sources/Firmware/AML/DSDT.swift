/// The Differentiated System Description Table: the namespace bhyve's acpi.c, pci_emul.c,
/// pci_lpc.c, pci_irq.c and rtc.c describe, encoded straight to AML rather than written as ASL
/// and compiled with iasl.
///
/// ```
/// \_S5, \PICM, \_PIC
/// \_SB.PC00            PCI root bridge: _CRS windows, PPRT/APRT and _PRT
/// \_SB.PC00.ISA        LPC bridge: PIRQ routing bytes, PIRV, LNKA–LNKH,
///                      SIO (motherboard resources), COMn, PIC, TIMR, RTC, HPET, FWCF
/// ```
public enum DSDT {
    /// Revision 2: 64-bit AML integers, as bhyve's DSDT declares.
    public static let revision: UInt8 = 2

    /// The LPC bridge's `_ADR`: device 31, function 0, where bhyve guests conventionally put
    /// it (`-s 31,lpc`) and where ICH chipsets have it.
    public static let lpcBridgeAddress: UInt64 = 0x001F_0000

    /// The complete table: Hyve's standard header (OEM "HYVE  ", table id "HVDSDT  ", where
    /// bhyve has "BHYVE " and "BVDSDT  ") and the AML.
    public static func build(_ platform: PlatformDescription) -> [UInt8] {
        ACPITableHeader(signature: "DSDT", revision: revision).table(body: body(platform))
    }

    /// The AML after the header.
    public static func body(_ platform: PlatformDescription) -> [UInt8] {
        terms(platform).flatMap(\.bytes)
    }

    private static func terms(_ platform: PlatformDescription) -> [AML] {
        let sleepType = AML.integer(UInt64(platform.acpi.softOffSleepType))
        return [
            AML.name("_S5", .package([sleepType, sleepType, 0, 0])),
            // The OS reports through _PIC whether it routes through the I/O APIC (1) or the
            // 8259A pair (0); _PRT answers accordingly.
            AML.name("PICM", 0),
            AML.method("_PIC", arguments: 1) {
                AML.store(.arg(0), into: .path("PICM"))
            },
            AML.scope("\\_SB") {
                rootBridge(platform)
            },
        ]
    }

    // MARK: - PCI root bridge

    private static let rootBridgeName: AMLName = "PC00"
    private static let lpcBridgeName: AMLName = "ISA"
    /// Where `_PRT`'s PIC-mode entries find the link devices.
    private static let lpcBridgePath = "\\_SB.\(rootBridgeName).\(lpcBridgeName)"

    /// CONFIG_ADDRESS/CONFIG_DATA, which the root bridge itself consumes.
    private static let pciConfigPorts: UInt16 = 0xCF8
    private static let pciConfigPortsLength: UInt8 = 8
    /// The legacy I/O bus 0 forwards below the PCI I/O BAR window, around the config ports.
    private static let legacyIOBelowConfigPorts: ClosedRange<UInt16> = 0x0000...0x0CF7
    private static let legacyIOAboveConfigPorts: UInt16 = 0x0D00

    private static func rootBridge(_ platform: PlatformDescription) -> AML {
        let routes = interruptRoutes(platform)
        return AML.device(rootBridgeName) {
            // No _ADR: a device names itself by _HID or _ADR, never both.
            AML.name("_HID", .eisaID("PNP0A03"))
            AML.name("_UID", 0)
            AML.name("_BBN", 0)
            AML.name("_CRS", .resourceTemplate(rootBridgeResources(platform)))
            if !routes.isEmpty {
                AML.name("PPRT", .package(routes.map { picRoutingEntry($0, platform) }))
                AML.name("APRT", .package(routes.map(apicRoutingEntry)))
                AML.method("_PRT") {
                    AML.if(.path("PICM")) {
                        AML.return(.path("APRT"))
                    }
                    AML.return(.path("PPRT"))
                }
            }
            lpcBridge(platform)
        }
    }

    private static func rootBridgeResources(_ platform: PlatformDescription) -> [ResourceDescriptor] {
        let ioWindow = platform.pciIOWindow
        precondition(ioWindow.lowerBound >= legacyIOAboveConfigPorts, "the PCI I/O window overlaps the legacy ports")
        var resources: [ResourceDescriptor] = [
            .wordBusNumber(0...0),
            .io(pciConfigPorts, length: pciConfigPortsLength),
            .wordIO(legacyIOBelowConfigPorts),
        ]
        if ioWindow.lowerBound > legacyIOAboveConfigPorts {
            resources.append(.wordIO(legacyIOAboveConfigPorts...(ioWindow.lowerBound - 1)))
        }
        resources.append(.wordIO(ioWindow))
        let mmio32 = platform.pciMMIO32Window
        precondition(mmio32.upperBound <= UInt64(UInt32.max), "the 32-bit PCI window ends above 4 GiB")
        resources.append(.dwordMemory(UInt32(mmio32.lowerBound)...UInt32(mmio32.upperBound)))
        if let mmio64 = platform.pciMMIO64Window {
            resources.append(.qwordMemory(mmio64))
        }
        return resources
    }

    /// One route per slot and pin, in slot then pin order: `_PRT` describes a slot's pins, and
    /// the functions of a slot that share a pin share its route.
    private static func interruptRoutes(_ platform: PlatformDescription) -> [PCIInterruptRoute] {
        var seen = Set<[Int]>()
        return platform.pciInterrupts
            .sorted { ($0.slot, $0.pin) < ($1.slot, $1.pin) }
            .filter { seen.insert([$0.slot, $0.pin]).inserted }
    }

    /// `_PRT` addresses a whole device: its number in the high word, 0xFFFF for any function.
    private static func prtAddress(_ route: PCIInterruptRoute) -> AML {
        .integer(UInt64(route.slot) << 16 | 0xFFFF)
    }

    private static func apicRoutingEntry(_ route: PCIInterruptRoute) -> AML {
        .package([prtAddress(route), .integer(UInt64(route.pin)), 0, .integer(UInt64(route.ioapicPin))])
    }

    private static func picRoutingEntry(_ route: PCIInterruptRoute, _ platform: PlatformDescription) -> AML {
        let link = name(lpcBridgePath + "." + platform.pirqLinks[route.link].name)
        return .package([prtAddress(route), .integer(UInt64(route.pin)), .path(link), 0])
    }

    // MARK: - LPC bridge

    /// The PIRQ routing bytes' region: from the first link's config byte to the last.
    private static let pirqRegion: AMLName = "PIRQ"
    /// PIRQ register bit 7: routing disabled.
    private static let pirqDisabled: UInt64 = 0x80
    /// PIRQ register bits 0–3: the ISA IRQ.
    private static let pirqIRQMask: UInt64 = 0x0F

    /// `_STA` values: present, decoding and functioning, with or without "enabled".
    private static let linkEnabled: UInt64 = 0x0B
    private static let linkDisabled: UInt64 = 0x09

    private static func lpcBridge(_ platform: PlatformDescription) -> AML {
        let links = platform.pirqLinks
        let regionStart = links.map(\.configOffset).min() ?? 0
        let regionEnd = links.map(\.configOffset).max() ?? 0
        let fields: [AMLFieldUnit] = links.enumerated()
            .sorted { $0.element.configOffset < $1.element.configOffset }
            .flatMap { index, link in
                [.offset(Int(link.configOffset - regionStart)), .named(pirqField(index), bits: 8)]
            }
        return AML.device(lpcBridgeName) {
            AML.name("_ADR", .integer(lpcBridgeAddress))
            if !links.isEmpty {
                AML.operationRegion(pirqRegion, space: .pciConfig, offset: .integer(UInt64(regionStart)),
                                    length: .integer(UInt64(regionEnd - regionStart) + 1))
                AML.field(pirqRegion, access: .any, lock: false, update: .preserve, fields)
                pirqValidMethod()
            }
            for (index, link) in links.enumerated() {
                linkDevice(link, uid: index + 1, field: pirqField(index))
            }
            motherboardResources(platform)
            for (index, port) in platform.serialPorts.enumerated() {
                serialPort(port, index: index)
            }
            isaDevice("PIC", hid: "PNP0000", [.io(0x20, length: 2), .io(0xA0, length: 2), .irqNoFlags([2])])
            isaDevice("TIMR", hid: "PNP0100", [.io(0x40, length: 4), .irqNoFlags([0])])
            isaDevice("RTC", hid: "PNP0B00", [.io(0x70, length: 2), .irqNoFlags([8])])
            if let hpet = platform.hpet {
                hpetDevice(hpet)
            }
            if let fwCfg = platform.fwCfg {
                fwCfgDevice(fwCfg)
            }
        }
    }

    /// PIRA for the first link, PIRB for the second, …
    private static func pirqField(_ index: Int) -> AMLName {
        precondition(index < 26, "more PIRQ links than letters")
        return name("PIR" + String(UnicodeScalar(UInt8(ascii: "A") + UInt8(index))))
    }

    /// `PIRV (value)`: 1 when a PIRQ byte routes to an IRQ the router can drive — bit 7 clear
    /// and the IRQ in the permitted set — as bhyve's `pirq_valid_irq()` decides.
    private static func pirqValidMethod() -> AML {
        let permitted = PIRQLink.possibleIRQs.reduce(UInt64(0)) { $0 | 1 << $1 }
        return AML.method("PIRV", arguments: 1) {
            AML.if(.and(.arg(0), .integer(pirqDisabled))) {
                AML.return(0)
            }
            AML.return(.and(.shiftRight(.integer(permitted), by: .and(.arg(0), .integer(pirqIRQMask))), 1))
        }
    }

    /// A PCI interrupt link (PNP0C0F) over one PIRQ byte of the LPC bridge. Its methods read and
    /// write that byte, so the guest's choice steers the router.
    private static func linkDevice(_ link: PIRQLink, uid: Int, field: AMLName) -> AML {
        let pirq = AML.path(field)
        let anyIRQ = ResourceDescriptor.irq(PIRQLink.possibleIRQs, trigger: .level, polarity: .activeLow, shared: true)
        let noIRQ = ResourceDescriptor.irq([], trigger: .level, polarity: .activeLow, shared: true)
        return AML.device(name(link.name)) {
            AML.name("_HID", .eisaID("PNP0C0F"))
            AML.name("_UID", .integer(UInt64(uid)))
            AML.method("_STA") {
                AML.if(.call("PIRV", pirq)) {
                    AML.return(.integer(linkEnabled))
                }
                AML.return(.integer(linkDisabled))
            }
            AML.name("_PRS", .resourceTemplate([anyIRQ]))
            // _CRS hands back this template with its IRQ mask (bytes 1–2) filled in.
            AML.name("CRSB", .resourceTemplate([noIRQ]))
            AML.createWordField(.path("CRSB"), byteIndex: 1, "CRSM")
            AML.method("_CRS") {
                AML.if(.call("PIRV", pirq)) {
                    AML.shiftLeft(1, by: .and(pirq, .integer(pirqIRQMask)), into: .path("CRSM"))
                } else: {
                    AML.store(0, into: .path("CRSM"))
                }
                AML.return(.path("CRSB"))
            }
            AML.method("_DIS") {
                AML.or(pirq, .integer(pirqDisabled), into: pirq)
            }
            // An empty mask finds no bit: 0 - 1 stores 0xFF, which has bit 7 set and disables.
            AML.method("_SRS", arguments: 1, serialized: true) {
                AML.createWordField(.arg(0), byteIndex: 1, "SRSM")
                AML.findSetRightBit(.path("SRSM"), into: .local(0))
                AML.subtract(.local(0), 1, into: pirq)
            }
        }
    }

    // MARK: - ISA devices

    /// Ports 0x72–0x77 are the RTC's extended bank, which bhyve reserves without emulating.
    private static let rtcExtendedPorts: UInt16 = 0x72
    private static let rtcExtendedPortsLength: UInt8 = 6
    private static let nmiStatusPort: UInt16 = 0x61
    private static let elcrPort: UInt16 = 0x4D0
    /// PCI Express ECAM covers 1 MiB per bus, 256 buses.
    private static let ecamLength: UInt32 = 0x1000_0000
    private static let uartPortLength: UInt8 = 8
    private static let hpetRegisterLength: UInt32 = 0x400

    /// The motherboard resources (PNP0C02) no other device claims, so the OS leaves them out of
    /// what it assigns to PCI devices: bhyve's SYSRES list.
    private static func motherboardResources(_ platform: PlatformDescription) -> AML {
        let acpi = platform.acpi
        var resources: [ResourceDescriptor] = [
            .io(elcrPort, length: 2),
            .io(nmiStatusPort, length: 1),
            .io(rtcExtendedPorts, length: rtcExtendedPortsLength),
            .io(acpi.smiCommandPort, length: 1),
            .io(acpi.pm1aEventBlock, length: 4),
            .io(acpi.pm1aControlBlock, length: 2),
            .io(acpi.pmTimerBlock, length: 4),
            .io(acpi.gpe0Block, length: acpi.gpe0BlockLength),
        ]
        // The root bridge already consumes 0xCF8–0xCFF; claiming the reset port inside it twice
        // only makes the OS report a conflict.
        let configPorts = pciConfigPorts..<(pciConfigPorts + UInt16(pciConfigPortsLength))
        if !configPorts.contains(acpi.resetPort) {
            resources.append(.io(acpi.resetPort, length: 1))
        }
        precondition(platform.ecamBase + UInt64(ecamLength) <= UInt64(UInt32.max) + 1, "ECAM above 4 GiB")
        resources.append(.memory32Fixed(UInt32(platform.ecamBase), length: ecamLength))
        return isaDevice("SIO", hid: "PNP0C02", resources)
    }

    private static func serialPort(_ port: SerialPort, index: Int) -> AML {
        let deviceName = AMLName(path: port.name.uppercased()) ?? name("COM\(index + 1)")
        return AML.device(deviceName) {
            AML.name("_HID", .eisaID("PNP0501"))
            AML.name("_UID", .integer(UInt64(index + 1)))
            AML.name("_CRS", .resourceTemplate([.io(port.port, length: uartPortLength), .irqNoFlags([port.irq])]))
        }
    }

    private static func hpetDevice(_ hpet: HPETInfo) -> AML {
        precondition(hpet.address <= UInt64(UInt32.max), "HPET above 4 GiB")
        return AML.device("HPET") {
            AML.name("_HID", .eisaID("PNP0103"))
            AML.name("_UID", 0)
            AML.name("_CRS", .resourceTemplate([.memory32Fixed(UInt32(hpet.address), length: hpetRegisterLength)]))
        }
    }

    /// QEMU's fw_cfg as QEMU and bhyve describe it: `_HID` "QEMU0002", present but hidden from
    /// user interfaces (`_STA` 0xB), and its ports.
    private static func fwCfgDevice(_ fwCfg: FwCfgPorts) -> AML {
        AML.device("FWCF") {
            AML.name("_HID", .string("QEMU0002"))
            AML.name("_STA", .integer(0x0B))
            AML.name("_CRS", .resourceTemplate([.io(fwCfg.base, length: fwCfg.count)]))
        }
    }

    private static func name(_ path: String) -> AMLName {
        guard let name = AMLName(path: path) else { preconditionFailure("\(path) is not an ACPI name") }
        return name
    }

    private static func isaDevice(_ name: AMLName, hid: String, _ resources: [ResourceDescriptor]) -> AML {
        AML.device(name) {
            AML.name("_HID", .eisaID(hid))
            AML.name("_CRS", .resourceTemplate(resources))
        }
    }
}
