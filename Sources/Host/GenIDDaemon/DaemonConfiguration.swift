import Foundation
import GenIDControl
import GenerationStore

/// genidd's settings: a JSON file (default /etc/genid/genidd.json), every
/// key optional; command-line options override it. Unknown keys are an
/// error, so a typo does not silently fall back to a default.
///
///     {
///       "libvirtURI": "qemu:///system",
///       "ledger": "/var/lib/genid/ledger.sqlite",
///       "controlSocket": "/run/genid/genidd.sock",
///       "controlGroup": "genid",
///       "readOnlyGroup": "genid-read",
///       "metricsAddress": "127.0.0.1:9471",
///       "agentChannel": "org.genid.genidd.0",
///       "readinessTimeoutSeconds": 60,
///       "reconnectSeconds": 2,
///       "logLevel": "info"
///     }
public struct DaemonConfiguration: Codable, Sendable, Equatable {
    public static let defaultPath = "/etc/genid/genidd.json"

    public var libvirtURI = "qemu:///system"
    public var ledger = LedgerLocation.default
    public var controlSocket = ControlClient.defaultSocketPath
    /// Members of this group may use every control command besides root
    /// (the operator role); nil: root only.
    public var controlGroup: String?
    /// Members of this group may use `status`, `history` and `wait-ready`
    /// (the reader role); nil: nobody but root and the control group.
    public var readOnlyGroup: String?
    /// `HOST:PORT` of the Prometheus endpoint (`GET /metrics`); nil: none.
    public var metricsAddress: String? = "127.0.0.1:9471"
    /// virtio-serial channel (target name) of the guest agent genidd asks.
    public var agentChannel = "org.genid.genidd.0"
    public var readinessTimeoutSeconds = 60.0
    /// Pause between attempts to reach libvirtd.
    public var reconnectSeconds = 2.0
    public var logLevel = "info"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case libvirtURI, ledger, controlSocket, controlGroup, readOnlyGroup, metricsAddress, agentChannel
        case readinessTimeoutSeconds, reconnectSeconds, logLevel
    }

    public init(from decoder: any Decoder) throws {
        let defaults = DaemonConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        libvirtURI = try container.decodeIfPresent(String.self, forKey: .libvirtURI) ?? defaults.libvirtURI
        ledger = try container.decodeIfPresent(String.self, forKey: .ledger) ?? defaults.ledger
        controlSocket = try container.decodeIfPresent(String.self, forKey: .controlSocket) ?? defaults.controlSocket
        controlGroup = try container.decodeIfPresent(String.self, forKey: .controlGroup)
        readOnlyGroup = try container.decodeIfPresent(String.self, forKey: .readOnlyGroup)
        metricsAddress = container.contains(.metricsAddress)
            ? try container.decodeIfPresent(String.self, forKey: .metricsAddress) : defaults.metricsAddress
        agentChannel = try container.decodeIfPresent(String.self, forKey: .agentChannel) ?? defaults.agentChannel
        readinessTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .readinessTimeoutSeconds)
            ?? defaults.readinessTimeoutSeconds
        reconnectSeconds = try container.decodeIfPresent(Double.self, forKey: .reconnectSeconds) ?? defaults.reconnectSeconds
        logLevel = try container.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
    }

    /// Reads `path`. A missing file at the default path means "all defaults";
    /// a missing file named explicitly is an error.
    public static func load(path: String?) throws(DaemonError) -> DaemonConfiguration {
        let file = path ?? defaultPath
        guard let data = FileManager.default.contents(atPath: file) else {
            if path == nil { return DaemonConfiguration() }
            throw .configuration("cannot read \(file)")
        }
        return try parse(data, source: file)
    }

    public static func parse(_ data: Data, source: String) throws(DaemonError) -> DaemonConfiguration {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw .configuration("\(source) is not valid JSON: \(error.localizedDescription)")
        }
        guard let keys = (object as? [String: Any])?.keys else {
            throw .configuration("\(source) must hold one JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = keys.sorted().first(where: { !known.contains($0) }) {
            throw .configuration("\(source): unknown key '\(unknown)'; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let configuration: DaemonConfiguration
        do {
            configuration = try JSONDecoder().decode(DaemonConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw .configuration("\(source): \(Self.explain(error))")
        } catch {
            throw .configuration("\(source): \(error.localizedDescription)")
        }
        try configuration.validate(source: source)
        return configuration
    }

    /// Which key, and what was wrong with it.
    static func explain(_ error: DecodingError) -> String {
        func key(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "'\(key(context))' must be a \(type)"
        case .valueNotFound(let type, let context): return "'\(key(context))' must be a \(type), not null"
        case .keyNotFound(let missing, _): return "'\(missing.stringValue)' is missing"
        case .dataCorrupted(let context): return "'\(key(context))': \(context.debugDescription)"
        @unknown default: return "cannot decode"
        }
    }

    public func validate(source: String) throws(DaemonError) {
        // Bounded, so that no setting overflows when it becomes a Duration.
        let hour = ControlLimits.maximumWaitSeconds
        guard readinessTimeoutSeconds > 0, readinessTimeoutSeconds <= hour else {
            throw .configuration("\(source): readinessTimeoutSeconds must be more than 0 and at most \(Int(hour))")
        }
        guard reconnectSeconds > 0, reconnectSeconds <= hour else {
            throw .configuration("\(source): reconnectSeconds must be more than 0 and at most \(Int(hour))")
        }
        if let metricsAddress, MetricsEndpoint(metricsAddress) == nil {
            throw .configuration("\(source): metricsAddress '\(metricsAddress)' is not HOST:PORT")
        }
        guard parseLogLevel(logLevel) != nil else {
            throw .configuration("\(source): logLevel '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }
}

/// `HOST:PORT`, split.
public struct MetricsEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port), colon > text.startIndex else { return nil }
        host = String(text[..<colon])
        self.port = port
    }
}

extension DaemonConfiguration {
    /// `readinessTimeoutSeconds` (bounded by `validate`).
    var readinessTimeout: Duration { .milliseconds(Int64((readinessTimeoutSeconds * 1000).rounded(.up))) }

    /// The effective configuration, as the file would hold it, but with the
    /// ledger URL's password shown as `***`: the output is for people and logs.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var shown = self
        shown.ledger = LedgerURLPassword.redacting(ledger)
        return String(decoding: try encoder.encode(shown), as: UTF8.self)
    }
}
