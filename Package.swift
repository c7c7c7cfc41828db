// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Hyve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hyve", targets: ["hyve"]),
        .executable(name: "hyvectl", targets: ["hyvectl"]),
        .library(name: "Hyve", targets: ["Hyve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CKVM"),
        .target(name: "KVM", dependencies: ["CKVM"]),
        .target(name: "VMM", dependencies: ["KVM", "CKVM"]),
        .target(name: "Devices", dependencies: ["VMM"]),
        .target(name: "Firmware"),
        .target(name: "Boot", dependencies: ["KVM"]),
        .target(name: "HyveControl"),
        .target(name: "Hyve", dependencies: ["KVM", "VMM", "Devices", "Firmware", "Boot", "HyveControl"]),
        .executableTarget(
            name: "hyve",
            dependencies: ["Hyve", "HyveControl", "VMM", "KVM", "Boot", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "hyvectl",
            dependencies: ["Hyve", "HyveControl", "KVM"]
        ),
        .target(name: "TestSupport", dependencies: ["Hyve", "VMM", "KVM", "Boot"], path: "Tests/Support"),
        .testTarget(name: "KVMTests", dependencies: ["KVM", "TestSupport"]),
        .testTarget(name: "VMMTests", dependencies: ["VMM", "KVM", "TestSupport"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "VMM", "TestSupport"]),
        .testTarget(name: "BootTests", dependencies: ["Boot", "KVM"]),
        .testTarget(name: "FirmwareTests", dependencies: ["Firmware"]),
        .testTarget(name: "HyveControlTests", dependencies: ["HyveControl"]),
        .testTarget(name: "HyveTests", dependencies: ["Hyve", "HyveControl", "VMM", "KVM", "Boot", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
