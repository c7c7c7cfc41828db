import Firmware
import VMM

/// The firmware tables a guest finds in the BIOS area: the MP table, SMBIOS and ACPI, built from
/// the machine's platform description and written into guest RAM at every boot (the guest owns
/// that RAM and may have overwritten them before a reset).
struct FirmwareImage: Sendable {
    let blobs: [FirmwareBlob]

    init(_ platform: PlatformDescription) throws {
        blobs = [
            MPTable.build(platform),
            SMBIOS.build(platform),
            ACPITables.build(platform, dsdt: DSDT.build(platform)),
        ]
        // Each table family has its own window in the BIOS area; a machine too large for one
        // (hundreds of vCPUs) must fail here rather than overwrite the next family.
        let limits = [FirmwareLayout.smbios, FirmwareLayout.acpi, FirmwareLayout.end]
        for (blob, limit) in zip(blobs, limits) where blob.address + UInt64(blob.bytes.count) > limit {
            throw HyveError("the firmware tables for \(platform.cpus) vCPUs do not fit below 0x\(String(limit, radix: 16))")
        }
    }

    func write(to memory: GuestMemory) throws {
        for blob in blobs { try memory.write(blob.bytes, at: blob.address) }
    }
}
