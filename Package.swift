// swift-tools-version:6.0
import PackageDescription

// Host products (genid-lab, and later genidd/genidctl) build normally.
// Guest products (sysgenidd) are built with --static-swift-stdlib into
// .build-guest and must not import Foundation: every megabyte lands in the
// guest initramfs.
let package = Package(
    name: "genid",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "genid-lab", targets: ["genid-lab"]),
        .executable(name: "sysgenidd", targets: ["sysgenidd"]),
        .library(name: "VMGenID", targets: ["VMGenID"]),
        .library(name: "QMP", targets: ["QMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The 16-byte value, its byte orders, and the ACPI tables that locate it.
        // Pure Swift, no Foundation: the guest agent links it too.
        .target(name: "VMGenID"),
        // Line protocol between the lab (host) and the guest agent. No Foundation.
        .target(name: "AgentProtocol"),
        .target(
            name: "QMP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "GenIDLab",
            dependencies: [
                "VMGenID", "AgentProtocol", "QMP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "genid-lab",
            dependencies: [
                "GenIDLab", "VMGenID",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "sysgenidd", dependencies: ["VMGenID", "AgentProtocol"]),

        .testTarget(name: "VMGenIDTests", dependencies: ["VMGenID"]),
        .testTarget(name: "AgentProtocolTests", dependencies: ["AgentProtocol"]),
        .testTarget(
            name: "QMPTests",
            dependencies: [
                "QMP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "GenIDLabTests", dependencies: ["GenIDLab"]),
        .testTarget(name: "LabIntegrationTests", dependencies: ["GenIDLab"]),
    ]
)
