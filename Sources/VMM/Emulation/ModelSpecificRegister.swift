/// The MSRs the emulator reads.
public enum ModelSpecificRegister {
    /// IA32_TIME_STAMP_COUNTER.
    public static let timeStampCounter: UInt32 = 0x10
    /// IA32_XSS: the supervisor state components XSAVES and XRSTORS manage.
    public static let extendedSupervisorState: UInt32 = 0xDA0
    /// IA32_TSC_AUX: what RDTSCP returns in ECX.
    public static let timeStampCounterAux: UInt32 = 0xC000_0103
}
