import Testing
import VMM

@Suite struct MSIMessageTests {
    @Test func fieldsRoundTripThroughAddressAndData() {
        let message = MSIMessage(vector: 0x41, deliveryMode: .lowestPriority, levelTriggered: true,
                                 destination: 0x23, logical: true, redirectionHint: true)
        #expect(message.address == 0xFEE2_300C)
        #expect(message.data == 0xC141)
        #expect(message.vector == 0x41)
        #expect(message.deliveryMode == .lowestPriority)
        #expect(message.levelTriggered)
        #expect(message.destination == 0x23 && message.logicalDestination && message.redirectionHint)
        #expect(message.isWellFormed)
    }

    @Test func addressOutsideTheAPICWindowIsNotWellFormed() {
        #expect(!MSIMessage(address: 0xFED0_0000, data: 0x30).isWellFormed)
    }

    @Test func physicalDestinationsMatchOneIDOrBroadcast() {
        let one = MSIMessage(vector: 0x30, destination: 2)
        #expect(one.targets(apicID: 2, logicalID: 0, clusterModel: false))
        #expect(!one.targets(apicID: 3, logicalID: 0xFF, clusterModel: false))
        let all = MSIMessage(vector: 0x30, destination: 0xFF)
        #expect(all.targets(apicID: 7, logicalID: 0, clusterModel: false))
    }

    @Test func logicalFlatDestinationsAreBitMasks() {
        let message = MSIMessage(vector: 0x30, destination: 0b0000_0110, logical: true)
        #expect(message.targets(apicID: 9, logicalID: 0b0000_0010, clusterModel: false))
        #expect(message.targets(apicID: 9, logicalID: 0b0000_0100, clusterModel: false))
        #expect(!message.targets(apicID: 1, logicalID: 0b0000_0001, clusterModel: false))
    }

    @Test func logicalClusterDestinationsMatchClusterAndMember() {
        let message = MSIMessage(vector: 0x30, destination: 0x23, logical: true)
        #expect(message.targets(apicID: 0, logicalID: 0x21, clusterModel: true))
        #expect(message.targets(apicID: 0, logicalID: 0x22, clusterModel: true))
        #expect(!message.targets(apicID: 0, logicalID: 0x24, clusterModel: true))
        #expect(!message.targets(apicID: 0, logicalID: 0x11, clusterModel: true))
        let broadcast = MSIMessage(vector: 0x30, destination: 0xF1, logical: true)
        #expect(broadcast.targets(apicID: 0, logicalID: 0x51, clusterModel: true))
    }
}
