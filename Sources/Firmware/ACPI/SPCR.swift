/// The Serial Port Console Redirection table (Microsoft SPCR, revision 2): the serial port the
/// firmware's console uses, so that an OS can put its own console there without being told.
public enum SPCR {
    public static let signature = "SPCR"
    public static let revision: UInt8 = 2
    public static let length = 80

    /// Interface type 0: a full 16550-compatible UART.
    public static let interfaceType16550: UInt8 = 0
    /// The port's IRQ reaches both the 8259A and the I/O APIC, so either kind of OS can use it.
    public static let interruptType8259: UInt8 = 1 << 0
    public static let interruptTypeIOAPIC: UInt8 = 1 << 1
    /// Baud rate code 7: 115200, 8N1, as bhyve advertises.
    public static let baudRate115200: UInt8 = 7
    /// bhyve's flow control: DCD and RTS/CTS.
    public static let flowControl: UInt8 = 0b011
    public static let terminalTypeVTUTF8: UInt8 = 2
    /// PCI device and vendor ids for a port that is not a PCI device.
    public static let notPCI: UInt16 = 0xFFFF

    /// The table for `port`, whose IRQ reaches `ioapic` on the pin of the same number.
    public static func build(_ port: SerialPort, ioapic: IOAPICInfo) -> [UInt8] {
        var body = ACPIBytes()
        body.u8(interfaceType16550)
        body.zeros(3)
        body.gas(.io(port.port, bits: 8, access: .byte))
        body.u8(interruptType8259 | interruptTypeIOAPIC)
        body.u8(port.irq)
        body.u32(ioapic.gsiBase + UInt32(port.irq))
        body.u8(baudRate115200)
        body.u8(0)                                   // no parity
        body.u8(1)                                   // one stop bit
        body.u8(flowControl)
        body.u8(terminalTypeVTUTF8)
        body.u8(0)                                   // language: reserved
        body.u16(notPCI)
        body.u16(notPCI)
        body.zeros(3)                                // PCI bus, device, function
        body.u32(0)                                  // PCI flags
        body.u8(0)                                   // PCI segment
        body.zeros(4)
        return ACPITableHeader(signature: signature, revision: revision).table(body: body.bytes)
    }
}
