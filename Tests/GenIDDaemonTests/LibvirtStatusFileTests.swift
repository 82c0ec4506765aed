import Testing
@testable import GenIDDaemon

@Suite struct LibvirtStatusFileTests {
    @Test func theDomainsPrivateDirectoryIsItsLibDir() {
        let status = """
            <domstatus state='running' reason='booted' pid='4242'>
              <monitor path='/var/lib/libvirt/qemu/domain-3-guest/monitor.sock' type='unix'/>
              <libDir path='/var/lib/libvirt/qemu/domain-3-guest'/>
              <channelTargetDir path='/var/lib/libvirt/qemu/channel/target/domain-3-guest'/>
            """
        #expect(LibvirtStatusFile.libDirectory(in: status) == "/var/lib/libvirt/qemu/domain-3-guest")
        #expect(LibvirtStatusFile.libDirectory(in: #"<libDir path="/run/x"/>"#) == "/run/x")
    }

    @Test func anythingButAPlainAbsolutePathIsNone() {
        for status in ["<domstatus/>", "<libDir path='relative'/>", "<libDir path='/a/../etc'/>",
                       "<libDir path='/a&amp;b'/>", "<libDir path='/unterminated", "<libDir path=/x/>"] {
            #expect(LibvirtStatusFile.libDirectory(in: status) == nil, "\(status)")
        }
    }
}
