/// The Fixed ACPI Description Table (ACPI 6.5 §5.2.9), revision 6.5: the fixed hardware that
/// bhyve's pm.c implements (PM1a event and control blocks, PM timer, GPE0, SMI_CMD, the SCI, the
/// reset register at 0xCF9) and where the FACS and DSDT are.
public enum FADT {
    public static let signature = "FACP"
    public static let revision: UInt8 = 6
    public static let minorRevision: UInt8 = 5
    /// The full ACPI 6 layout, up to the hypervisor vendor identity.
    public static let length = 276

    /// CMOS index of the RTC century byte, as bhyve's vrtc keeps it.
    public static let centuryIndex: UInt8 = 0x32

    /// Worst-case C2/C3 latencies above 100 and 1000 µs say the states are not supported: the
    /// vCPUs have no P_BLK and halt is their only idle state.
    public static let c2Latency: UInt16 = 101
    public static let c3Latency: UInt16 = 1001

    /// IAPC_BOOT_ARCH: LPC devices (COM ports, RTC, PIT) exist; no 8042, so the OS does not probe
    /// ports 0x60/0x64; no VGA; the OS must not enable PCIe ASPM.
    public static let legacyDevices: UInt16 = 1 << 0
    public static let noVGA: UInt16 = 1 << 2
    public static let noASPM: UInt16 = 1 << 4
    public static let bootArchitecture: UInt16 = legacyDevices | noVGA | noASPM

    public static let wbinvd: UInt32 = 1 << 0
    public static let c1Supported: UInt32 = 1 << 2
    /// Set: no fixed-feature sleep button. The clear PWR_BUTTON bit (4) keeps the fixed-feature
    /// power button that PM1a's PWRBTN_STS implements.
    public static let sleepButtonIsControlMethod: UInt32 = 1 << 5
    /// The PM timer counts 32 bits (bhyve's vpmtmr).
    public static let timerValueExtended: UInt32 = 1 << 8
    public static let resetRegisterSupported: UInt32 = 1 << 10
    public static let headless: UInt32 = 1 << 12
    public static let forceAPICPhysicalDestination: UInt32 = 1 << 19
    public static let flags: UInt32 = wbinvd | c1Supported | sleepButtonIsControlMethod | timerValueExtended
        | resetRegisterSupported | headless | forceAPICPhysicalDestination

    /// The table for `acpi`'s fixed hardware, pointing at the FACS and DSDT.
    ///
    /// The FACS goes only in the 32-bit FIRMWARE_CTRL: the specification allows one of it and
    /// X_FIRMWARE_CTRL to be non-zero. The DSDT goes in both DSDT and X_DSDT, which it allows.
    public static func build(_ acpi: ACPIFixedHardware, facs: UInt32, dsdt: UInt32) -> [UInt8] {
        let pm1EventLength: UInt8 = 4
        let pm1ControlLength: UInt8 = 2
        let pmTimerLength: UInt8 = 4

        var body = ACPIBytes()
        body.u32(facs)
        body.u32(dsdt)
        body.u8(0)                                   // reserved (ACPI 1.0's INT_MODEL)
        body.u8(0)                                   // Preferred_PM_Profile: unspecified
        body.u16(UInt16(acpi.sciIRQ))
        body.u32(UInt32(acpi.smiCommandPort))
        body.u8(acpi.acpiEnable)
        body.u8(acpi.acpiDisable)
        body.u8(0)                                   // S4BIOS_REQ: no S4BIOS
        body.u8(0)                                   // PSTATE_CNT: no P-state control
        body.u32(UInt32(acpi.pm1aEventBlock))
        body.u32(0)                                  // PM1b_EVT_BLK
        body.u32(UInt32(acpi.pm1aControlBlock))
        body.u32(0)                                  // PM1b_CNT_BLK
        body.u32(0)                                  // PM2_CNT_BLK
        body.u32(UInt32(acpi.pmTimerBlock))
        body.u32(UInt32(acpi.gpe0Block))
        body.u32(0)                                  // GPE1_BLK
        body.u8(pm1EventLength)
        body.u8(pm1ControlLength)
        body.u8(0)                                   // PM2_CNT_LEN
        body.u8(pmTimerLength)
        body.u8(acpi.gpe0BlockLength)
        body.u8(0)                                   // GPE1_BLK_LEN
        body.u8(0)                                   // GPE1_BASE
        body.u8(0)                                   // CST_CNT: no _CST
        body.u16(c2Latency)
        body.u16(c3Latency)
        body.zeros(4)                                // FLUSH_SIZE, FLUSH_STRIDE: WBINVD works
        body.zeros(2)                                // DUTY_OFFSET, DUTY_WIDTH: no throttling
        body.zeros(2)                                // DAY_ALRM, MON_ALRM: no RTC alarm extensions
        body.u8(centuryIndex)
        body.u16(bootArchitecture)
        body.u8(0)
        body.u32(flags)
        body.gas(.io(acpi.resetPort, bits: 8, access: .byte))
        body.u8(acpi.resetValue)
        body.u16(0)                                  // ARM_BOOT_ARCH
        body.u8(minorRevision)
        body.u64(0)                                  // X_FIRMWARE_CTRL
        body.u64(UInt64(dsdt))
        body.gas(.io(acpi.pm1aEventBlock, bits: pm1EventLength * 8, access: .word))
        body.gas(.absent)                            // X_PM1b_EVT_BLK
        body.gas(.io(acpi.pm1aControlBlock, bits: pm1ControlLength * 8, access: .word))
        body.gas(.absent)                            // X_PM1b_CNT_BLK
        body.gas(.absent)                            // X_PM2_CNT_BLK
        body.gas(.io(acpi.pmTimerBlock, bits: pmTimerLength * 8, access: .dword))
        body.gas(.io(acpi.gpe0Block, bits: acpi.gpe0BlockLength * 8, access: .byte))
        body.gas(.absent)                            // X_GPE1_BLK
        body.gas(.absent)                            // SLEEP_CONTROL_REG: hardware-reduced only
        body.gas(.absent)                            // SLEEP_STATUS_REG: hardware-reduced only
        body.u64(0)                                  // hypervisor vendor identity
        let table = ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
        assert(table.count == length)
        return table
    }
}
