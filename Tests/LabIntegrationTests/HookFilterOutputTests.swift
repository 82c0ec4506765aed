import Foundation
import Testing

extension LabIntegration {
    /// The hook's filters print a definition that libvirt reads back: it must
    /// come out byte for byte, not escaped for a terminal.
    @Suite struct HookFilterOutputTests {
        @Test func restoreXMLPrintsTheDefinitionUnescaped() async throws {
            let override = "<qemu:override><qemu:device alias='vmgenid0'><qemu:frontend>"
                + "<qemu:property name='guid' type='string' value='0d4c1e9f-3b7a-4c2e-8f10-6a5b4c3d2e1f'/>"
                + "</qemu:frontend></qemu:device></qemu:override>"
            let definition = """
                <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <name>web</name>
                  <description>C:\\images\\web\ttabbed</description>
                  <genid>5a67d7c6-9ab9-449b-a758-be75b197648d</genid>
                  <devices><emulator>/usr/bin/qemu</emulator></devices>
                  \(override)
                </domain>
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: LabProcess.binary("genidctl"))
            process.arguments = ["libvirt", "restore-xml"]
            let (input, output) = (Pipe(), Pipe())
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(definition.utf8))
            try input.fileHandleForWriting.close()
            let printed = await offCooperativePool {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: data, as: UTF8.self)
            }
            #expect(process.terminationStatus == 0)
            #expect(!printed.contains("override"), "\(printed)")
            #expect(printed.contains("<description>C:\\images\\web\ttabbed</description>"), "\(printed)")
            #expect(printed.split(separator: "\n").count > 3, "the definition's lines were joined: \(printed)")
        }
    }
}
