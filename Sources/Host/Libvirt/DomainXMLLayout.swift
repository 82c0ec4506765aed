/// Where the root element's children sit in the text of a well-formed XML
/// document, as UTF-8 offsets: enough to replace, remove or insert one
/// child without parsing the document into a tree (`DomainXML.settingGenID`).
///
/// Markup is ASCII, so the scan walks bytes. It knows comments, CDATA
/// sections, processing instructions, quoted attribute values (which may
/// hold `>`), empty-element tags and end tags; text between tags never
/// holds a `<`. A document type declaration is refused: libvirt never
/// writes one, and its internal subset would need more than this.
struct DomainXMLLayout {
    struct Child {
        /// The element's name as written (with its prefix, if any).
        let name: String
        /// From its `<` to the `>` that ends it.
        let range: Range<Int>
    }

    private(set) var children: [Child] = []
    /// Just after the root's start tag.
    private(set) var contentStart = 0

    init(_ xml: String) throws(LibvirtError) {
        let bytes = Array(xml.utf8)
        var index = 0, depth = 0
        var open: (name: String, start: Int)?
        func find(_ marker: String, from start: Int) throws(LibvirtError) -> Int {
            let pattern = Array(marker.utf8)
            var at = start
            while at + pattern.count <= bytes.count {
                if bytes[at..<at + pattern.count].elementsEqual(pattern) { return at + pattern.count }
                at += 1
            }
            throw DomainXML.invalid("the domain XML ends inside markup (no '\(marker)')")
        }
        func startsWith(_ marker: String, at position: Int) -> Bool {
            bytes[position...].starts(with: marker.utf8)
        }
        while let less = bytes[index...].firstIndex(of: UInt8(ascii: "<")) {
            if startsWith("<!--", at: less) {
                index = try find("-->", from: less + 4)
            } else if startsWith("<![CDATA[", at: less) {
                index = try find("]]>", from: less + 9)
            } else if startsWith("<?", at: less) {
                index = try find("?>", from: less + 2)
            } else if startsWith("<!", at: less) {
                throw DomainXML.invalid("the domain XML has a document type declaration")
            } else if startsWith("</", at: less) {
                index = try find(">", from: less + 2)
                depth -= 1
                if depth == 1, let element = open {
                    children.append(Child(name: element.name, range: element.start..<index))
                    open = nil
                }
            } else {
                index = try Self.endOfStartTag(bytes, from: less + 1)
                let name = String(decoding: bytes[(less + 1)...].prefix { !Self.endsName($0) }, as: UTF8.self)
                let empty = bytes[index - 2] == UInt8(ascii: "/")
                if depth == 0 { contentStart = index }
                if depth == 1 {
                    if empty { children.append(Child(name: name, range: less..<index)) } else { open = (name, less) }
                }
                if !empty { depth += 1 }
            }
        }
    }

    private static func endsName(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">")
    }

    /// Just after the `>` of a start tag whose name begins at `start`,
    /// passing over quoted attribute values.
    private static func endOfStartTag(_ bytes: [UInt8], from start: Int) throws(LibvirtError) -> Int {
        var quote: UInt8?
        for index in start..<bytes.count {
            let byte = bytes[index]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: ">") {
                return index + 1
            }
        }
        throw DomainXML.invalid("the domain XML ends inside a start tag")
    }
}
