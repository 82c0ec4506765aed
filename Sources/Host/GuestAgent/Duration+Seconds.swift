extension Duration {
    /// Seconds as a Double, for messages and reports.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
