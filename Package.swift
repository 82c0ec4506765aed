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
        .executable(name: "genidctl", targets: ["genidctl"]),
        .executable(name: "genidd", targets: ["genidd"]),
        .executable(name: "sysgenidd", targets: ["sysgenidd"]),
        .executable(name: "sysgenidctl", targets: ["sysgenidctl"]),
        .library(name: "SysGenID", targets: ["SysGenID"]),
        .library(name: "VMGenID", targets: ["VMGenID"]),
        .library(name: "QMP", targets: ["QMP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
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
        // Host end of the guest agent's virtio-serial channel (lab and genidd).
        .target(
            name: "GuestAgent",
            dependencies: [
                "AgentProtocol", "QMP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Every value ever given to every VM (SQLite).
        .target(name: "GenerationLedger", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // Host side: attach to a QEMU (QMP + guest memory) and rotate its value
        // at every state load. Used by genidctl, genidd and the lab.
        .target(
            name: "GenIDHost",
            dependencies: [
                "VMGenID", "QMP", "GenerationLedger",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // genidd's control socket protocol, and the client genidctl uses.
        .target(name: "GenIDControl"),
        // genidd: libvirt supervisor, policy execution, readiness gate,
        // control socket, metrics. The executable only parses options.
        .target(
            name: "GenIDDaemon",
            dependencies: [
                "GenIDHost", "GenIDPolicy", "GenIDControl", "GenerationLedger", "GuestAgent", "AgentProtocol",
                "Libvirt", "QMP", "VMGenID",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "genidd",
            dependencies: ["GenIDDaemon", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "GenIDDaemonTests", dependencies: ["GenIDDaemon", "GenIDControl"]),
        .executableTarget(
            name: "genidctl",
            dependencies: [
                "GenIDHost", "VMGenID", "QMP", "GenerationLedger", "GenIDControl", "Libvirt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Guest library over /dev/sysgenid and the userspace provider. No Foundation.
        .target(name: "SysGenID"),
        // libvirt 9.0 (libvirt-dev): the C API, a Swift wrapper over it, and the
        // genidd event -> action policy (pure, no libvirt).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .target(name: "Libvirt", dependencies: ["CLibvirt"]),
        .target(name: "GenIDPolicy"),
        .testTarget(name: "LibvirtTests", dependencies: ["Libvirt", "CLibvirt"]),
        .testTarget(name: "GenIDPolicyTests", dependencies: ["GenIDPolicy"]),
        .executableTarget(name: "sysgenidctl", dependencies: ["SysGenID"]),
        .target(
            name: "GenIDLab",
            dependencies: [
                "VMGenID", "AgentProtocol", "QMP", "GenIDHost", "GenerationLedger", "GuestAgent", "GenIDControl", "Libvirt",
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
        .executableTarget(name: "sysgenidd", dependencies: ["VMGenID", "AgentProtocol", "SysGenID"]),

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
        .testTarget(name: "GenerationLedgerTests", dependencies: ["GenerationLedger"]),
        .testTarget(name: "GenIDHostTests", dependencies: ["GenIDHost", "VMGenID"]),
        .testTarget(name: "SysGenIDTests", dependencies: ["SysGenID"]),
        .testTarget(name: "LabIntegrationTests", dependencies: ["GenIDLab", "GenerationLedger", "GuestAgent"]),
    ]
)
