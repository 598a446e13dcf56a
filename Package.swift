// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Huddle",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "huddled", targets: ["huddled"]),
        .executable(name: "huddle", targets: ["huddle"]),
        .executable(name: "huddle-decision-bench", targets: ["huddle-decision-bench"]),
        .executable(name: "huddle-commit-bench", targets: ["huddle-commit-bench"]),
        .library(name: "HuddleProtocol", targets: ["HuddleProtocol"]),
        .library(name: "HuddleCore", targets: ["HuddleCore"]),
        .library(name: "HuddleStore", targets: ["HuddleStore"]),
        .library(name: "HuddleServer", targets: ["HuddleServer"]),
        .library(name: "HuddleClient", targets: ["HuddleClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // No default traits: they pull swift-configuration and full Foundation, which Huddle does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Outbound notices (SPEC §12): the Swift server ecosystem's HTTP client.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(name: "HuddleProtocol"),
        .target(name: "HuddleFraming", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // The few libc calls Swift's Glibc module does not expose (malloc_trim).
        .target(name: "CHuddleSystem"),
        .target(name: "HuddleCore", dependencies: ["HuddleProtocol"]),
        .target(
            name: "HuddleStore",
            dependencies: [
                "HuddleCore", "HuddleProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "HuddleServer",
            dependencies: [
                "HuddleCore", "HuddleProtocol", "HuddleStore", "HuddleFraming", "CHuddleSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The wallboard's page and assets, compiled into the binary (SPEC §11: served by the
            // daemon itself, nothing fetched from elsewhere).
            resources: [
                .embedInCode("Board/board.html"), .embedInCode("Board/login.html"),
                .embedInCode("Board/board.css"), .embedInCode("Board/board.js"),
            ]),
        .target(
            name: "HuddleClient",
            dependencies: [
                "HuddleProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .executableTarget(
            name: "huddled",
            dependencies: [
                "HuddleServer", "HuddleStore", "HuddleCore", "HuddleProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "huddle",
            dependencies: [
                "HuddleClient", "HuddleProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        // The coverage rules' cost, in HuddleCore alone (the network benchmarks are their own
        // package in Benchmarks/; this one needs the core and nothing else).
        .executableTarget(name: "huddle-decision-bench", dependencies: ["HuddleCore", "HuddleProtocol"], path: "Benchmarks/Decision"),
        // The commit path's cost in HuddleStore alone: SQLite through GRDB, no sockets.
        .executableTarget(
            name: "huddle-commit-bench", dependencies: ["HuddleStore", "HuddleCore", "HuddleProtocol"], path: "Benchmarks/Commit"),
        // Fuzz targets: `swift build --product NAME -Xswiftc -DFUZZING --sanitize=fuzzer --sanitize=address`
        // makes a libFuzzer binary; a plain build makes a replayer of the corpus (see Fuzz/README.md).
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "FrameFuzzer", dependencies: ["FuzzSupport", "HuddleFraming", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")], path: "Fuzz/FrameFuzzer"),
        .executableTarget(name: "RequestFuzzer", dependencies: ["FuzzSupport", "HuddleProtocol"], path: "Fuzz/RequestFuzzer"),
        .executableTarget(name: "PolicyFuzzer", dependencies: ["FuzzSupport", "HuddleProtocol"], path: "Fuzz/PolicyFuzzer"),
        .testTarget(name: "HuddleProtocolTests", dependencies: ["HuddleProtocol"]),
        .testTarget(name: "HuddleCoreTests", dependencies: ["HuddleCore"]),
        .testTarget(
            name: "HuddleStoreTests", dependencies: ["HuddleStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HuddleClientTests", dependencies: ["HuddleClient", "HuddleProtocol"]),
        .testTarget(
            name: "HuddleServerTests",
            dependencies: [
                "HuddleServer", "HuddleClient", "HuddleFraming", "HuddleProtocol", "HuddleStore", "CHuddleSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]),
        .testTarget(
            name: "HuddleEndToEndTests",
            dependencies: [
                "HuddleClient", "HuddleProtocol", "huddled", "huddle",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ]),
    ]
)
